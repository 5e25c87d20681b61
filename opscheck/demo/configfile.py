"""The opscheck config that points at a running demo stack."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from opscheck.config.model import Config
from opscheck.demo.compose import DB_CONTAINER, SERVICES
from opscheck.demo.layout import DB_NAME, DB_USER, PROJECT, DemoDir

DEFAULT_PATH = Path("opscheck-demo.yaml")


def _relative(path: Path, base: Path) -> str:
    """Return ``path`` relative to ``base`` when it is inside, else absolute."""
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def render(
    demo: DemoDir, ports: dict[str, int], base: Path, docker_host: str | None
) -> str:
    """Return the config as YAML text, validated against the config model."""
    data: dict[str, Any] = {
        "compose": {
            "project": PROJECT,
            "services": list(SERVICES),
            "file": _relative(demo.compose_file, base),
        },
    }
    if docker_host:
        data["docker"] = {"host": docker_host}
    data["endpoints"] = {
        name: {"url": f"http://127.0.0.1:{ports[name]}/api/health", "service": name}
        for name in ("backend", "frontend")
    }
    data["database"] = {
        "host": "127.0.0.1",
        "port": ports["db"],
        "name": DB_NAME,
        "user": DB_USER,
        # Interpolated by opscheck from the environment or the .env file below.
        "password": "${POSTGRES_PASSWORD}",
        "sslmode": "disable",
    }
    data["backups"] = {
        "path": _relative(demo.backups, base),
        "timezone": "UTC",
        # The dump holds CREATE EXTENSION pg_stat_statements, which only a superuser
        # may run, so the restore test runs psql in the container as postgres, whom
        # the container's local socket trusts.
        "restore": {
            "method": "docker-exec",
            "container": DB_CONTAINER,
            "user": "postgres",
        },
    }
    data["logs"] = {"access_log": _relative(demo.access_log, base)}
    data["secrets"] = {"env_file": _relative(demo.env_file, base)}
    # nginx serves HTTPS with a certificate of the demo's own CA (opscheck.demo.tls).
    data["tls"] = [
        {
            "host": "127.0.0.1",
            "port": ports["nginx_tls"],
            "server_name": "localhost",
            "ca_file": str(demo.root / "tls" / "ca.pem"),
        }
    ]

    Config.model_validate(data)
    header = "# opscheck config for the demo stack, written by 'opscheck demo up'.\n"
    return header + yaml.safe_dump(data, sort_keys=False)


def write(
    path: Path, demo: DemoDir, ports: dict[str, int], docker_host: str | None
) -> Path:
    """Write the config file and return its absolute path."""
    target = path.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(demo, ports, target.parent, docker_host))
    return target


def environment_docker_host() -> str | None:
    """Return DOCKER_HOST when it is set."""
    return os.environ.get("DOCKER_HOST") or None
