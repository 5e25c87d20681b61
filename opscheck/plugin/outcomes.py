"""Turning what happened in a check (its verdict, or an exception) into one Result."""

from __future__ import annotations

from typing import Any

import pytest

from opscheck import redaction
from opscheck.declaration import Declaration
from opscheck.errors import CheckOutcome, OpscheckError
from opscheck.plugin.results import SEVERITY_OF, Result
from opscheck.plugin.verdict import Verdict

# Exceptions from the libraries that reach the checked system. A fixture should turn
# them into TargetUnreachable or CheckError; one that slips through is still the
# target's problem, so it ends the check as "error", not as an opscheck bug.
_TARGET_EXCEPTIONS: tuple[type[BaseException], ...] = (OSError, TimeoutError)


def _library_exceptions() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = list(_TARGET_EXCEPTIONS)
    try:
        import docker.errors

        found.append(docker.errors.DockerException)
    except ImportError:
        pass
    try:
        import psycopg

        found.append(psycopg.Error)
    except ImportError:
        pass
    try:
        import httpx

        found.append(httpx.HTTPError)
    except ImportError:
        pass
    try:
        import requests

        found.append(requests.RequestException)
    except ImportError:
        pass
    return tuple(found)


LIBRARY_EXCEPTIONS = _library_exceptions()


def build_result(
    item: pytest.Item,
    declaration: Declaration,
    target: str | None,
    verdict: Verdict | None,
    call: pytest.CallInfo[None],
    report: pytest.TestReport,
) -> Result:
    """Build the result of one check from its verdict and how its call ended."""
    evidence: dict[str, Any] = dict(verdict.evidence) if verdict else {}
    outcome, message, internal = _classify(declaration, verdict, call, report)
    if call.excinfo is not None and isinstance(call.excinfo.value, CheckOutcome):
        evidence.update(call.excinfo.value.evidence)

    return Result(
        id=declaration.id,
        target=target,
        outcome=outcome,  # type: ignore[arg-type]
        message=message,
        title=declaration.title,
        area=declaration.area,
        severity=SEVERITY_OF[outcome],
        evidence=evidence,
        duration_s=_duration(item, report),
        runbook=declaration.runbook,
        suites=list(declaration.suites),
        remediation=(
            {"name": declaration.remediation, "mode": "off"}
            if declaration.remediation
            else None
        ),
        nodeid=item.nodeid,
        internal_error=internal,
    )


def _classify(
    declaration: Declaration,
    verdict: Verdict | None,
    call: pytest.CallInfo[None],
    report: pytest.TestReport,
) -> tuple[str, str, bool]:
    subject = declaration.title
    if call.excinfo is None:
        if verdict is not None and verdict.outcome == "warning":
            return "warning", verdict.message or f"{subject}: warning", False
        message = (
            verdict.message
            if verdict and verdict.message
            else f"{subject}: as expected"
        )
        return "passed", message, False

    error = call.excinfo.value
    if report.skipped:
        reason = getattr(error, "msg", None) or str(error)
        return "skipped", reason, False
    if isinstance(error, CheckOutcome):
        return error.outcome, error.message, False
    if isinstance(error, OpscheckError):
        return "error", error.message, False
    if isinstance(error, pytest.fail.Exception):
        return "failed", str(getattr(error, "msg", error)), False
    if isinstance(error, AssertionError):
        return (
            "failed",
            str(error).split("\n", 1)[0] or f"{subject}: expectation does not hold",
            False,
        )
    if isinstance(error, RecursionError | MemoryError):
        # Data from the target nested or sized beyond what can be read: the check
        # could not tell, and the target, not opscheck, is the cause.
        kind = type(error).__name__
        return (
            "error",
            f"{subject}: the target sent data too large or too deeply nested to read ({kind})",
            False,
        )
    if isinstance(error, LIBRARY_EXCEPTIONS):
        kind = type(error).__name__
        return "error", f"{subject} could not reach its target: {kind}: {error}", False
    kind = type(error).__name__
    return (
        "error",
        f"internal error in check {declaration.id}: {kind}: {error}; this is an opscheck bug, "
        "please report it with the JSON report",
        True,
    )


def _duration(item: pytest.Item, report: pytest.TestReport) -> float:
    return float(report.duration)


def redacted(result: Result) -> Result:
    """Return the result with every secret removed from its message and evidence."""
    redactor = redaction.current()
    result.message = redactor.text(result.message)
    result.evidence = redactor.data(result.evidence)
    return result


def shape_report(report: pytest.TestReport, result: Result) -> None:
    """Make pytest's own report agree with the result, without a traceback for known outcomes.

    A waived result becomes a skip, so a plain ``pytest`` run passes where opscheck does.
    """
    if result.outcome == "waived":
        report.outcome = "skipped"
        location = report.location
        report.longrepr = (
            str(location[0]),
            (location[1] or 0) + 1,
            f"Skipped: {result.message}",
        )
        return
    if result.outcome in ("failed", "error") and not result.internal_error:
        report.longrepr = f"{result.name}: {result.message}"
