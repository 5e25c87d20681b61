"""Running a check more than once: after a remediation, and under ``--wait``.

A check that did not pass is run again, within the same pytest item, until it passes or
the wait is over. Only the last run's reports reach the other plugins, so reports count
each check and target once; the result records every attempt.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from opscheck.declaration import declaration_of
from opscheck.errors import CheckError
from opscheck.log import logger
from opscheck.plugin.results import Result, result_data
from opscheck.plugin.state import RunState, iso, utc_now

SETTLED = ("passed", "skipped", "waived")


def _result_entry(
    reports: list[pytest.TestReport],
) -> tuple[pytest.TestReport, dict[str, Any]] | None:
    for report in reports:
        data = result_data(report)
        if data is not None:
            return report, data
    return None


class CheckTimedOut(CheckError):
    """A check ran past its time limit and was stopped."""


def _run_once(
    item: pytest.Item, nextitem: pytest.Item | None
) -> list[pytest.TestReport]:
    """Run one check's setup, call and teardown, stopped at its time limit.

    The limit is a SIGALRM timer, so it works where pytest runs checks: in the main
    thread of the main process or of an xdist worker. Elsewhere it is not set.
    """
    from opscheck.plugin.hooks import TIMEOUT_KEY

    limit = item.stash.get(TIMEOUT_KEY, None)
    if limit is None or threading.current_thread() is not threading.main_thread():
        return runtestprotocol(item, nextitem=nextitem, log=False)

    declaration = declaration_of(getattr(item, "function", None))
    check_id = declaration.id if declaration else item.name

    def stop(_signal: int, _frame: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        raise CheckTimedOut(
            f"{check_id} timed out after {limit:g} s: the target did not answer in time "
            f"(raise checks.{check_id}.timeout_s or --timeout if it is only slow)",
            timeout_s=limit,
        )

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        return runtestprotocol(item, nextitem=nextitem, log=False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_with_retries(
    item: pytest.Item, nextitem: pytest.Item | None, state: RunState
) -> list[pytest.TestReport]:
    """Run one check, remediate and re-run it when asked, and retry it under ``--wait``."""
    started = time.monotonic()
    reports = _run_once(item, nextitem)
    found = _result_entry(reports)
    if found is None:
        return reports

    attempts = [_attempt(found[1], started)]
    remediation = _remediate(item, nextitem, state, found[1])
    if remediation is not None:
        entry, after_reports = remediation
        if after_reports is not None:
            reports = after_reports
            found = _result_entry(reports) or found
            attempts.append(_attempt(found[1], started))
        found[1]["remediation"] = entry

    # --wait bounds the whole run, not each check: every check that did not pass is
    # retried until the same moment, the run's start plus the wait.
    deadline = state.monotonic_start + state.wait_s
    while state.wait_s > 0 and found[1]["outcome"] not in SETTLED:
        pause = min(state.wait_interval_s, deadline - time.monotonic())
        if pause <= 0:
            break
        logger.info(
            "%s did not pass (%s); running it again in %.1f s",
            found[1]["id"],
            found[1]["outcome"],
            pause,
        )
        time.sleep(pause)
        reports = _run_once(item, nextitem)
        found = _result_entry(reports) or found
        attempts.append(_attempt(found[1], started))

    if len(attempts) > 1:
        found[1]["attempts"] = attempts
        if found[1]["outcome"] in SETTLED:
            found[1]["evidence"]["passed_after_s"] = attempts[-1]["after_s"]
    return reports


def _attempt(result: dict[str, Any], started: float) -> dict[str, Any]:
    return {
        "at": iso(utc_now()),
        "after_s": round(time.monotonic() - started, 2),
        "outcome": result["outcome"],
        "message": result["message"],
    }


def _remediate(
    item: pytest.Item,
    nextitem: pytest.Item | None,
    state: RunState,
    result: dict[str, Any],
) -> tuple[dict[str, Any], list[pytest.TestReport] | None] | None:
    paired = result.get("remediation")
    if state.remediate == "off" or not paired or result["outcome"] in SETTLED:
        return None

    from opscheck.remediation import runner

    record = runner.remediate(Result.from_dict(result), state)
    if record is None:
        return None
    entry: dict[str, Any] = {
        "name": paired["name"],
        "mode": state.remediate,
        "taken": record,
        "before": result["outcome"],
        "after": None,
    }
    if not record.get("ran"):
        return entry, None

    after_reports = _run_once(item, nextitem)
    after = _result_entry(after_reports)
    entry["after"] = after[1]["outcome"] if after else None
    runner.record_recheck(record, entry["after"])
    return entry, after_reports
