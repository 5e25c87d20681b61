"""docker-cleanup: remove dangling images, stopped containers and listed unused volumes.

Unlike ``docker system prune``, a stopped container of a compose project is kept
(it is part of a stack that may be started again), and volumes are never pruned
wholesale: only volumes named with ``--prune-volume`` are removed, and only when no
container uses them and no compose project owns them.
"""

from __future__ import annotations

import argparse
from typing import Any

import docker.errors

from opscheck.remediation.tasks.common import EXIT_DONE, docker_client, fail, say

PROJECT_LABEL = "com.docker.compose.project"
STOPPED = ("exited", "created", "dead")


def _remove_stopped_containers(client: Any) -> int:
    removed = 0
    for container in client.containers.list(
        all=True, filters={"status": list(STOPPED)}
    ):
        labels = container.labels or {}
        if PROJECT_LABEL in labels:
            say(
                f"kept stopped container {container.name}: it belongs to compose "
                f"project {labels[PROJECT_LABEL]}"
            )
            continue
        container.remove(v=False)
        say(f"removed stopped container {container.name} ({container.short_id})")
        removed += 1
    return removed


def _remove_dangling_images(client: Any) -> int:
    result = client.images.prune(filters={"dangling": True})
    deleted = result.get("ImagesDeleted") or []
    reclaimed = int(result.get("SpaceReclaimed") or 0)
    say(f"removed {len(deleted)} dangling image layers, {reclaimed} bytes reclaimed")
    return len(deleted)


def _volumes_in_use(client: Any) -> set[str]:
    used: set[str] = set()
    for container in client.containers.list(all=True):
        for mount in container.attrs.get("Mounts") or []:
            if mount.get("Type") == "volume" and mount.get("Name"):
                used.add(mount["Name"])
    return used


def _remove_listed_volumes(client: Any, names: list[str]) -> int:
    problems = 0
    in_use = _volumes_in_use(client)
    for name in names:
        try:
            volume = client.volumes.get(name)
        except docker.errors.NotFound:
            say(f"volume {name} not found; nothing to remove")
            continue
        labels = volume.attrs.get("Labels") or {}
        if PROJECT_LABEL in labels:
            say(
                f"kept volume {name}: compose project {labels[PROJECT_LABEL]} owns it, "
                "and opscheck never removes a project's volume"
            )
            continue
        if name in in_use:
            say(f"kept volume {name}: a container uses it")
            continue
        try:
            volume.remove()
        except docker.errors.APIError as exc:
            say(f"could not remove volume {name}: {exc.explanation or exc}")
            problems += 1
            continue
        say(f"removed unused volume {name}")
    return problems


def main(argv: list[str]) -> int:
    """Clean up the Docker engine as ``argv`` allows."""
    parser = argparse.ArgumentParser(prog="docker-cleanup")
    parser.add_argument("--prune-volume", action="append", default=[])
    arguments = parser.parse_args(argv)

    try:
        client = docker_client()
        _remove_stopped_containers(client)
        _remove_dangling_images(client)
        problems = _remove_listed_volumes(client, arguments.prune_volume)
    except docker.errors.DockerException as exc:
        return fail(f"the Docker engine refused the cleanup: {exc}")
    if problems:
        return fail(f"{problems} listed volumes could not be removed")
    return EXIT_DONE
