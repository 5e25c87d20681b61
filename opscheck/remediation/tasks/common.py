"""Helpers shared by the remediation tasks: argument parsing, output, connections.

A task prints one line per action to standard output (the runner records it, with
secrets removed) and returns its exit status: 0 done, 1 failed, 2 invalid arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

EXIT_DONE = 0
EXIT_FAILED = 1


def say(message: str) -> None:
    """Print one line of the task's output at once, so a timeout keeps what came before."""
    print(message, flush=True)


def fail(message: str) -> int:
    """Print ``message`` to standard error and return the failed exit status."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return EXIT_FAILED


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the connection arguments that the runner passes to database tasks."""
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--sslmode", default="prefer")
    parser.add_argument("--connect-timeout", type=int, default=5)


def connect(arguments: argparse.Namespace, application: str) -> Any:
    """Open an autocommit psycopg connection; the password comes from $PGPASSWORD."""
    import psycopg

    return psycopg.connect(
        host=arguments.host,
        port=arguments.port,
        dbname=arguments.database,
        user=arguments.user,
        password=os.environ.get("PGPASSWORD") or None,
        sslmode=arguments.sslmode,
        connect_timeout=arguments.connect_timeout,
        application_name=application,
        autocommit=True,
    )


def docker_client() -> Any:
    """Return a docker SDK client for $DOCKER_HOST."""
    import docker

    address = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return docker.DockerClient(base_url=address, version="auto", timeout=60)


def compose_filters(project: str, service: str | None = None) -> dict[str, list[str]]:
    """Return the label filters that select a compose project's (service's) containers."""
    labels = [f"com.docker.compose.project={project}"]
    if service is not None:
        labels.append(f"com.docker.compose.service={service}")
    return {"label": labels}
