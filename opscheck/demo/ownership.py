"""Which demo folder started the stack on an engine.

The compose project name is fixed, so an engine runs one demo stack at a time, and
the containers and the database volume belong to whichever folder started them.
docker-compose records that folder in a label on every container.
"""

from __future__ import annotations

from pathlib import Path

import docker

from opscheck.demo.layout import PROJECT
from opscheck.errors import DemoError

WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"


def owner(client: docker.DockerClient) -> Path | None:
    """Return the folder that started the demo project's containers, if any exist."""
    found = client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={PROJECT}"}
    )
    for container in found:
        folder = (container.labels or {}).get(WORKING_DIR_LABEL)
        if folder:
            return Path(folder)
    return None


def require_own(client: docker.DockerClient, root: Path, action: str) -> None:
    """Raise DemoError when another folder's stack runs on the engine.

    ``action`` names what was refused ("start", "take down") for the message.
    """
    folder = owner(client)
    if folder is None or folder.resolve() == root.resolve():
        return
    raise DemoError(
        f"cannot {action} the demo in {root}: stack {PROJECT} on this engine was "
        f"started from {folder}; take it down first with "
        f"'opscheck demo down --dir {folder}'"
    )
