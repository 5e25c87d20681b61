"""Docker SDK helpers for the demo's containers: find, exec and wait."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import docker
import docker.errors
from docker.models.containers import Container

from opscheck.demo.compose import command_failed
from opscheck.demo.layout import PROJECT
from opscheck.errors import DemoError
from opscheck.log import logger


def service_container(client: docker.DockerClient, service: str) -> Container | None:
    """Return the container of a compose service of the demo project, running or not."""
    labels = [
        f"com.docker.compose.project={PROJECT}",
        f"com.docker.compose.service={service}",
    ]
    found = client.containers.list(all=True, filters={"label": labels})
    return found[0] if found else None


def require_container(client: docker.DockerClient, service: str) -> Container:
    """Return the container of a service; raise DemoError when it does not exist."""
    container = service_container(client, service)
    if container is None:
        raise DemoError(
            f"service {service} of project {PROJECT} has no container; "
            "run 'opscheck demo up' first"
        )
    return container


def health(container: Container) -> str:
    """Return 'healthy', 'unhealthy', 'starting', or the state when not running."""
    container.reload()
    state = container.attrs["State"]
    if state.get("Status") != "running":
        return str(state.get("Status"))
    return str(state.get("Health", {}).get("Status", "running"))


def exec_command(
    container: Container, command: list[str], *, detach: bool = False, user: str = ""
) -> str:
    """Run a command in a container; raise DemoError with its stderr when it fails."""
    logger.info("running in %s: %s", container.name, " ".join(command))
    result = container.exec_run(command, demux=True, detach=detach, user=user)
    if detach:
        return ""
    stdout, stderr = result.output or (None, None)
    if result.exit_code != 0:
        shown = ["docker", "exec", container.name or "", *command]
        raise DemoError(
            command_failed(
                shown, result.exit_code, (stderr or b"").decode(errors="replace")
            )
        )
    return (stdout or b"").decode(errors="replace")


def stream_exec(
    client: docker.DockerClient, container: Container, command: list[str]
) -> Iterator[bytes]:
    """Yield the standard output of a command in a container; raise when it fails."""
    logger.info("running in %s: %s", container.name, " ".join(command))
    exec_id = client.api.exec_create(container.id, command)["Id"]
    errors: list[bytes] = []
    for out, err in client.api.exec_start(exec_id, stream=True, demux=True):
        if err:
            errors.append(err)
        if out:
            yield out
    status = client.api.exec_inspect(exec_id)["ExitCode"]
    if status != 0:
        shown = ["docker", "exec", container.name or "", *command]
        raise DemoError(
            command_failed(shown, status, b"".join(errors).decode(errors="replace"))
        )


def wait_for(
    condition: Callable[[], bool],
    *,
    what: str,
    timeout_s: float,
    interval_s: float = 0.5,
) -> None:
    """Poll ``condition`` until it holds; raise DemoError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except docker.errors.NotFound:
            pass
        if time.monotonic() >= deadline:
            raise DemoError(
                f"timed out after {timeout_s:.0f} s waiting until {what}; "
                "see 'opscheck demo status' and the container logs"
            )
        time.sleep(interval_s)
