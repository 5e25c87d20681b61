"""Verify one backup file end to end: the whole gzip stream, then the dump's shape."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, cast

from opscheck.backupcheck.dumpformat import DumpScanner, DumpShape
from opscheck.backupcheck.inflate import (
    GZIP_MAGIC,
    READ_SIZE,
    Engine,
    GzipDamaged,
    choose_engine,
    decompressed_chunks,
)
from opscheck.log import logger

Problem = Literal[
    "unreadable",
    "not_gzip",
    "truncated",
    "corrupt",
    "empty",
    "error_message",
    "no_header",
    "incomplete",
]

PIPEFAIL_HINT = (
    "as 'pg_dump | gzip' leaves when pg_dump fails in a script without "
    "'set -o pipefail'; run the backup by hand and read pg_dump's error"
)


@dataclass(frozen=True)
class IntegrityReport:
    """The verdict on one backup file, with what was measured."""

    path: Path
    problem: Problem | None
    message: str
    compressed: bool
    file_bytes: int = 0
    sql_bytes: int = 0
    engine: str = ""
    duration_s: float = 0.0
    trailing_bytes: int = 0
    first_line: str = ""
    last_line: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_intact(self) -> bool:
        """True when the file decompresses fully and holds a complete pg_dump."""
        return self.problem is None

    def evidence(self) -> dict[str, Any]:
        """Return the measured values for a check's evidence."""
        return {
            "file": str(self.path),
            "compressed": self.compressed,
            "file_bytes": self.file_bytes,
            "sql_bytes": self.sql_bytes,
            "problem": self.problem,
            "engine": self.engine,
            "duration_s": round(self.duration_s, 3),
            "trailing_bytes": self.trailing_bytes,
            "first_line": self.first_line,
            "last_line": self.last_line,
        }


def _is_gzip(path: Path, handle: BinaryIO) -> bool:
    start = handle.read(2)
    handle.seek(0)
    return path.name.endswith(".gz") or start == GZIP_MAGIC


def verify_backup(path: Path, *, engine: Engine | None = None) -> IntegrityReport:
    """Read the whole backup as a stream and say whether it is a complete pg_dump.

    A ``.gz`` file, or any file that starts with the gzip magic bytes, is decompressed;
    other files are read as plain SQL. Never raises for a bad file: the problem and a
    message that names it are in the report.
    """
    chosen = choose_engine(engine)
    started = time.monotonic()
    scanner = DumpScanner()
    trailing: list[int] = []
    compressed = path.name.endswith(".gz")
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            compressed = _is_gzip(path, handle)
            if compressed:
                for chunk in decompressed_chunks(handle, chosen, trailing=trailing):
                    scanner.feed(chunk)
            else:
                while block := handle.read(READ_SIZE):
                    scanner.feed(block)
    except GzipDamaged as exc:
        return IntegrityReport(
            path,
            exc.kind,
            f"backup {path.name} is damaged: {exc.detail}",
            compressed=True,
            file_bytes=_size(path),
            sql_bytes=scanner.size,
            engine=chosen,
            duration_s=time.monotonic() - started,
        )
    except IsADirectoryError:
        return _unreadable(path, "it is a folder, not a file", compressed)
    except PermissionError:
        return _unreadable(
            path,
            "permission denied; run opscheck as a user that may read the backup folder",
            compressed,
        )
    except OSError as exc:
        return _unreadable(path, exc.strerror or str(exc), compressed)

    elapsed = time.monotonic() - started
    shape = scanner.shape()
    logger.info(
        "read backup %s: %d bytes, %d bytes of SQL, %s in %.2f s",
        path,
        size,
        shape.sql_bytes,
        shape.shape,
        elapsed,
    )
    return IntegrityReport(
        path,
        None if shape.is_complete else cast(Problem, shape.shape),
        _message(path, shape, size, compressed),
        compressed=compressed,
        file_bytes=size,
        sql_bytes=shape.sql_bytes,
        engine=chosen if compressed else "plain",
        duration_s=elapsed,
        trailing_bytes=sum(trailing),
        first_line=shape.first_line,
        last_line=shape.last_line,
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _unreadable(path: Path, reason: str, compressed: bool) -> IntegrityReport:
    return IntegrityReport(
        path,
        "unreadable",
        f"backup {path} cannot be read: {reason}",
        compressed=compressed,
        file_bytes=_size(path),
    )


def _message(path: Path, shape: DumpShape, size: int, compressed: bool) -> str:
    name = path.name
    if shape.shape == "empty":
        what = "a valid gzip of empty output" if compressed else "empty"
        return f"backup {name} is {what}: it holds 0 bytes of SQL, {PIPEFAIL_HINT}"
    if shape.shape == "error_message":
        return (
            f"backup {name} holds an error message instead of a dump "
            f"({shape.first_line!r}), {PIPEFAIL_HINT}"
        )
    if shape.shape == "no_header":
        return (
            f"backup {name} does not start as a pg_dump: its first line is "
            f"{shape.first_line!r}, expected '-- PostgreSQL database dump'; "
            "check what the backup job writes into the file"
        )
    if shape.shape == "incomplete":
        if shape.after_completion:
            return (
                f"backup {name} has SQL after pg_dump's completion line "
                f"({shape.after_completion!r}), so a second, partial dump was "
                "appended to it; take a new backup"
            )
        return (
            f"backup {name} stops before pg_dump's completion line "
            f"'-- PostgreSQL database dump complete' (last line: {shape.last_line!r}), "
            "so pg_dump was interrupted; take a new backup and check the disk space"
        )
    kind = "gzip-compressed pg_dump" if compressed else "plain pg_dump"
    return (
        f"backup {name} is a complete {kind}: {shape.sql_bytes} bytes of SQL "
        f"from {size} bytes on disk"
    )
