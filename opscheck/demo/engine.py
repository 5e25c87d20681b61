"""Connecting to the Docker engine that runs the demo stack."""

from __future__ import annotations

import os

import docker
import docker.errors
import requests.exceptions

from opscheck.errors import DemoError
from opscheck.log import logger

DEFAULT_HOST = "unix:///var/run/docker.sock"
PING_TIMEOUT_S = 5


def engine_host(explicit: str | None = None) -> str:
    """Return the Docker host URL: explicit, else DOCKER_HOST, else the socket."""
    return explicit or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def connect(host: str | None = None, timeout: int = 60) -> docker.DockerClient:
    """Connect to the Docker engine and ping it; raise DemoError when none answers."""
    url = engine_host(host)
    socket_path = url.removeprefix("unix://") if url.startswith("unix://") else None
    if socket_path is not None and not os.path.exists(socket_path):
        raise DemoError(_not_running(url, "the socket does not exist"))

    try:
        client = docker.DockerClient(base_url=url, timeout=PING_TIMEOUT_S)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DemoError(_not_running(url, type(exc).__name__)) from exc

    logger.info("connected to the Docker engine at %s", url)
    client.api.timeout = timeout
    return client


def _not_running(url: str, reason: str) -> str:
    return (
        f"no Docker engine answers at {url} ({reason}); start one with "
        "'dockerd --bridge=none --iptables=false --ip-masq=false &' or "
        "scripts/setup.sh, or point DOCKER_HOST at a running engine"
    )
