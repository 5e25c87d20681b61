"""Telling that a demo container failed because another process took its port.

The services use host networking, so a port that another process takes between
``demo up`` choosing it and the container binding it stops the container: PostgreSQL
logs ``could not bind IPv4 address "127.0.0.1": Address already in use`` and exits.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from opscheck.demo.containers import service_container
from opscheck.demo.ports import is_free

BIND_FAILED = "Address already in use"
# How many of a container's last log lines are searched for a bind failure.
TAIL_LINES = 50
# The names in the ports map that belong to each service.
SERVICE_PORTS = {
    "backend": ("backend", "backend_cgi"),
    "frontend": ("frontend", "frontend_cgi"),
    "nginx": ("nginx", "nginx_tls"),
    "db": ("db",),
}


def service_of(port_name: str) -> str:
    """Return the service that listens on the port called ``port_name``."""
    for service, names in SERVICE_PORTS.items():
        if port_name in names:
            return service
    raise KeyError(port_name)


def holds_its_ports(container: Container | None) -> bool:
    """Tell whether ``container`` runs and has bound its ports.

    A container in a restart loop is briefly running between its attempts, so one
    whose last log lines show a bind failure does not count as holding them.
    """
    if container is None or container.status != "running":
        return False
    try:
        tail = container.logs(tail=TAIL_LINES)
    except docker.errors.NotFound:
        return False
    return BIND_FAILED.encode() not in tail


def taken_port_message(
    client: docker.DockerClient,
    services: list[str],
    ports: dict[str, int],
    *,
    since: datetime,
    root: Path,
) -> str | None:
    """Return one line naming the taken port when a service's log shows a bind failure.

    Only log lines written from ``since`` on are read, so a failure of an earlier
    ``demo up`` is not reported again.
    """
    for service in services:
        container = service_container(client, service)
        if container is None:
            continue
        try:
            log = container.logs(tail=TAIL_LINES, since=since)
        except docker.errors.NotFound:
            continue
        if BIND_FAILED.encode() not in log:
            continue

        names = SERVICE_PORTS.get(service, ())
        busy_ports = [ports[name] for name in names if not is_free(ports[name])]
        named_ports = busy_ports or [ports[name] for name in names]
        listed = " or ".join(f"127.0.0.1:{port}" for port in named_ports)
        return (
            f"port {listed} of {service} is taken by another process (the {service} "
            f"container logged '{BIND_FAILED}'); run 'opscheck demo down --dir {root}' "
            f"then 'opscheck demo up --dir {root}', which chooses another port"
        )
    return None
