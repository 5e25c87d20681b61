"""The demo's compose file and the docker-compose command that runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from opscheck import redaction
from opscheck.demo import images
from opscheck.demo.layout import PROJECT, DemoDir
from opscheck.errors import DemoError
from opscheck.log import logger

SERVICES = ("backend", "frontend", "nginx", "db")
BACKEND_CONTAINER = "taskmanagement_backend"
DB_CONTAINER = "taskmanagement_postgres"
# Succeeds once the real server has started; it never connects to one still starting.
DB_READY = "/app/ready.sh"
# A clean PATH without the project's virtualenv: Debian's docker-compose 1.29 runs on
# the system Python and fails when it imports docker SDK 7 from a virtualenv.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
COMMAND_TIMEOUT_S = 180
RESTART_LOOP_AFTER_S = 1


@dataclass(frozen=True)
class Variant:
    """Compose-level choices that faults make: image version, crashing or privileged service."""

    backend_version: str = images.WEB_VERSION
    restart_loop: str | None = None
    privileged: str | None = None


def _healthcheck(test: list[str]) -> dict[str, Any]:
    return {
        "test": test,
        "interval": "2s",
        "timeout": "2s",
        "retries": 2,
        "start_period": "20s",
    }


def _web_health(port: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/api/health"
    return _healthcheck(["CMD", "wget", "-q", "-O", "/dev/null", url])


# Every service gets memory and CPU limits, as the runbook's vertical scaling sets them.
WEB_MEMORY_LIMIT = "256m"
DB_MEMORY_LIMIT = "512m"
CPU_LIMIT = 1.0


def _common() -> dict[str, Any]:
    return {
        "network_mode": "host",
        "init": True,
        "restart": "unless-stopped",
        "mem_limit": WEB_MEMORY_LIMIT,
        "cpus": CPU_LIMIT,
    }


def render(demo: DemoDir, ports: dict[str, int], variant: Variant) -> str:
    """Return the compose file of the stack."""
    web: dict[str, dict[str, Any]] = {}
    for name in ("backend", "frontend"):
        version = variant.backend_version if name == "backend" else images.WEB_VERSION
        environment: dict[str, str] = {
            "SERVICE_NAME": name,
            "PORT": str(ports[name]),
            "CGI_PORT": str(ports[f"{name}_cgi"]),
        }
        if variant.restart_loop == name:
            environment["RESTART_AFTER"] = str(RESTART_LOOP_AFTER_S)
        web[name] = {
            **_common(),
            "image": images.web_image(name, version),
            "environment": environment,
            "healthcheck": _web_health(ports[name]),
        }
    web["backend"]["container_name"] = BACKEND_CONTAINER
    web["backend"]["env_file"] = [".env"]

    nginx = {
        **_common(),
        "image": images.web_image("nginx"),
        "command": ["/app/proxy.sh"],
        "environment": {
            "PORT": str(ports["nginx"]),
            "BACKEND_PORT": str(ports["backend"]),
            "FRONTEND_PORT": str(ports["frontend"]),
            "TLS_PORT": str(ports["nginx_tls"]),
        },
        "volumes": [
            f"{demo.nginx_logs}:/var/log/nginx",
            f"{demo.root / 'tls'}:/etc/nginx/tls:ro",
        ],
        "depends_on": ["backend", "frontend"],
        "healthcheck": _web_health(ports["nginx"]),
    }
    db = {
        **_common(),
        "image": images.db_image(),
        "container_name": DB_CONTAINER,
        "mem_limit": DB_MEMORY_LIMIT,
        "env_file": [".env"],
        "environment": {"PGPORT": str(ports["db"])},
        "volumes": ["pgdata:/var/lib/postgresql/data"],
        "healthcheck": _healthcheck(["CMD", DB_READY]),
    }
    services = {**web, "nginx": nginx, "db": db}
    if variant.privileged is not None:
        services[variant.privileged]["privileged"] = True
    document = {
        "version": "2.4",
        "services": services,
        "volumes": {"pgdata": {}},
    }
    header = "# Written by 'opscheck demo up'; it is rewritten on every run.\n"
    return header + yaml.safe_dump(document, sort_keys=False)


class Compose:
    """docker-compose, run as a subprocess on the demo's compose file."""

    def __init__(self, demo: DemoDir, docker_host: str | None) -> None:
        self.demo = demo
        self.docker_host = docker_host
        self._program = _find_program()

    def run(self, *arguments: str, timeout: float = COMMAND_TIMEOUT_S) -> str:
        """Run one compose command; raise DemoError with its stderr if it fails."""
        command = [
            *self._program,
            "--project-name",
            PROJECT,
            "--project-directory",
            str(self.demo.root),
            "--file",
            str(self.demo.compose_file),
            *arguments,
        ]
        logger.info("running %s", " ".join(command))
        try:
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=self._environment(),
                cwd=self.demo.root,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise DemoError(
                f"{' '.join(command)} timed out after {timeout:.0f} s; "
                "check the Docker engine with 'docker info'"
            ) from exc
        if result.returncode != 0:
            raise DemoError(command_failed(command, result.returncode, result.stderr))
        return result.stdout

    def _environment(self) -> dict[str, str]:
        environment = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
        for name in ("HOME", "TMPDIR"):
            if name in os.environ:
                environment[name] = os.environ[name]
        if self.docker_host:
            environment["DOCKER_HOST"] = self.docker_host
        return environment


def _find_program() -> Sequence[str]:
    program = shutil.which("docker-compose", path=SYSTEM_PATH)
    if program:
        return [program]
    docker = shutil.which("docker", path=SYSTEM_PATH)
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False, timeout=30
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    raise DemoError(
        "docker-compose not found on the system PATH; install it with "
        "'apt-get install -y docker-compose'"
    )


def command_failed(command: Sequence[str], status: int, stderr: str) -> str:
    """Return the message of a failed command with the tail of its stderr, redacted."""
    tail = redaction.current().text(stderr.strip()[-800:])
    return f"{' '.join(command)} failed with status {status}: {tail}"
