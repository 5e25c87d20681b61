"""Daily Operations, Morning Health Check step 6: the database accepts connections.

The runbook runs ``pg_isready -U taskuser`` and a query as taskuser; this check opens a
real connection with the configured credentials and runs ``SELECT 1``.
"""

from __future__ import annotations

import time

import psycopg
from opscheck.fixtures.database import Database, DatabaseConnectError

from opscheck.declaration import check
from opscheck.plugin.verdict import Verdict


@check(
    id="db.accepting_connections",
    title="PostgreSQL accepts a connection with the configured credentials",
    suites=("daily", "deploy_gate", "monitor"),
    runbook="Daily Operations > Morning Health Check (step 6); Incident Response > P1",
    per="database",
    description=(
        "Connects with the configured user and password and runs SELECT 1. A refused "
        "connection, a timeout, rejected credentials and a full server (too many clients) "
        "each give their own message."
    ),
    default_timeout_s=30.0,
    phases=("pre",),
)
def test_db_accepting_connections(database: Database, verdict: Verdict) -> None:
    verdict.record(address=database.address, database=database.name, user=database.user)
    started = time.monotonic()
    try:
        connection = database.connect()
    except DatabaseConnectError as exc:
        if exc.kind in ("auth", "too_many_clients", "no_database"):
            verdict.fail(exc.message, problem=exc.kind)
        raise

    with connection:
        try:
            row = connection.execute(
                "SELECT 1, current_setting('server_version')"
            ).fetchone()
        except psycopg.Error as exc:
            verdict.error(
                f"PostgreSQL at {database.address} accepted the connection but SELECT 1 failed: {exc}"
            )
    elapsed_ms = (time.monotonic() - started) * 1000
    version = row[1] if row else "unknown"
    verdict.record(server_version=version, elapsed_ms=round(elapsed_ms, 1))
    verdict.passed(
        f"PostgreSQL {version} at {database.address} accepts connections as {database.user} "
        f"({elapsed_ms:.0f} ms)"
    )
