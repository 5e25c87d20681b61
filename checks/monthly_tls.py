"""Maintenance Windows, Monthly Maintenance: the certificate renewal check.

Each ``tls:`` entry of the config is a TLS endpoint (host, port, server_name) or a
certificate file, with an optional trust store (``ca_file``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from opscheck.fixtures.tls import CertificateFacts, TlsEndpoint, TlsFile

from opscheck.declaration import check
from opscheck.levels import Levels
from opscheck.plugin.verdict import Verdict


@check(
    id="tls.certificate_expiry",
    title="Each TLS certificate is trusted and expires in more than 30 days",
    suites=("monthly", "security"),
    runbook="Maintenance Windows > Monthly Maintenance (certificate renewal check)",
    per="tls",
    description=(
        "Reads the certificate of each tls entry without verification to get its dates, "
        "then verifies chain and host name against the entry's ca_file (else the system "
        "trust store). An expired, not yet valid or untrusted certificate fails, with the "
        "date or the reason; otherwise the days left are held against the levels."
    ),
    levels=Levels(warning=30.0, critical=7.0, direction="below", unit="days"),
    options={"connect_timeout_s": 10.0},
    default_timeout_s=60.0,
)
def test_tls_certificate_expiry(
    tls_target: TlsEndpoint | TlsFile, verdict: Verdict
) -> None:
    where = (
        f"TLS endpoint {tls_target.label}"
        if isinstance(tls_target, TlsEndpoint)
        else f"certificate file {tls_target.label}"
    )
    certificate = tls_target.certificate()
    if certificate is None:
        verdict.fail(f"{where} has no certificate, so there is nothing to trust")

    facts = CertificateFacts.of(certificate)
    verdict.record(**facts.evidence())
    now = datetime.now(UTC)
    days = facts.days_left(now)
    verdict.record(days_left=round(days, 2))

    if days < 0:
        verdict.fail(
            f"certificate {facts.subject} of {where} expired on "
            f"{facts.not_after:%Y-%m-%d %H:%M} UTC, {-days:.0f} days ago; renew it"
        )
    if facts.not_before > now:
        verdict.fail(
            f"certificate {facts.subject} of {where} is not valid before "
            f"{facts.not_before:%Y-%m-%d %H:%M} UTC; check the host's clock or the certificate"
        )

    problem = tls_target.verification_problem(facts)
    if problem is not None:
        verdict.fail(
            f"certificate {facts.subject} of {where} is not trusted: {problem}"
        )

    verdict.judge(
        days,
        subject=(
            f"time left of certificate {facts.subject} of {where} "
            f"(expires {facts.not_after:%Y-%m-%d})"
        ),
        name="days_left",
    )
