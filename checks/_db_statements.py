"""The shared part of db.slow_queries and db.very_slow_queries: reading and judging."""

from __future__ import annotations

from opscheck.fixtures.database import Database
from opscheck.fixtures.db_stats import (
    STATS_ROLE,
    StatementsUnavailable,
    slow_statements,
)

from opscheck.plugin.verdict import Verdict

TOP_STATEMENTS = 10


def judge_statements(database: Database, verdict: Verdict) -> None:
    """Judge the slowest mean statement time of the database against the levels."""
    __tracebackhide__ = True
    levels = verdict.levels
    assert levels is not None
    lowest = min(
        level for level in (levels.warning, levels.critical) if level is not None
    )
    verdict.record(database=database.name, address=database.address, user=database.user)

    with database.session() as connection:
        try:
            report = slow_statements(connection, lowest, TOP_STATEMENTS)
        except StatementsUnavailable as exc:
            verdict.skip(
                f"slow statements of database {database.name} cannot be read: "
                f"{exc.message}"
            )

    verdict.record(
        mean_column=report.mean_column,
        extension_version=report.extension_version,
        statements_above_level=report.slower_count,
        slowest=[statement.to_dict() for statement in report.statements],
    )
    if report.hidden_count:
        verdict.error(
            f"role {database.user} sees {report.hidden_count} statements of database "
            f"{database.name} as '<insufficient privilege>'; grant it {STATS_ROLE} "
            f"(GRANT {STATS_ROLE} TO {database.user}) so slow statements can be named"
        )

    slowest = report.statements[0].mean_ms if report.statements else 0.0
    count = report.slower_count
    shown = f"{levels.format(slowest)}"
    if count:
        shown += f" ({count} statements above {levels.format(lowest)})"
    verdict.judge(
        slowest,
        subject=f"the slowest mean statement time in database {database.name}",
        name="max_mean_ms",
        shown=shown,
    )
