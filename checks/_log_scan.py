"""Scanning a service's container log for error lines, shared by the log checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opscheck.fixtures.logs import ServiceLog

from opscheck.levels import Levels
from opscheck.logscan.matcher import make_matcher
from opscheck.logscan.scan import ErrorTally, compile_ignore
from opscheck.plugin.verdict import Verdict

CRITICAL_PATTERN = "error|fatal|exception"
REVIEW_PATTERN = "error|exception|timeout|failed"
WEEKLY_PATTERN = "error|exception"


def window_start(hours: float) -> datetime:
    """Return the aware UTC time ``hours`` ago."""
    return datetime.now(UTC) - timedelta(hours=hours)


def scan_service(
    service_log: ServiceLog,
    verdict: Verdict,
    pattern: str,
    ignore: list[str],
    *,
    since: datetime | None = None,
    tail: int | None = None,
) -> ErrorTally:
    """Count the service's log lines that match ``pattern`` and no ignore pattern."""
    __tracebackhide__ = True
    matcher = make_matcher([pattern])
    tally = ErrorTally(ignore=compile_ignore(ignore))
    for line in service_log.matching(matcher, since=since, tail=tail):
        tally.add(line)
    verdict.record(
        pattern=pattern,
        ignore=ignore,
        engine=matcher.engine,
        since=since.isoformat() if since else None,
        tail=tail,
        **service_log.read_evidence(),
        **tally.evidence(),
    )
    return tally


def judge_count(
    verdict: Verdict, count: float, *, crossed: str, passed: str, name: str
) -> None:
    """Fail or warn with ``crossed`` when ``count`` crosses a level, else pass.

    ``crossed`` is completed with the level that was crossed.
    """
    __tracebackhide__ = True
    levels: Levels | None = verdict.levels
    assert levels is not None
    verdict.record(**{name: count}, **levels.evidence())
    severity = levels.judge(count)
    if severity == "critical":
        assert levels.critical is not None
        verdict.fail(
            f"{crossed} ({levels.relation()} the critical level "
            f"{levels.format(levels.critical)})"
        )
    if severity == "warning":
        assert levels.warning is not None
        verdict.warn(
            f"{crossed} ({levels.relation()} the warning level "
            f"{levels.format(levels.warning)})"
        )
        return
    verdict.passed(passed)
