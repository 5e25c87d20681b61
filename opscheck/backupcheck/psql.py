"""Running psql for the restore test: on the host, or inside the database container.

Connection parameters travel in PGHOST, PGPORT, PGUSER, PGPASSWORD and PGDATABASE,
never on the command line, where ``ps`` would show the password. Through
``docker exec`` the variables are named with ``-e NAME`` and no value, so the docker
CLI copies them from its own environment into the container.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

HOST_PSQL = Path("/usr/lib/postgresql/15/bin/psql")
PSQL_OPTIONS = ("-X", "-q", "-v", "ON_ERROR_STOP=1")


class PsqlUnavailable(Exception):
    """psql or the docker CLI is not installed where the restore test looks for it."""


@dataclass(frozen=True)
class PsqlChannel:
    """Where and as whom psql runs."""

    method: Literal["psql", "docker-exec"]
    user: str
    password: str | None
    host: str = "localhost"
    port: int = 5432
    psql: Path | None = None
    container: str = ""
    docker_host: str | None = None
    connect_timeout_s: float = 10.0

    @property
    def where(self) -> str:
        """Describe where psql connects, for messages."""
        if self.method == "docker-exec":
            return f"container {self.container}"
        return f"{self.host}:{self.port}"

    def command(
        self, database: str, *arguments: str
    ) -> tuple[list[str], dict[str, str]]:
        """Return the argument list and environment that run psql on ``database``."""
        environment = dict(os.environ)
        for name in ("PGSERVICE", "PGSERVICEFILE", "PGPASSFILE", "PGOPTIONS"):
            environment.pop(name, None)
        environment["PGUSER"] = self.user
        environment["PGDATABASE"] = database
        environment["PGAPPNAME"] = "opscheck-restore-test"
        environment["PGCONNECT_TIMEOUT"] = str(max(2, round(self.connect_timeout_s)))
        if self.password is not None:
            environment["PGPASSWORD"] = self.password
        else:
            environment.pop("PGPASSWORD", None)

        if self.method == "psql":
            environment["PGHOST"] = self.host
            environment["PGPORT"] = str(self.port)
            return [str(self._host_psql()), *PSQL_OPTIONS, *arguments], environment

        docker = shutil.which("docker")
        if docker is None:
            raise PsqlUnavailable(
                "the docker CLI is not installed, and backups.restore.method is "
                "docker-exec; install docker.io or set the method to psql"
            )
        if self.docker_host:
            environment["DOCKER_HOST"] = self.docker_host
        passed = ["PGUSER", "PGDATABASE", "PGAPPNAME", "PGCONNECT_TIMEOUT"]
        if self.password is not None:
            passed.append("PGPASSWORD")
        names = [item for name in passed for item in ("-e", name)]
        argv = [docker, "exec", "-i", *names, self.container, "psql"]
        return [*argv, *PSQL_OPTIONS, *arguments], environment

    def _host_psql(self) -> Path:
        if self.psql is not None:
            if not self.psql.is_file():
                raise PsqlUnavailable(
                    f"psql not found at {self.psql}; fix backups.restore.psql"
                )
            return self.psql
        if HOST_PSQL.is_file():
            return HOST_PSQL
        found = shutil.which("psql")
        if found is None:
            raise PsqlUnavailable(
                "psql not found in /usr/lib/postgresql/15/bin or on PATH; install "
                "postgresql-client or set backups.restore.psql"
            )
        return Path(found)

    def run(self, database: str, statement: str, timeout_s: float) -> str:
        """Run one SQL statement and return its unaligned output.

        Raises PsqlFailed with psql's error output when it exits with an error.
        """
        argv, environment = self.command(
            database, "-A", "-t", "-F", "\t", "-c", statement
        )
        try:
            completed = subprocess.run(
                argv,
                env=environment,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PsqlFailed(
                f"psql on {self.where} did not finish within {timeout_s:.0f} s", ""
            ) from None
        errors = completed.stderr.decode("utf-8", errors="replace")
        if completed.returncode != 0:
            raise PsqlFailed(
                f"psql on {self.where} exited with status {completed.returncode}",
                errors,
            )
        return completed.stdout.decode("utf-8", errors="replace")


class PsqlFailed(Exception):
    """psql exited with an error; ``errors`` holds its error output."""

    def __init__(self, summary: str, errors: str) -> None:
        super().__init__(summary)
        self.summary = summary
        self.errors = errors


def quote_identifier(name: str) -> str:
    """Quote a database name as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'
