"""The targets a check runs once for, by the kind its declaration names."""

from __future__ import annotations

import socket
from collections.abc import Callable

from opscheck.config.model import Config

DOCKER_ROOT = "docker-data-root"


def _services(config: Config) -> list[str]:
    return list(config.compose.services)


def _endpoints(config: Config) -> list[str]:
    return list(config.endpoints)


def _paths(config: Config) -> list[str]:
    paths = [str(path) for path in config.disk.paths]
    if config.disk.include_docker_root:
        # Resolved to the engine's data root when the check runs, so listing checks
        # never needs the engine.
        paths.append(DOCKER_ROOT)
    return paths


def _tls(config: Config) -> list[str]:
    labels = []
    for entry in config.tls:
        if entry.file is not None:
            labels.append(str(entry.file))
        else:
            labels.append(f"{entry.host}:{entry.port}")
    return labels


TARGETS: dict[str, Callable[[Config], list[str]]] = {
    "service": _services,
    "endpoint": _endpoints,
    "path": _paths,
    "folder": lambda config: [str(config.backups.path)],
    "database": lambda config: [config.database.name],
    "table": lambda config: [config.database.name],
    "host": lambda config: [socket.gethostname()],
    "image": _services,
    "log": lambda config: [str(config.logs.access_log)],
    "file": lambda config: [str(config.secrets.env_file)],
    "item": lambda config: list(config.deploy.attestations),
    "tls": _tls,
}


def targets_for(kind: str, config: Config) -> list[str] | None:
    """Return the targets of a check kind, or None for a check that runs once (``gate``)."""
    provider = TARGETS.get(kind)
    return provider(config) if provider is not None else None
