"""Writing report files so that a reader sees the old file or the whole new one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it, then rename it over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def point_latest(latest: Path, target: Path) -> None:
    """Make ``latest`` a relative symbolic link to ``target``, replacing it atomically.

    Where the filesystem has no symbolic links, ``latest`` becomes a copy instead.
    """
    latest.parent.mkdir(parents=True, exist_ok=True)
    temporary = latest.with_name(f".{latest.name}.{os.getpid()}.link")
    temporary.unlink(missing_ok=True)
    try:
        os.symlink(os.path.relpath(target, latest.parent), temporary)
    except OSError:
        write_atomic(latest, target.read_bytes())
        return
    os.replace(temporary, latest)
