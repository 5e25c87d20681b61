"""Weekly Maintenance step 3: tables are vacuumed and analyzed, dead tuples are few.

The runbook runs ``VACUUM ANALYZE`` every Sunday. This check reads the last
(auto)vacuum and (auto)analyze of every user table and its share of dead tuples.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opscheck.fixtures.database import Database
from opscheck.fixtures.db_stats import TableMaintenance, table_maintenance

from opscheck.declaration import check
from opscheck.levels import Levels
from opscheck.plugin.verdict import Verdict

REPORTED_TABLES = 20


def _age_days(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else (now - moment).total_seconds() / 86400


def _problems(table: TableMaintenance, max_days: float, now: datetime) -> list[str]:
    problems = []
    vacuum_age = _age_days(table.last_vacuum, now)
    analyze_age = _age_days(table.last_analyze, now)
    # A table that was never vacuumed but has no dead tuples has nothing to reclaim.
    # A table filled once and never updated is such a table.
    if vacuum_age is None and table.dead_tuples > 0:
        problems.append(f"never vacuumed, {table.dead_tuples} dead tuples")
    elif vacuum_age is not None and vacuum_age > max_days:
        problems.append(f"last vacuumed {vacuum_age:.1f} days ago")
    if analyze_age is None and table.modified_since_analyze > 0:
        problems.append(f"never analyzed, {table.modified_since_analyze} rows changed")
    elif analyze_age is not None and analyze_age > max_days:
        problems.append(f"last analyzed {analyze_age:.1f} days ago")
    return problems


def _describe(table: TableMaintenance, now: datetime) -> dict[str, Any]:
    vacuum_age = _age_days(table.last_vacuum, now)
    analyze_age = _age_days(table.last_analyze, now)
    return {
        "table": table.name,
        "last_vacuum": table.last_vacuum.isoformat() if table.last_vacuum else None,
        "last_analyze": table.last_analyze.isoformat() if table.last_analyze else None,
        "vacuum_age_days": None if vacuum_age is None else round(vacuum_age, 2),
        "analyze_age_days": None if analyze_age is None else round(analyze_age, 2),
        "live_tuples": table.live_tuples,
        "dead_tuples": table.dead_tuples,
        "dead_percent": round(table.dead_percent, 1),
    }


@check(
    id="db.maintenance",
    title="Tables were vacuumed and analyzed within 7 days",
    suites=("weekly",),
    runbook="Maintenance Windows > Weekly Maintenance (step 3, VACUUM ANALYZE)",
    per="table",
    description=(
        "For every user table: the last vacuum or autovacuum and the last analyze or "
        "autoanalyze must be at most max_age_days old, and dead tuples at most 20 % "
        "of all tuples. Tables never vacuumed without dead tuples, or never analyzed "
        "without changed rows, have nothing to do and pass."
    ),
    levels=Levels(warning=20, unit="%"),
    options={"max_age_days": 7.0},
    remediation="vacuum-analyze",
    default_timeout_s=60.0,
)
def test_db_maintenance(database: Database, verdict: Verdict) -> None:
    max_days = float(verdict.option("max_age_days"))
    now = datetime.now(UTC)
    with database.session() as connection:
        tables = table_maintenance(connection)
    verdict.record(database=database.name, max_age_days=max_days, tables=len(tables))
    if not tables:
        verdict.skip(f"database {database.name} has no user tables to maintain")

    stale = {table.name: _problems(table, max_days, now) for table in tables}
    stale = {name: problems for name, problems in stale.items() if problems}
    worst = max(tables, key=lambda table: table.dead_percent)
    listed = sorted(
        tables, key=lambda table: (table.name not in stale, -table.dead_percent)
    )
    verdict.record(
        stale_tables={name: "; ".join(problems) for name, problems in stale.items()},
        details=[_describe(table, now) for table in listed[:REPORTED_TABLES]],
    )

    if stale:
        names = sorted(stale)
        first = names[0]
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        verdict.warn(
            f"{len(names)} tables of database {database.name} need VACUUM ANALYZE: "
            f"{first} ({'; '.join(stale[first])}){more}"
        )
    verdict.judge(
        worst.dead_percent,
        subject=f"the dead tuple share of table {worst.name}",
        name="max_dead_percent",
    )
