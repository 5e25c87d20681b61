"""restart-service: restart one compose service's containers and wait until healthy.

Containers are chosen by both compose labels (project and service), so no other
service or project is touched.
"""

from __future__ import annotations

import argparse
import time

from opscheck.remediation.tasks.common import (
    EXIT_DONE,
    compose_filters,
    docker_client,
    fail,
    say,
)

POLL_INTERVAL_S = 1.0
STOP_TIMEOUT_S = 10


def _health(container: object) -> str:
    container.reload()  # type: ignore[attr-defined]
    state = container.attrs["State"]  # type: ignore[attr-defined]
    if state.get("Status") != "running":
        return str(state.get("Status"))
    health = state.get("Health")
    return str(health.get("Status")) if health else "running"


def main(argv: list[str]) -> int:
    """Restart the service named in ``argv`` and wait for it to be healthy."""
    parser = argparse.ArgumentParser(prog="restart-service")
    parser.add_argument("--project", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--healthy-timeout", type=float, default=120.0)
    arguments = parser.parse_args(argv)

    client = docker_client()
    filters = compose_filters(arguments.project, arguments.service)
    containers = client.containers.list(all=True, filters=filters)
    if not containers:
        return fail(
            f"service {arguments.service} of project {arguments.project} has no "
            "container to restart; create it with 'docker-compose up -d'"
        )

    for container in containers:
        say(f"restarting container {container.name} ({container.short_id})")
        container.restart(timeout=STOP_TIMEOUT_S)

    deadline = time.monotonic() + arguments.healthy_timeout
    while True:
        states = {container.name: _health(container) for container in containers}
        if all(state in ("healthy", "running") for state in states.values()):
            for name, state in states.items():
                say(f"container {name} is {state}")
            return EXIT_DONE
        if time.monotonic() >= deadline:
            shown = ", ".join(f"{name}: {state}" for name, state in states.items())
            return fail(
                f"service {arguments.service} is not healthy "
                f"{arguments.healthy_timeout:g} s after the restart ({shown})"
            )
        time.sleep(POLL_INTERVAL_S)
