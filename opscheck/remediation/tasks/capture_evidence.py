"""capture-evidence: logs, inspect output and state of services in a tar.gz archive.

Every value of a container's environment is masked in the inspect output, and the
values of the .env file and of each container's secret-looking variables are masked
in its logs, so the archive contains no secret that opscheck can find.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import docker.errors
from dotenv import dotenv_values

from opscheck import redaction
from opscheck.remediation.tasks.common import (
    EXIT_DONE,
    compose_filters,
    docker_client,
    fail,
    say,
)


def _environment_of(attrs: dict[str, Any]) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for entry in attrs.get("Config", {}).get("Env") or []:
        key, _, value = str(entry).partition("=")
        values[key] = value
    return values


def _masked_inspect(attrs: dict[str, Any]) -> dict[str, Any]:
    masked: dict[str, Any] = json.loads(json.dumps(attrs, default=str))
    config = masked.get("Config") or {}
    if config.get("Env"):
        config["Env"] = [
            f"{str(entry).partition('=')[0]}={redaction.MASK}"
            for entry in config["Env"]
        ]
    return masked


def _state(attrs: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": attrs.get("Name", "").lstrip("/"),
        "id": attrs.get("Id", "")[:12],
        "image": attrs.get("Config", {}).get("Image"),
        "state": attrs.get("State"),
        "restart_count": attrs.get("RestartCount"),
    }


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o600
    archive.addfile(info, io.BytesIO(data))


def _collect(
    client: Any,
    arguments: argparse.Namespace,
    archive: tarfile.TarFile,
    env_secrets: set[str],
) -> int:
    since = datetime.now(UTC) - timedelta(hours=arguments.since_hours)
    saved = 0
    for service in arguments.service:
        filters = compose_filters(arguments.project, service)
        containers = client.containers.list(all=True, filters=filters)
        if not containers:
            say(f"service {service} has no container; nothing saved for it")
            continue
        for container in containers:
            attrs = container.attrs
            secrets = env_secrets | redaction.env_secrets(_environment_of(attrs))
            redactor = redaction.Redactor(secrets)
            folder = f"{service}/{container.name}"
            inspect = redactor.data(_masked_inspect(attrs))
            _add(
                archive,
                f"{folder}/inspect.json",
                json.dumps(inspect, indent=2).encode(),
            )
            _add(
                archive,
                f"{folder}/state.json",
                json.dumps(redactor.data(_state(attrs)), indent=2).encode(),
            )
            logs = container.logs(since=since, timestamps=True).decode(
                "utf-8", errors="replace"
            )
            _add(archive, f"{folder}/logs.txt", redactor.text(logs).encode())
            say(f"saved logs, inspect output and state of container {container.name}")
            saved += 1
    return saved


def main(argv: list[str]) -> int:
    """Write the evidence archive of the services named in ``argv``."""
    parser = argparse.ArgumentParser(prog="capture-evidence")
    parser.add_argument("--project", required=True)
    parser.add_argument("--service", action="append", default=[])
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--since-hours", type=float, default=24.0)
    parser.add_argument("--env-file")
    arguments = parser.parse_args(argv)

    env_secrets: set[str] = set()
    if arguments.env_file and Path(arguments.env_file).is_file():
        values = dotenv_values(arguments.env_file)
        env_secrets = redaction.env_secrets(values)

    output = Path(arguments.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    final = output / f"evidence_{arguments.project}_{stamp}.tar.gz"
    partial = output / f".{final.name}.partial-{os.getpid()}"
    try:
        with tarfile.open(partial, "x:gz") as archive:
            saved = _collect(docker_client(), arguments, archive, env_secrets)
        os.chmod(partial, 0o600)
        os.replace(partial, final)
    except docker.errors.DockerException as exc:
        return fail(f"reading the containers from Docker failed: {exc}")
    except OSError as exc:
        return fail(f"writing {final} failed: {exc}")
    finally:
        partial.unlink(missing_ok=True)
    say(f"wrote evidence of {saved} containers to {final}")
    return EXIT_DONE
