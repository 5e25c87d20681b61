"""Monitoring & Alerts: API latency (warning > 300 ms, critical > 1000 ms).

The runbook's post-deployment step 4 sends ten requests in a loop and reads each
``time_total``. The check does the same and compares both the median and the maximum
with the levels, because an average hides the one slow request.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from opscheck.fixtures.http import Endpoint

from opscheck.config.model import Config
from opscheck.declaration import check
from opscheck.errors import TargetUnreachable
from opscheck.levels import Levels
from opscheck.plugin.verdict import Verdict


@dataclass(frozen=True)
class Sample:
    """One request of the loop: its number, time, HTTP status or the problem it met."""

    number: int
    elapsed_ms: float
    status_code: int | None
    problem: str | None

    @property
    def ok(self) -> bool:
        """Tell whether the request received a 2xx response."""
        return self.problem is None

    def to_dict(self) -> dict[str, object]:
        """Return the sample as evidence."""
        return {
            "request": self.number,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "status_code": self.status_code,
            "problem": self.problem,
        }


def send(endpoint: Endpoint, number: int) -> Sample:
    """Send one GET and time it from the request to the last byte, as curl's time_total."""
    started = time.perf_counter()
    try:
        answer = endpoint.get()
    except TargetUnreachable as exc:
        elapsed = (time.perf_counter() - started) * 1000
        return Sample(number, elapsed, None, exc.message)
    elapsed = (time.perf_counter() - started) * 1000
    if not 200 <= answer.status_code < 300:
        return Sample(number, elapsed, answer.status_code, f"HTTP {answer.status_code}")
    return Sample(number, elapsed, answer.status_code, None)


def _slowest(samples: list[Sample]) -> Sample:
    return max(samples, key=lambda sample: sample.elapsed_ms)


@check(
    id="health.latency",
    title="Health endpoint response time, median and maximum of N requests",
    suites=("deploy_gate", "monitor"),
    runbook=(
        "Deployment Procedures > Post-Deployment Verification (step 4, response times); "
        "Monitoring & Alerts > Alert Thresholds (API Latency > 300 ms / > 1000 ms)"
    ),
    per="endpoint",
    description=(
        "Sends deploy.latency_requests GET requests (10, as the runbook's loop) one after "
        "another and holds the median and the maximum time against the levels. A request "
        "that times out, fails or answers other than 2xx fails the check and is named in "
        "the message; it is not counted as a slow sample. When no request gets an answer "
        "at all, the endpoint is unreachable and the check ends as an error."
    ),
    levels=Levels(warning=300, critical=1000, unit="ms"),
    default_timeout_s=120.0,
    phases=("post",),
)
def test_health_latency(
    endpoint: Endpoint, opscheck_config: Config, verdict: Verdict
) -> None:
    count = opscheck_config.deploy.latency_requests
    where = f"endpoint {endpoint.name} at {endpoint.url}"
    samples: list[Sample] = []
    for number in range(1, count + 1):
        sample = send(endpoint, number)
        samples.append(sample)
        if sample.problem is not None and sample.status_code is None:
            # A timed-out or refused request: the rest would wait just as long.
            break
    verdict.record(
        url=endpoint.url,
        requests=count,
        sent=len(samples),
        samples=[sample.to_dict() for sample in samples],
    )

    answered = [sample for sample in samples if sample.status_code is not None]
    if not answered:
        verdict.error(f"{where} answered none of the requests: {samples[0].problem}")

    failed = [sample for sample in samples if not sample.ok]
    if failed:
        first = failed[0]
        unsent = count - len(samples)
        rest = f", and the {unsent} requests after it were not sent" if unsent else ""
        verdict.fail(
            f"{where}: {len(failed)} of {len(samples)} requests failed; request "
            f"{first.number} got {first.problem} after {first.elapsed_ms:.0f} ms{rest}",
            failed_requests=[sample.number for sample in failed],
        )

    times = [sample.elapsed_ms for sample in samples]
    median = statistics.median(times)
    slowest = _slowest(samples)
    verdict.record(
        median_ms=round(median, 1),
        max_ms=round(slowest.elapsed_ms, 1),
        slowest_request=slowest.number,
    )

    levels = verdict.levels
    assert levels is not None
    summary = (
        f"median {levels.format(median)}, max {levels.format(slowest.elapsed_ms)} "
        f"(request {slowest.number} of {count})"
    )
    # The maximum is never below the median, so it decides the severity; the message
    # says which of the two crossed the level.
    for severity, level in (("critical", levels.critical), ("warning", levels.warning)):
        if level is None or not levels.crosses(slowest.elapsed_ms, level):
            continue
        which = "median and max" if levels.crosses(median, level) else "max"
        text = (
            f"response time of {where} over {count} requests: {summary}; the {which} "
            f"{'is' if which == 'max' else 'are'} above the {severity} level "
            f"{levels.format(level)}"
        )
        verdict.record(**levels.evidence(), unit=levels.unit)
        if severity == "critical":
            verdict.fail(text)
        verdict.warn(text)
        return

    verdict.record(**levels.evidence(), unit=levels.unit)
    verdict.passed(
        f"response time of {where} over {count} requests: {summary} "
        f"({levels.describe()})"
    )
