"""Error lines in the services' container logs.

Daily Operations step 5 runs ``docker-compose logs --since 24h | grep -i -E
"(error|fatal|exception)" | tail -20``; the 10:00 log review greps for
``error|exception|timeout|failed``; the post-deploy check reads the last 50 lines of
backend and frontend; the weekly maintenance collects ``error|exception`` over 7 days.
These checks read the same logs through the Docker engine, one service at a time.
"""

from __future__ import annotations

from opscheck.checks._log_scan import (
    CRITICAL_PATTERN,
    REVIEW_PATTERN,
    WEEKLY_PATTERN,
    judge_count,
    scan_service,
    window_start,
)
from opscheck.fixtures.logs import ServiceLog

from opscheck.config.model import Config
from opscheck.declaration import check
from opscheck.levels import Levels
from opscheck.plugin.verdict import Verdict


@check(
    id="logs.critical_errors",
    title="No error, fatal or exception lines in the last 24 hours",
    suites=("daily",),
    runbook="Daily Operations > Morning Health Check (step 5, Expected: no critical errors in logs)",
    per="service",
    description=(
        "Reads the service's container logs of the last 24 hours (counted in UTC) and counts "
        "the lines matching the pattern case-insensitively, minus lines matching a "
        "logs.ignore pattern. Evidence holds the last 20 matching lines and the count per "
        "distinct message."
    ),
    levels=Levels(critical=0, unit="count"),
    options={"pattern": CRITICAL_PATTERN, "window_hours": 24.0},
    default_timeout_s=300.0,
)
def test_logs_critical_errors(
    service_log: ServiceLog, opscheck_config: Config, verdict: Verdict
) -> None:
    hours = float(verdict.option("window_hours"))
    pattern = str(verdict.option("pattern"))
    tally = scan_service(
        service_log,
        verdict,
        pattern,
        opscheck_config.logs.ignore,
        since=window_start(hours),
    )
    judge_count(
        verdict,
        tally.matched,
        name="error_lines",
        crossed=(
            f"service {service_log.name} logged {tally.matched} lines matching "
            f"{pattern} in the last {hours:g} h: {tally.summary()}"
        ),
        passed=(
            f"service {service_log.name} logged no line matching {pattern} in the last "
            f"{hours:g} h ({service_log.stats.lines} lines read, {tally.ignored} ignored)"
        ),
    )


@check(
    id="logs.review",
    title="Log review: error, exception, timeout and failed lines of the last 24 hours",
    suites=("daily",),
    runbook="Daily Operations > Log Review",
    per="service",
    description=(
        "Counts the service's container log lines of the last 24 hours that match the review "
        "pattern, minus logs.ignore, grouped by message with numbers and addresses masked."
    ),
    levels=Levels(warning=0, unit="count"),
    options={"pattern": REVIEW_PATTERN, "window_hours": 24.0},
    default_timeout_s=300.0,
)
def test_logs_review(
    service_log: ServiceLog, opscheck_config: Config, verdict: Verdict
) -> None:
    hours = float(verdict.option("window_hours"))
    pattern = str(verdict.option("pattern"))
    tally = scan_service(
        service_log,
        verdict,
        pattern,
        opscheck_config.logs.ignore,
        since=window_start(hours),
    )
    judge_count(
        verdict,
        tally.matched,
        name="review_lines",
        crossed=(
            f"service {service_log.name} logged {tally.matched} lines matching {pattern} "
            f"in the last {hours:g} h, {tally.groups.distinct} distinct messages: "
            f"{tally.summary()}"
        ),
        passed=(
            f"service {service_log.name} logged no line matching {pattern} in the last "
            f"{hours:g} h"
        ),
    )


@check(
    id="logs.recent_errors",
    title="No errors in the last 50 log lines after a deploy",
    suites=("deploy_gate",),
    runbook="Deployment Procedures > Post-Deployment Verification (step 2)",
    per="service",
    description=(
        "Reads the last 50 lines of the service's container logs, as "
        "'docker-compose logs --tail=50 backend frontend' does, and fails on any line "
        "matching the pattern that no logs.ignore pattern matches. Only the services the "
        "deploy updates are read (option services, backend and frontend by default): "
        "nginx logs upstream errors while a backend restarts, which is the deploy itself."
    ),
    levels=Levels(critical=0, unit="count"),
    options={
        "pattern": CRITICAL_PATTERN,
        "lines": 50,
        "services": ["backend", "frontend"],
    },
    default_timeout_s=60.0,
    phases=("post",),
)
def test_logs_recent_errors(
    service_log: ServiceLog, opscheck_config: Config, verdict: Verdict
) -> None:
    deployed = list(verdict.option("services"))
    if service_log.name not in deployed:
        verdict.skip(
            f"service {service_log.name} is not one of the deployed services "
            f"({', '.join(deployed)}); list it under checks.logs.recent_errors.services "
            "to check it"
        )

    lines = int(verdict.option("lines"))
    pattern = str(verdict.option("pattern"))
    tally = scan_service(
        service_log, verdict, pattern, opscheck_config.logs.ignore, tail=lines
    )
    judge_count(
        verdict,
        tally.matched,
        name="error_lines",
        crossed=(
            f"service {service_log.name} has {tally.matched} lines matching {pattern} "
            f"in its last {lines} log lines: {tally.summary()}"
        ),
        passed=(
            f"service {service_log.name} has no line matching {pattern} in its last "
            f"{lines} log lines"
        ),
    )


@check(
    id="logs.weekly_errors",
    title="Error lines of the week per service, within the error budget",
    suites=("weekly",),
    runbook="Weekly Maintenance > Sunday maintenance (step 4, review logs)",
    per="service",
    description=(
        "Counts the service's container log lines of the last 7 days matching the pattern, "
        "minus logs.ignore, with the most frequent messages. The warning level is the "
        "weekly error budget of one service; the runbook sets none, so any error line warns "
        "until checks.logs.weekly_errors.warning is set."
    ),
    levels=Levels(warning=0, unit="count"),
    options={"pattern": WEEKLY_PATTERN, "window_days": 7.0},
    default_timeout_s=600.0,
)
def test_logs_weekly_errors(
    service_log: ServiceLog, opscheck_config: Config, verdict: Verdict
) -> None:
    days = float(verdict.option("window_days"))
    pattern = str(verdict.option("pattern"))
    tally = scan_service(
        service_log,
        verdict,
        pattern,
        opscheck_config.logs.ignore,
        since=window_start(days * 24),
    )
    judge_count(
        verdict,
        tally.matched,
        name="error_lines",
        crossed=(
            f"service {service_log.name} logged {tally.matched} lines matching {pattern} "
            f"in the last {days:g} days; most frequent: {tally.summary()}"
        ),
        passed=(
            f"service {service_log.name} logged {tally.matched} lines matching {pattern} "
            f"in the last {days:g} days"
        ),
    )
