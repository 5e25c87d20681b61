"""terminate-long-queries: end queries active for longer than a threshold.

Only client backends of the configured database are considered, so replication
(walsender), autovacuum and other background processes are never ended. This
task's own session and the sessions of protected roles are skipped as well.
"""

from __future__ import annotations

import argparse

import psycopg

from opscheck.remediation.tasks.common import (
    EXIT_DONE,
    add_database_arguments,
    connect,
    fail,
    say,
)

LONG_QUERIES = """
SELECT pid, usename, extract(epoch FROM now() - query_start)::float8 AS age_s,
       left(query, 200) AS query
FROM pg_stat_activity
WHERE state = 'active'
  AND backend_type = 'client backend'
  AND datname = current_database()
  AND pid <> pg_backend_pid()
  AND query_start < now() - make_interval(secs => %(min_age_s)s)
  AND NOT (coalesce(usename, '') = ANY(%(protected)s))
ORDER BY query_start
"""


def main(argv: list[str]) -> int:
    """End the long queries of the database named in ``argv``."""
    parser = argparse.ArgumentParser(prog="terminate-long-queries")
    add_database_arguments(parser)
    parser.add_argument("--min-age-s", type=float, default=300.0)
    parser.add_argument("--protected-role", action="append", default=[])
    arguments = parser.parse_args(argv)

    try:
        connection = connect(arguments, "opscheck-terminate-long-queries")
    except psycopg.OperationalError as exc:
        return fail(f"connecting to PostgreSQL failed: {str(exc).strip()}")

    with connection:
        found = connection.execute(
            LONG_QUERIES,
            {"min_age_s": arguments.min_age_s, "protected": arguments.protected_role},
        ).fetchall()
        if not found:
            say(
                f"no query of database {arguments.database} has been active for more "
                f"than {arguments.min_age_s:g} s"
            )
            return EXIT_DONE

        failed = 0
        for pid, user, age_s, query in found:
            row = connection.execute(
                "SELECT pg_terminate_backend(%s)", (pid,)
            ).fetchone()
            ended = bool(row and row[0])
            verb = "ended" if ended else "could not end"
            say(f"{verb} pid {pid} of role {user}, active {age_s:.0f} s: {query}")
            failed += 0 if ended else 1
    if failed:
        return fail(f"{failed} of {len(found)} long queries could not be ended")
    return EXIT_DONE
