"""Monitoring & Alerts, Database Metrics, and Playbook 3: slow and long queries, size.

The runbook alerts on statements with a mean time above 1000 ms and on a database
larger than 5 GB, and terminates active queries that started more than 5 minutes ago.
On the monthly capacity review the size is compared with the last monthly run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opscheck.checks._db_statements import judge_statements
from opscheck.fixtures.database import Database
from opscheck.fixtures.db_stats import (
    STATS_ROLE,
    can_read_all_stats,
    database_size,
    hidden_sessions,
    long_running_queries,
)

from opscheck.config.units import format_size
from opscheck.declaration import check
from opscheck.levels import Levels
from opscheck.log import logger
from opscheck.plugin.state import RunState
from opscheck.plugin.verdict import Verdict

HISTORY_FILE = Path("history") / "db-size.jsonl"


@check(
    id="db.very_slow_queries",
    title="No statement has a mean time above 1000 ms",
    suites=("monitor",),
    runbook="Monitoring & Alerts > Database Metrics (slow queries > 1000 ms)",
    per="database",
    description=(
        "As db.slow_queries, at the alert level: any statement of the database with "
        "a mean time above 1000 ms in pg_stat_statements fails."
    ),
    levels=Levels(critical=1000, unit="ms"),
    remediation="vacuum-analyze",
    default_timeout_s=30.0,
)
def test_db_very_slow_queries(database: Database, verdict: Verdict) -> None:
    judge_statements(database, verdict)


@check(
    id="db.long_running",
    title="No query has been active for more than 5 minutes",
    suites=("monitor",),
    runbook="Troubleshooting Playbooks > Playbook 3 (step 3, queries active > 5 min)",
    per="database",
    description=(
        "Lists active queries of other sessions in pg_stat_activity whose query_start "
        "is older than the warning level (300 s); opscheck's own session is left out."
    ),
    levels=Levels(warning=300, unit="s"),
    remediation="terminate-long-queries",
    default_timeout_s=30.0,
)
def test_db_long_running(database: Database, verdict: Verdict) -> None:
    levels = verdict.levels
    assert levels is not None
    lowest = min(
        level for level in (levels.warning, levels.critical) if level is not None
    )
    verdict.record(database=database.name, address=database.address, user=database.user)

    with database.session() as connection:
        queries = long_running_queries(connection, lowest)
        hidden = 0 if can_read_all_stats(connection) else hidden_sessions(connection)
    verdict.record(queries=[query.to_dict() for query in queries])
    if hidden:
        verdict.error(
            f"role {database.user} cannot see the state of {hidden} sessions of other "
            f"roles in pg_stat_activity; grant it {STATS_ROLE} "
            f"(GRANT {STATS_ROLE} TO {database.user}) so long queries can be found"
        )

    longest = max((query.runtime_s for query in queries), default=0.0)
    shown = levels.format(longest)
    if queries:
        oldest = max(queries, key=lambda query: query.runtime_s)
        shown += (
            f" (pid {oldest.pid} of {oldest.user or 'unknown role'}; "
            f"{len(queries)} active queries above {levels.format(lowest)})"
        )
    verdict.judge(
        longest,
        subject=f"the longest active query on PostgreSQL at {database.address}",
        name="max_runtime_s",
        shown=shown,
    )


def _history_path(run: RunState) -> Path:
    folder = (
        run.reports.json.parent
        if run.reports.json is not None
        else run.loaded.config.reports.dir
    )
    return folder / HISTORY_FILE


def _last_entry(path: Path, key: str) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    last = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            logger.warning("skipping unreadable line %d of %s", number, path)
            continue
        if isinstance(entry, dict) and entry.get("key") == key:
            last = entry
    return last


def _record_monthly(
    run: RunState, database: Database, size: int, verdict: Verdict
) -> None:
    path = _history_path(run)
    key = f"{database.address}/{database.name}"
    previous = _last_entry(path, key)
    now = datetime.now(UTC)
    if previous is not None and isinstance(previous.get("bytes"), int):
        growth = size - previous["bytes"]
        verdict.record(
            previous_bytes=previous["bytes"],
            previous_at=previous.get("at"),
            growth_bytes=growth,
        )
    else:
        verdict.record(
            previous_bytes=None, growth_note="no earlier monthly run recorded"
        )
    entry = {"key": key, "at": now.isoformat(timespec="seconds"), "bytes": size}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.write(json.dumps(entry) + "\n")
    except OSError as exc:
        logger.warning("cannot record the database size in %s: %s", path, exc)
    verdict.record(history_file=str(path))


@check(
    id="db.size",
    title="The database stays below 5 GB",
    suites=("monitor", "monthly"),
    runbook=(
        "Monitoring & Alerts > Database Metrics (database size > 5 GB); "
        "Maintenance Windows > Monthly Maintenance (capacity planning review)"
    ),
    per="database",
    description=(
        "Reads pg_database_size. On the monthly suite the size is also stored in "
        "history/db-size.jsonl of the report folder and compared with the last "
        "monthly run."
    ),
    levels=Levels(warning=5 * 10**9, unit="bytes"),
    default_timeout_s=30.0,
)
def test_db_size(database: Database, run: RunState, verdict: Verdict) -> None:
    verdict.record(database=database.name, address=database.address)
    with database.session() as connection:
        size = database_size(connection)

    shown = format_size(size)
    if run.suite == "monthly":
        _record_monthly(run, database, size, verdict)
        growth = verdict.evidence.get("growth_bytes")
        if isinstance(growth, int):
            sign = "+" if growth >= 0 else "-"
            shown += (
                f" ({sign}{format_size(abs(growth))} since the monthly run of "
                f"{verdict.evidence.get('previous_at')})"
            )
    verdict.judge(
        size, subject=f"size of database {database.name}", name="bytes", shown=shown
    )
