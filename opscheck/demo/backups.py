"""The demo's backup folder, filled with real gzip-compressed pg_dump output."""

from __future__ import annotations

import gzip
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import docker

from opscheck.demo.compose import DB_CONTAINER
from opscheck.demo.containers import stream_exec
from opscheck.demo.layout import DB_NAME, DB_USER
from opscheck.log import logger

TIMEZONE = ZoneInfo("UTC")
DAYS_BEFORE_TODAY = 8
BACKUP_HOUR = 2
PATTERN = "backup_*.sql.gz"


def backup_name(moment: datetime) -> str:
    """Return the file name that the nightly job gives a backup taken at ``moment``."""
    return f"backup_{moment:%Y%m%d_%H%M%S}.sql.gz"


def now() -> datetime:
    """Return the current time in the backup time zone."""
    return datetime.now(TIMEZONE)


def dump(client: docker.DockerClient, target: Path) -> int:
    """Write ``docker exec ... pg_dump -U taskuser taskdb | gzip`` to ``target``."""
    container = client.containers.get(DB_CONTAINER)
    command = ["pg_dump", "-U", DB_USER, DB_NAME]
    partial = target.with_suffix(".partial")
    with gzip.open(partial, "wb") as handle:
        for chunk in stream_exec(client, container, command):
            handle.write(chunk)
    partial.replace(target)
    size = target.stat().st_size
    logger.info("wrote backup %s (%d bytes)", target, size)
    return size


def write_set(client: docker.DockerClient, folder: Path) -> list[Path]:
    """Replace the backups with today's at 02:00 and one per day for 8 days before."""
    for old in folder.glob(PATTERN):
        old.unlink()

    current = now()
    today = current.replace(hour=BACKUP_HOUR, minute=0, second=0, microsecond=0)
    newest = folder / backup_name(today)
    dump(client, newest)
    set_time(newest, min(today, current))

    written = [newest]
    for days in range(1, DAYS_BEFORE_TODAY + 1):
        moment = today - timedelta(days=days)
        copy = folder / backup_name(moment)
        shutil.copyfile(newest, copy)
        set_time(copy, moment)
        written.append(copy)
    return written


def set_time(path: Path, moment: datetime) -> None:
    """Set a file's access and modification time."""
    stamp = moment.timestamp()
    os.utime(path, (stamp, stamp))


def todays(folder: Path) -> list[Path]:
    """Return today's backups, newest first."""
    return sorted(folder.glob(f"backup_{now():%Y%m%d}_*.sql.gz"), reverse=True)


def newest(folder: Path) -> Path | None:
    """Return the newest backup by modification time."""
    found = sorted(folder.glob(PATTERN), key=lambda path: path.stat().st_mtime)
    return found[-1] if found else None
