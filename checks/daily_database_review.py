"""Daily Log Review and the database alert: connections and slow statements.

The runbook counts ``pg_stat_activity`` (alert above 70 connections or 80 % of
max_connections, page above 90) and lists pg_stat_statements entries whose mean time
is above 100 ms.
"""

from __future__ import annotations

from typing import Any

from opscheck.checks._db_statements import judge_statements
from opscheck.fixtures.database import Database
from opscheck.fixtures.db_stats import connection_count

from opscheck.declaration import check
from opscheck.levels import Levels, Severity
from opscheck.plugin.verdict import Verdict

RANK: dict[Severity, int] = {"ok": 0, "warning": 1, "critical": 2}


def _percent_levels(verdict: Verdict) -> Levels:
    __tracebackhide__ = True
    values = {}
    for name in ("warning_percent", "critical_percent"):
        value = verdict.option(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            verdict.error(
                f"checks.db.connections.{name} is {value!r}; set a percentage "
                "of max_connections such as 80"
            )
        values[name] = None if value is None else float(value)
    return Levels(
        warning=values["warning_percent"],
        critical=values["critical_percent"],
        unit="%",
    )


@check(
    id="db.connections",
    title="PostgreSQL client connections stay below the alert levels",
    suites=("daily", "monitor"),
    runbook=(
        "Monitoring & Alerts > Database Metrics and Alert Thresholds (DB connections); "
        "Incident Response > P1"
    ),
    per="database",
    description=(
        "Counts client connections in pg_stat_activity, this one included, and holds "
        "the count against absolute levels and its share of max_connections against "
        "warning_percent and critical_percent; the worse of the two decides."
    ),
    levels=Levels(warning=70, critical=90, unit="count"),
    options={"warning_percent": 80.0, "critical_percent": None},
    remediation="terminate-long-queries",
    default_timeout_s=30.0,
)
def test_db_connections(database: Database, verdict: Verdict) -> None:
    absolute = verdict.levels
    assert absolute is not None
    share = _percent_levels(verdict)

    with database.session() as connection:
        count = connection_count(connection)
    verdict.record(
        database=database.name,
        address=database.address,
        client_connections=count.client_connections,
        all_backends=count.all_backends,
        max_connections=count.max_connections,
        by_database=count.by_database,
        percent_of_max=round(count.percent_of_max, 1),
        count_levels=absolute.evidence(),
        percent_levels=share.evidence(),
    )

    subject = f"client connections to PostgreSQL at {database.address}"
    counted = f"{count.client_connections} of max_connections {count.max_connections}"
    judgments: list[tuple[Severity, float, dict[str, Any]]] = [
        (
            absolute.judge(count.client_connections),
            count.client_connections,
            {"subject": subject, "name": "client_connections", "shown": counted},
        ),
        (
            share.judge(count.percent_of_max),
            count.percent_of_max,
            {
                "subject": f"{subject} as a share of max_connections",
                "name": "percent_of_max",
                "levels": share,
            },
        ),
    ]
    # The worse judgment runs last, so its message is the one that stays.
    for _, value, arguments in sorted(judgments, key=lambda item: RANK[item[0]]):
        verdict.judge(value, **arguments)


@check(
    id="db.slow_queries",
    title="No statement has a mean time above 100 ms",
    suites=("daily",),
    runbook="Daily Operations > Log Review (slow queries); Troubleshooting Playbooks 3",
    per="database",
    description=(
        "Reads pg_stat_statements of the database (mean_exec_time from PostgreSQL 13, "
        "mean_time before) and lists the 10 slowest statements above the level. "
        "Skipped with the cause when pg_stat_statements is not created or not preloaded."
    ),
    levels=Levels(warning=100, unit="ms"),
    remediation="vacuum-analyze",
    default_timeout_s=30.0,
)
def test_db_slow_queries(database: Database, verdict: Verdict) -> None:
    judge_statements(database, verdict)
