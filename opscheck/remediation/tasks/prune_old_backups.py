"""prune-old-backups: remove backups older than the retention, keeping the newest.

Only regular files directly in the backup folder whose names match
``backup_YYYYMMDD_HHMMSS.sql[.gz]`` are candidates. Symbolic links are never
followed or removed, and every file operation is made relative to a descriptor of
the folder, so a path swapped under the task cannot send it elsewhere.
"""

from __future__ import annotations

import argparse
import os
import re
import stat
import time
from dataclasses import dataclass

from opscheck.remediation.tasks.common import EXIT_DONE, fail, say

BACKUP_NAME = re.compile(r"^backup_\d{8}_\d{6}\.sql(\.gz)?$")
DAY_S = 86400


@dataclass(frozen=True)
class Backup:
    """One backup file in the folder."""

    name: str
    mtime: float


def _scan(folder_fd: int) -> list[Backup]:
    found = []
    for name in os.listdir(folder_fd):
        if not BACKUP_NAME.match(name):
            continue
        info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            say(
                f"skipped {name}: it is a symbolic link, which is never followed or removed"
            )
            continue
        if not stat.S_ISREG(info.st_mode):
            say(f"skipped {name}: it is not a regular file")
            continue
        found.append(Backup(name, info.st_mtime))
    return sorted(found, key=lambda backup: backup.mtime, reverse=True)


def main(argv: list[str]) -> int:
    """Remove the expired backups of the folder named in ``argv``."""
    parser = argparse.ArgumentParser(prog="prune-old-backups")
    parser.add_argument("--folder", required=True)
    parser.add_argument("--retention-days", type=int, required=True)
    parser.add_argument("--keep-newest", type=int, default=7)
    arguments = parser.parse_args(argv)
    if arguments.keep_newest < 1 or arguments.retention_days < 1:
        return fail("--keep-newest and --retention-days must be at least 1")

    try:
        folder_fd = os.open(
            arguments.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
        )
    except OSError as exc:
        return fail(
            f"backup folder {arguments.folder} cannot be opened ({exc.strerror}); "
            "it must be a real folder, not a symbolic link"
        )

    removed = 0
    try:
        backups = _scan(folder_fd)
        cutoff = time.time() - arguments.retention_days * DAY_S
        kept = backups[: arguments.keep_newest]
        for backup in backups[arguments.keep_newest :]:
            if backup.mtime >= cutoff:
                continue
            age_days = (time.time() - backup.mtime) / DAY_S
            os.unlink(backup.name, dir_fd=folder_fd)
            say(f"removed {backup.name}, {age_days:.1f} days old")
            removed += 1
    except OSError as exc:
        return fail(f"pruning {arguments.folder} failed: {exc}")
    finally:
        os.close(folder_fd)

    say(
        f"removed {removed} backups older than {arguments.retention_days} days from "
        f"{arguments.folder}; kept the newest {len(kept)} whatever their age"
    )
    return EXIT_DONE
