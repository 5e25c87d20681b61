"""backup-database: a compressed pg_dump, verified, then given its backup name.

The dump is written to a hidden temporary file in the backup folder. It is linked
to ``backup_YYYYMMDD_HHMMSS.sql.gz`` only when pg_dump itself exited with status 0
and the file passes the backup integrity check (whole gzip stream, pg_dump header
and completion line). A failure removes the temporary file, so no
partial or empty file ever carries a backup name.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import tempfile
from datetime import datetime
from glob import glob
from pathlib import Path
from zoneinfo import ZoneInfo

from opscheck.backupcheck import verify_backup
from opscheck.remediation.tasks.common import (
    EXIT_DONE,
    add_database_arguments,
    compose_filters,
    docker_client,
    fail,
    say,
)

STDERR_TAIL = 2000


class DumpFailed(Exception):
    """pg_dump ended with a non-zero status, or could not be started."""


def _pg_dump_program() -> str:
    found = shutil.which("pg_dump")
    if found:
        return found
    installed = sorted(glob("/usr/lib/postgresql/*/bin/pg_dump"))
    if installed:
        return installed[-1]
    raise DumpFailed(
        "pg_dump not found on PATH; install the PostgreSQL client "
        "(apt-get install postgresql-client) or set remediation.backup_method to docker-exec"
    )


def _dump_by_dsn(arguments: argparse.Namespace, sink: gzip.GzipFile) -> None:
    command = [
        _pg_dump_program(),
        "--host", arguments.host,
        "--port", str(arguments.port),
        "--username", arguments.user,
        "--dbname", arguments.database,
        "--no-password",
    ]  # fmt: skip
    environment = dict(os.environ)
    environment["PGSSLMODE"] = arguments.sslmode
    environment["PGCONNECT_TIMEOUT"] = str(arguments.connect_timeout)
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, env=environment
        )
        assert process.stdout is not None
        while block := process.stdout.read(1 << 20):
            sink.write(block)
        status = process.wait()
        errors.seek(0)
        stderr = errors.read()[-STDERR_TAIL:].decode(errors="replace").strip()
    if status != 0:
        raise DumpFailed(f"pg_dump failed with exit status {status}: {stderr}")


def _dump_by_docker_exec(arguments: argparse.Namespace, sink: gzip.GzipFile) -> None:
    client = docker_client()
    filters = compose_filters(arguments.project, arguments.service)
    running = client.containers.list(filters=filters)
    if not running:
        raise DumpFailed(
            f"service {arguments.service} of project {arguments.project} has no running "
            "container to run pg_dump in; start the database first"
        )
    container = running[0]
    say(f"running pg_dump in container {container.name}")
    environment = {}
    if os.environ.get("PGPASSWORD"):
        environment["PGPASSWORD"] = os.environ["PGPASSWORD"]
    command = ["pg_dump", "-U", arguments.user, arguments.database]
    exec_id = client.api.exec_create(container.id, command, environment=environment)[
        "Id"
    ]
    errors = bytearray()
    for out, err in client.api.exec_start(exec_id, stream=True, demux=True):
        if out:
            sink.write(out)
        if err:
            errors.extend(err)
            del errors[:-STDERR_TAIL]
    status = client.api.exec_inspect(exec_id)["ExitCode"]
    if status != 0:
        stderr = errors.decode(errors="replace").strip()
        raise DumpFailed(f"pg_dump failed with exit status {status}: {stderr}")


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def main(argv: list[str]) -> int:
    """Write one verified backup to the folder named in ``argv``."""
    parser = argparse.ArgumentParser(prog="backup-database")
    parser.add_argument("--method", choices=("docker-exec", "dsn"), required=True)
    parser.add_argument("--folder", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--timezone", default="UTC")
    add_database_arguments(parser)
    arguments = parser.parse_args(argv)

    folder = Path(arguments.folder)
    if not folder.is_dir():
        return fail(f"backup folder {folder} not found; create it or set backups.path")

    moment = datetime.now(ZoneInfo(arguments.timezone))
    name = f"backup_{moment:%Y%m%d_%H%M%S}.sql.gz"
    final = folder / name
    partial = folder / f".{name}.partial-{os.getpid()}"
    try:
        with partial.open("xb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as sink:
                if arguments.method == "dsn":
                    _dump_by_dsn(arguments, sink)
                else:
                    _dump_by_docker_exec(arguments, sink)
            raw.flush()
            os.fsync(raw.fileno())

        report = verify_backup(partial)
        if report.problem is not None:
            return fail(
                f"the new dump failed verification ({report.problem}): {report.message}; "
                "no backup was written"
            )
        # link() fails when the name exists, so an older backup is never replaced.
        os.link(partial, final)
        _fsync_folder(folder)
    except DumpFailed as exc:
        return fail(f"{exc}; no backup was written")
    except FileExistsError:
        return fail(f"{final} already exists; no backup was written, run again")
    except OSError as exc:
        return fail(
            f"writing {final} failed: {exc.strerror or exc}; no backup was written"
        )
    finally:
        partial.unlink(missing_ok=True)

    say(
        f"wrote backup {final} ({report.file_bytes} bytes, {report.sql_bytes} bytes of "
        "SQL, verified complete)"
    )
    return EXIT_DONE
