"""Restore a backup into a scratch database, count its tables' rows, and drop it again.

The decompressed SQL is streamed into ``psql -v ON_ERROR_STOP=1`` and never held.
The scratch database is dropped in a ``finally`` block, after a failed restore and
after a timeout too. Nothing here connects to the live database.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from opscheck.backupcheck.inflate import (
    GZIP_MAGIC,
    READ_SIZE,
    Engine,
    choose_engine,
    decompressed_chunks,
)
from opscheck.backupcheck.psql import PsqlChannel, PsqlFailed, quote_identifier
from opscheck.log import logger

STDERR_KEEP = 65536
# pg_dump writes schemas before any table data, so within the first few KiB.
HEAD_SCAN = 1 << 20
SQL_TIMEOUT_S = 120.0

FailureKind = Literal["connect", "create", "restore", "timeout", "verify"]

# pg_dump writes "CREATE TABLE schema.name (" on a line of its own.
_CREATE_TABLE = re.compile(rb"^CREATE (?:UNLOGGED )?TABLE (\S.*?) \($", re.MULTILINE)
_CREATE_PUBLIC = re.compile(rb"^CREATE SCHEMA public;$", re.MULTILINE)
_EXTENSION_DENIED = re.compile(r'permission denied to create extension "?([^"\s]+)"?')
_FIRST_ERROR = re.compile(r"^(?:psql:[^:]*:(\d+): )?(ERROR|FATAL|error):\s+(.*)$", re.M)

# Every ordinary and partitioned table outside the system schemas, with its exact row
# count from query_to_xml, since pg_stat counters may lag behind a fresh restore.
COUNT_ROWS = """
SELECT format('%I.%I', n.nspname, c.relname),
       (xpath('/row/c/text()', query_to_xml(
           format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname),
           false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
ORDER BY 1
"""


class RestoreFailed(Exception):
    """The restore test could not complete; ``kind`` says at which step."""

    def __init__(self, kind: FailureKind, message: str, errors: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.errors = errors


@dataclass
class RestoreResult:
    """What the restored scratch database held."""

    backup: Path
    scratch: str
    rows: dict[str, int] = field(default_factory=dict)
    dumped_tables: list[str] = field(default_factory=list)
    sql_bytes: int = 0
    duration_s: float = 0.0
    dropped: bool = False

    @property
    def missing_tables(self) -> list[str]:
        """Return the tables that the dump creates but the scratch database lacks."""
        return [name for name in self.dumped_tables if name not in self.rows]

    @property
    def empty_tables(self) -> list[str]:
        """Return the restored tables that hold no row."""
        return [name for name, count in self.rows.items() if count == 0]


class _TableNames:
    """Collects the names in pg_dump's CREATE TABLE lines from a stream of chunks."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._carry = b""

    def feed(self, chunk: bytes) -> None:
        text = self._carry + chunk
        end = text.rfind(b"\n") + 1
        # A data line can be long; a CREATE TABLE line is short, so the carry is capped.
        self._carry = text[end:][-4096:]
        complete = text[:end]
        if b"CREATE " not in complete:
            return
        for match in _CREATE_TABLE.finditer(complete):
            self.names.append(match.group(1).decode("utf-8", errors="replace"))


def _sql_chunks(handle: BinaryIO, engine: Engine) -> Iterator[bytes]:
    start = handle.read(2)
    handle.seek(0)
    if start == GZIP_MAGIC:
        yield from decompressed_chunks(handle, engine)
        return
    while block := handle.read(READ_SIZE):
        yield block


def explain_errors(errors: str, channel: PsqlChannel) -> tuple[FailureKind, str]:
    """Turn psql's error output into the failure kind and one sentence with the fix."""
    denied = _EXTENSION_DENIED.search(errors)
    if denied:
        return (
            "restore",
            f"permission denied to create extension {denied.group(1)}: restore as a "
            f"superuser (set backups.restore.user; role {channel.user} is not one) or "
            "dump with -n public",
        )
    lowered = errors.lower()
    if "permission denied to create database" in lowered:
        return (
            "create",
            f"role {channel.user} may not create the scratch database (permission "
            "denied to create database); grant it CREATEDB or set backups.restore.user",
        )
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return (
            "connect",
            f"PostgreSQL on {channel.where} rejected the credentials of role "
            f"{channel.user}; check backups.restore.user and its password",
        )
    if "no such container" in lowered:
        return (
            "connect",
            f"container {channel.container} not found; set backups.restore.container "
            "to the database container's name",
        )
    if "could not connect" in lowered or "connection to server" in lowered:
        return (
            "connect",
            f"psql could not connect to PostgreSQL on {channel.where}: "
            f"{_last_line(errors)}",
        )
    match = _FIRST_ERROR.search(errors)
    if match:
        line, _, text = match.groups()
        where = f" at line {line} of the dump" if line else ""
        return "restore", f"psql stopped{where}: ERROR: {text.strip()}"
    return "restore", f"psql failed: {_last_line(errors) or 'no error output'}"


def _last_line(errors: str) -> str:
    lines = [line.strip() for line in errors.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


class _StderrTail(threading.Thread):
    def __init__(self, stream: BinaryIO) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.kept = b""

    def run(self) -> None:
        while block := self.stream.read(8192):
            self.kept = (self.kept + block)[-STDERR_KEEP:]

    @property
    def text(self) -> str:
        return self.kept.decode("utf-8", errors="replace")


def _stream_into_psql(
    backup: Path,
    channel: PsqlChannel,
    scratch: str,
    engine: Engine,
    deadline: float,
    tables: _TableNames,
) -> int:
    """Pipe the backup's SQL into psql on ``scratch``; return the bytes of SQL sent."""
    # With "-f -" psql names the line of each error: "psql:<stdin>:42: ERROR: ...".
    argv, environment = channel.command(scratch, "-f", "-")
    logger.info("restoring %s into %s on %s", backup, scratch, channel.where)
    process = subprocess.Popen(
        argv,
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stderr is not None
    reader = _StderrTail(process.stderr)  # type: ignore[arg-type]
    reader.start()
    watchdog = threading.Timer(max(deadline - time.monotonic(), 0.0), process.kill)
    watchdog.start()
    sent = 0
    try:
        with backup.open("rb") as handle:
            for chunk in _sql_chunks(handle, engine):
                tables.feed(chunk)
                try:
                    process.stdin.write(chunk)
                except BrokenPipeError:
                    break  # psql stopped at an error; its output says which
                sent += len(chunk)
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
        returncode = process.wait()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        reader.join(timeout=5)

    if time.monotonic() >= deadline and returncode != 0:
        raise RestoreFailed(
            "timeout",
            f"restoring {backup.name} did not finish within the restore timeout; "
            "raise backups.restore.timeout_s",
        )
    if returncode != 0:
        kind, message = explain_errors(reader.text, channel)
        raise RestoreFailed(kind, message, reader.text)
    return sent


def _creates_public_schema(backup: Path, engine: Engine) -> bool:
    """Tell whether the dump starts by creating schema public, as ``pg_dump -n public`` does."""
    head = b""
    with backup.open("rb") as handle:
        for chunk in _sql_chunks(handle, engine):
            head += chunk
            if len(head) >= HEAD_SCAN:
                break
    return _CREATE_PUBLIC.search(head) is not None


def _count_rows(channel: PsqlChannel, scratch: str) -> dict[str, int]:
    output = channel.run(scratch, COUNT_ROWS, SQL_TIMEOUT_S)
    rows: dict[str, int] = {}
    for line in output.splitlines():
        name, _, count = line.partition("\t")
        if name:
            rows[name] = int(count or 0)
    return rows


def _drop(channel: PsqlChannel, maintenance: str, scratch: str) -> None:
    statement = f"DROP DATABASE IF EXISTS {quote_identifier(scratch)} WITH (FORCE)"
    channel.run(maintenance, statement, SQL_TIMEOUT_S)


def restore_into_scratch(
    backup: Path,
    channel: PsqlChannel,
    *,
    scratch: str,
    live: str,
    maintenance: str = "postgres",
    timeout_s: float = 1800.0,
    engine: Engine | None = None,
) -> RestoreResult:
    """Restore ``backup`` into a new database ``scratch``, count rows, drop it.

    Raises RestoreFailed when a step fails; the scratch database is dropped then too.
    """
    if scratch == live:
        raise ValueError(f"scratch database {scratch} is the live database")
    chosen = choose_engine(engine)
    started = time.monotonic()
    deadline = started + timeout_s
    result = RestoreResult(backup, scratch)
    quoted = quote_identifier(scratch)

    try:
        # A scratch database left by an interrupted run is the restore test's own.
        _drop(channel, maintenance, scratch)
        channel.run(maintenance, f"CREATE DATABASE {quoted}", SQL_TIMEOUT_S)
    except PsqlFailed as exc:
        kind, message = explain_errors(exc.errors, channel)
        raise RestoreFailed(
            "connect" if kind == "connect" else "create",
            f"the scratch database {scratch} could not be created: {message}",
            exc.errors,
        ) from None

    try:
        if _creates_public_schema(backup, chosen):
            # A new database has schema public already, and a dump made with
            # "pg_dump -n public" creates it again, which stops psql at once.
            try:
                channel.run(scratch, "DROP SCHEMA public", SQL_TIMEOUT_S)
            except PsqlFailed as exc:
                kind, message = explain_errors(exc.errors, channel)
                raise RestoreFailed(kind, message, exc.errors) from None
        tables = _TableNames()
        result.sql_bytes = _stream_into_psql(
            backup, channel, scratch, chosen, deadline, tables
        )
        result.dumped_tables = tables.names
        try:
            result.rows = _count_rows(channel, scratch)
        except PsqlFailed as exc:
            raise RestoreFailed(
                "verify",
                f"the restored tables could not be counted: {_last_line(exc.errors)}",
                exc.errors,
            ) from None
    finally:
        try:
            _drop(channel, maintenance, scratch)
            result.dropped = True
            logger.info("dropped scratch database %s", scratch)
        except PsqlFailed as exc:
            logger.error(
                "could not drop scratch database %s: %s",
                scratch,
                _last_line(exc.errors),
            )
    result.duration_s = time.monotonic() - started
    return result
