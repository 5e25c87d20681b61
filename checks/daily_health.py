"""Daily Operations, Morning Health Check step 2: the health endpoints answer healthy.

The runbook expects ``curl http://localhost:5000/api/health`` (and port 3000) to print
``{"status":"healthy"}``.
"""

from __future__ import annotations

from opscheck.fixtures.http import Endpoint

from opscheck.declaration import check
from opscheck.plugin.verdict import Verdict


@check(
    id="health.endpoint",
    title="Health endpoint answers HTTP 200 with the healthy status",
    suites=("daily", "deploy_gate", "weekly"),
    runbook=(
        'Daily Operations > Morning Health Check (step 2, Expected: {"status":"healthy"}); '
        "Deployment Procedures > Deployment Steps 3-4"
    ),
    per="endpoint",
    description=(
        "Sends one GET to the configured health URL and expects HTTP 200, a JSON object body, "
        "and its 'status' field equal to the configured healthy value."
    ),
    remediation="restart-service",
    default_timeout_s=30.0,
    phases=("post",),
)
def test_health_endpoint(endpoint: Endpoint, verdict: Verdict) -> None:
    answer = endpoint.get()
    verdict.record(
        url=endpoint.url,
        status_code=answer.status_code,
        elapsed_ms=round(answer.elapsed_ms, 1),
        content_type=answer.content_type,
        body=answer.snippet(200),
        expected_status=endpoint.healthy_status,
    )
    where = f"endpoint {endpoint.name} at {endpoint.url}"

    if answer.status_code != 200:
        verdict.fail(
            f"{where} answered HTTP {answer.status_code}, expected 200; body: {answer.snippet()}"
        )

    try:
        body = answer.json()
    except ValueError:
        verdict.fail(
            f"{where} answered HTTP 200 but its body is not JSON: {answer.snippet()}"
        )

    if not isinstance(body, dict) or "status" not in body:
        verdict.fail(
            f"{where} answered JSON without a 'status' field: {answer.snippet()}"
        )

    status = body["status"]
    if status != endpoint.healthy_status:
        verdict.fail(
            f"{where} reports status {status!r}, expected {endpoint.healthy_status!r}"
        )

    verdict.passed(
        f"{where} reports status {status!r} (HTTP 200 in {answer.elapsed_ms:.0f} ms)"
    )
