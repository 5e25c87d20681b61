"""Alert Thresholds, error rate: the share of requests answered 5xx.

The runbook counts ``ERROR`` lines of the backend over 5 minutes and alerts above 2 %
and 5 % of requests; the nginx access log has both numbers, requests and their status,
so this check counts 5xx answers among the access log lines of the last 5 minutes, by
the time written in each line.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opscheck.checks._log_scan import judge_count
from opscheck.fixtures.logs import AccessLog

from opscheck.declaration import check
from opscheck.levels import Levels
from opscheck.plugin.verdict import Verdict


def unparsed_note(access_log: AccessLog) -> str:
    """Describe the lines that were not in the log format, or return an empty text."""
    count = access_log.read.unparsed
    if not count:
        return ""
    return f" ({count} lines not in the {access_log.log_format} format were skipped)"


def require_parsed(access_log: AccessLog, verdict: Verdict) -> None:
    """End with ``error`` when no line of the window parsed but some lines did not."""
    __tracebackhide__ = True
    if access_log.read.in_window == 0 and access_log.read.unparsed:
        verdict.error(
            f"none of the {access_log.read.unparsed} lines read from access log "
            f"{access_log.path} is in the {access_log.log_format} format "
            f"(first: {access_log.read.unparsed_samples[0]!r}); set logs.access_log_format "
            "to the log_format that nginx writes it with"
        )


@check(
    id="logs.error_rate",
    title="Share of requests answered 5xx in the last 5 minutes",
    suites=("monitor",),
    runbook="Monitoring & Alerts > Alert Thresholds (Error Rate: warning > 2 %, critical > 5 %)",
    per="log",
    description=(
        "Reads the nginx access log lines of the last 5 minutes, by their own $time_local, "
        "and divides the 5xx answers by all requests. The format is logs.access_log_format "
        "(nginx combined by default); lines not in it are counted and shown."
    ),
    levels=Levels(warning=2, critical=5, unit="%"),
    options={"window_minutes": 5.0},
    default_timeout_s=60.0,
)
def test_logs_error_rate(access_log: AccessLog, verdict: Verdict) -> None:
    minutes = float(verdict.option("window_minutes"))
    since = datetime.now(UTC) - timedelta(minutes=minutes)

    requests = 0
    server_errors = 0
    by_status: dict[int, int] = {}
    for entry in access_log.entries(since):
        requests += 1
        if entry.status >= 500:
            server_errors += 1
            by_status[entry.status] = by_status.get(entry.status, 0) + 1

    verdict.record(
        since=since.isoformat(),
        requests=requests,
        server_errors=server_errors,
        server_errors_by_status={str(key): value for key, value in by_status.items()},
        **access_log.read_evidence(),
    )
    require_parsed(access_log, verdict)
    if requests == 0:
        verdict.passed(
            f"access log {access_log.path} has no request in the last {minutes:g} min, "
            f"so no error rate{unparsed_note(access_log)}"
        )
        return

    rate = server_errors / requests * 100
    judge_count(
        verdict,
        round(rate, 2),
        name="error_rate_percent",
        crossed=(
            f"{server_errors} of {requests} requests in access log {access_log.path} were "
            f"answered 5xx in the last {minutes:g} min, {rate:.1f} %"
            f"{unparsed_note(access_log)}"
        ),
        passed=(
            f"{server_errors} of {requests} requests in access log {access_log.path} were "
            f"answered 5xx in the last {minutes:g} min, {rate:.1f} %"
            f"{unparsed_note(access_log)}"
        ),
    )
