"""Look at files before opening them: their type, and bounded reads of small files.

A path from the config or from a listed folder may name a FIFO (opening it waits for
a writer), a device (``/dev/zero`` never ends) or a symlink loop. These helpers tell
such files apart with ``stat`` and never open anything but a regular file.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path

READ_PIECE_BYTES = 1 << 16

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symlink"),
)


class FileReadError(Exception):
    """A file that is not read: not a regular file, too large, or unreadable."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def kind_of(mode: int) -> str:
    """Name the file type of a ``st_mode``, such as ``a FIFO``."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "a special file"


def regular_file_problem(path: Path) -> str | None:
    """Return why ``path`` (symlinks followed) is not a readable regular file, or None.

    The reason reads as ``it is a FIFO, not a regular file`` or as the system's error,
    such as ``No such file or directory``.
    """
    try:
        found = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "it is a symlink loop, not a regular file"
        if exc.errno == errno.ENOENT and path.is_symlink():
            return f"it is a broken symlink to {os.readlink(path)}"
        return exc.strerror or str(exc)
    if stat.S_ISREG(found.st_mode):
        return None
    return f"it is {kind_of(found.st_mode)}, not a regular file"


def read_regular_file(path: Path, limit: int, deadline: float | None = None) -> bytes:
    """Return the content of ``path`` if it is a regular file of at most ``limit`` bytes.

    ``deadline`` is a ``time.monotonic()`` value after which the read stops. The file
    is opened non-blocking and checked again after opening, so a FIFO put in its
    place in between is not waited on.
    """
    problem = regular_file_problem(path)
    if problem is not None:
        raise FileReadError(path, problem)

    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise FileReadError(path, exc.strerror or str(exc)) from None
    with os.fdopen(descriptor, "rb", buffering=0) as handle:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise FileReadError(path, f"it is {kind_of(mode)}, not a regular file")
        pieces: list[bytes] = []
        size = 0
        while size <= limit:
            if deadline is not None and time.monotonic() > deadline:
                raise FileReadError(path, f"the read timed out after {size} bytes")
            piece = handle.read(min(READ_PIECE_BYTES, limit + 1 - size))
            if not piece:
                return b"".join(pieces)
            pieces.append(piece)
            size += len(piece)
    raise FileReadError(path, f"it is larger than {format_bytes(limit)}")


def format_bytes(count: int) -> str:
    """Write a byte count as ``1 MiB``, ``512 KiB`` or ``100 bytes``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return f"{count // size} {unit}"
    return f"{count} bytes"
