"""The lock that keeps two opscheck processes from remediating at the same time."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from opscheck.log import logger

POLL_INTERVAL_S = 0.1


class LockBusy(Exception):
    """Another process held the lock for the whole wait."""


@contextmanager
def remediation_lock(path: Path, wait_s: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``; raise LockBusy after ``wait_s`` seconds.

    The kernel releases the lock when the holder exits, so a crashed opscheck leaves
    no stale lock behind, even though the file itself stays.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusy(str(path)) from None
                time.sleep(POLL_INTERVAL_S)
        logger.debug("holding the remediation lock %s", path)
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
