"""Weekly Security Check steps 3 and 4: denied requests and failed logins.

The runbook greps the nginx log for ``401|403|404`` and the backend log for
``failed.*login`` over 7 days. Here the status is read from the status field of each
access log line, so a 404 in a URL or a size is not counted, and failed logins are
counted per source address with the time of each from the container log's timestamps.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Any

from opscheck.checks._log_scan import judge_count, window_start
from opscheck.checks.monitor_logs import require_parsed, unparsed_note
from opscheck.fixtures.logs import AccessLog, ServiceLog

from opscheck.declaration import check
from opscheck.levels import Levels
from opscheck.logscan.matcher import make_matcher
from opscheck.logscan.text import shorten
from opscheck.plugin.verdict import Verdict

DENIED = (401, 403, 404)
TOP_SOURCES = 10

# A source address named after a keyword ("from 10.0.0.5", "ip=10.0.0.5"), else the
# first IPv4 address of the line.
_NAMED_SOURCE = re.compile(
    r"(?:\bfrom|\bip|\baddr(?:ess)?|\bclient|\bremote(?:_addr)?|\bsrc|\bsource)"
    r"[\s=:\"']+\[?([0-9a-fA-F:.]*[0-9a-fA-F])\]?",
    re.IGNORECASE,
)
_IPV4 = re.compile(r"\b(\d{1,3}(?:\.\d{1,3}){3})\b")


def source_address(text: str) -> str:
    """Return the client address a failed login line names, or ``unknown``."""
    found = _NAMED_SOURCE.search(text) or _IPV4.search(text)
    return found.group(1) if found else "unknown"


@check(
    id="security.access_denied",
    title="Share of 401, 403 and 404 answers in the access log of the week",
    suites=("security",),
    runbook="Security > Weekly Security Check (step 3, review access logs)",
    per="log",
    description=(
        "Counts the nginx access log lines of the last 7 days answered 401, 403 or 404, by "
        "the status field, with the client addresses that got most of them. The warning "
        "level is their share of all requests; the runbook sets none, 5 % is the default."
    ),
    levels=Levels(warning=5, unit="%"),
    options={"window_days": 7.0},
    default_timeout_s=600.0,
)
def test_security_access_denied(access_log: AccessLog, verdict: Verdict) -> None:
    days = float(verdict.option("window_days"))
    since = window_start(days * 24)

    requests = 0
    by_status: Counter[int] = Counter()
    by_client: Counter[str] = Counter()
    for entry in access_log.entries(since):
        requests += 1
        if entry.status in DENIED:
            by_status[entry.status] += 1
            by_client[entry.remote_addr] += 1

    denied = sum(by_status.values())
    top = [
        {"address": address, "denied": count}
        for address, count in by_client.most_common(TOP_SOURCES)
    ]
    verdict.record(
        since=since.isoformat(),
        requests=requests,
        denied=denied,
        denied_by_status={str(status): by_status[status] for status in DENIED},
        top_clients=top,
        **access_log.read_evidence(),
    )
    require_parsed(access_log, verdict)
    if requests == 0:
        verdict.passed(
            f"access log {access_log.path} has no request in the last {days:g} days"
            f"{unparsed_note(access_log)}"
        )
        return

    rate = denied / requests * 100
    counts = ", ".join(f"{by_status[status]}× {status}" for status in DENIED)
    clients = ", ".join(f"{item['address']} ({item['denied']})" for item in top[:3])
    judge_count(
        verdict,
        round(rate, 2),
        name="denied_percent",
        crossed=(
            f"{denied} of {requests} requests in access log {access_log.path} were denied "
            f"in the last {days:g} days ({counts}), {rate:.1f} %; top clients: {clients}"
            f"{unparsed_note(access_log)}"
        ),
        passed=(
            f"{denied} of {requests} requests in access log {access_log.path} were denied "
            f"in the last {days:g} days ({counts}), {rate:.1f} %{unparsed_note(access_log)}"
        ),
    )


def _source_evidence(
    counts: Counter[str], first: dict[str, datetime], last: dict[str, datetime]
) -> list[dict[str, Any]]:
    rows = []
    for address, count in counts.most_common(TOP_SOURCES):
        rows.append(
            {
                "address": address,
                "failed_logins": count,
                "first": first[address].isoformat() if address in first else None,
                "last": last[address].isoformat() if address in last else None,
            }
        )
    return rows


@check(
    id="security.failed_logins",
    title="Failed logins of the week per source address",
    suites=("security",),
    runbook="Security > Weekly Security Check (step 4, failed login attempts)",
    per="service",
    description=(
        "Reads the container log of the last 7 days of the services named in the services "
        "option (the backend by default), counts lines matching the pattern "
        "case-insensitively by the source address they name, and warns when one source "
        "has more failed logins than the warning level. The runbook sets no level; "
        "10 is the default."
    ),
    levels=Levels(warning=10, unit="count"),
    options={
        "pattern": "failed.*login|login.*failed",
        "services": ["backend"],
        "window_days": 7.0,
    },
    default_timeout_s=600.0,
)
def test_security_failed_logins(service_log: ServiceLog, verdict: Verdict) -> None:
    services = list(verdict.option("services"))
    if service_log.name not in services:
        verdict.skip(
            f"failed logins are read from the log of {', '.join(services)} only; add "
            f"{service_log.name} to checks.security.failed_logins.services to read its log"
        )

    days = float(verdict.option("window_days"))
    pattern = str(verdict.option("pattern"))
    since = window_start(days * 24)
    matcher = make_matcher([pattern])

    counts: Counter[str] = Counter()
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    samples: list[dict[str, Any]] = []
    for line in service_log.matching(matcher, since=since):
        address = source_address(line.text)
        counts[address] += 1
        if line.timestamp is not None:
            first.setdefault(address, line.timestamp)
            last[address] = line.timestamp
        if len(samples) < 5:
            samples.append(line.to_evidence())

    total = sum(counts.values())
    verdict.record(
        pattern=pattern,
        since=since.isoformat(),
        failed_logins=total,
        sources=_source_evidence(counts, first, last),
        sample_lines=samples,
        **service_log.read_evidence(),
    )
    if not counts:
        verdict.passed(
            f"service {service_log.name} logged no failed login in the last {days:g} days"
        )
        return

    address, most = counts.most_common(1)[0]
    when = ""
    if address in first:
        when = f" between {first[address]:%Y-%m-%d %H:%M:%S} and {last[address]:%Y-%m-%d %H:%M:%S} UTC"
    judge_count(
        verdict,
        most,
        name="max_failed_logins_per_source",
        crossed=(
            f"service {service_log.name} logged {most} failed logins from "
            f"{shorten(address, 60)}{when}, {total} from {len(counts)} sources in the "
            f"last {days:g} days"
        ),
        passed=(
            f"service {service_log.name} logged {total} failed logins from "
            f"{len(counts)} sources in the last {days:g} days, at most {most} from one"
        ),
    )
