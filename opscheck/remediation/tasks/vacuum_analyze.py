"""vacuum-analyze: ``VACUUM (ANALYZE)`` on the database or one table.

``VACUUM FULL`` (which locks each table exclusively) and ``REINDEX`` run only when
the runner passes ``--full`` or ``--reindex``, from remediation.vacuum_full and
remediation.reindex.
"""

from __future__ import annotations

import argparse

import psycopg
from psycopg import sql

from opscheck.remediation.tasks.common import (
    EXIT_DONE,
    add_database_arguments,
    connect,
    fail,
    say,
)


def _table(name: str) -> sql.Composable:
    return sql.SQL(".").join(sql.Identifier(part) for part in name.split("."))


def main(argv: list[str]) -> int:
    """Vacuum and analyze what ``argv`` names."""
    parser = argparse.ArgumentParser(prog="vacuum-analyze")
    add_database_arguments(parser)
    parser.add_argument("--table")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--reindex", action="store_true")
    arguments = parser.parse_args(argv)

    options = sql.SQL("FULL, ANALYZE" if arguments.full else "ANALYZE")
    statements: list[sql.Composable] = []
    if arguments.table:
        statements.append(
            sql.SQL("VACUUM ({}) {}").format(options, _table(arguments.table))
        )
        if arguments.reindex:
            statements.append(
                sql.SQL("REINDEX TABLE {}").format(_table(arguments.table))
            )
    else:
        statements.append(sql.SQL("VACUUM ({})").format(options))
        if arguments.reindex:
            statements.append(
                sql.SQL("REINDEX DATABASE {}").format(
                    sql.Identifier(arguments.database)
                )
            )

    try:
        connection = connect(arguments, "opscheck-vacuum-analyze")
    except psycopg.OperationalError as exc:
        return fail(f"connecting to PostgreSQL failed: {str(exc).strip()}")
    with connection:
        for statement in statements:
            text = statement.as_string(connection)
            try:
                connection.execute(statement)
            except psycopg.Error as exc:
                return fail(f"{text} failed: {str(exc).strip()}")
            say(f"ran {text} on database {arguments.database}")
    return EXIT_DONE
