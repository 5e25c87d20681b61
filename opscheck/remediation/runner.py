"""Taking the paired remediation of a check that did not pass, in the ``--remediate`` mode.

``remediate(result, state)`` is called by the plugin for a check that did not pass. It
returns a JSON-ready record of what it did (or None when the check has no paired
remediation or remediation is off); when ``record["ran"]`` is true the plugin re-runs
the check and calls ``record_recheck(record, outcome)``. Every decision, dry runs and
refusals included, is appended to the audit log.

Modes: ``dry-run`` records what would run; ``ask`` confirms each run at the terminal
and runs nothing without one; ``auto`` runs unattended. At most
``remediation.max_per_run`` remediations run per opscheck run, one at a time across
processes (``remediation.lock_file``), each for at most ``remediation.timeout_s``.
"""

from __future__ import annotations

import shlex
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opscheck import redaction
from opscheck.catalogue import load_catalogue
from opscheck.config.model import Config
from opscheck.errors import RemediationError
from opscheck.log import logger
from opscheck.plugin.results import Result
from opscheck.plugin.state import RunState
from opscheck.remediation import audit, paths, registry, terminal
from opscheck.remediation.lock import LockBusy, remediation_lock
from opscheck.remediation.process import environment, execute

MODES = ("off", "dry-run", "ask", "auto")
# Secret environment variables of an invocation; their values are masked everywhere.
SECRET_VARIABLES = ("PGPASSWORD",)

# Remediations run so far, by run id, for remediation.max_per_run.
_runs_taken: dict[str, int] = {}


def remediate(result: Result, state: RunState) -> dict[str, Any] | None:
    """Take the remediation paired with ``result``'s check, in the mode ``state.remediate``."""
    if state.remediate == "off":
        return None
    declaration = load_catalogue().get(result.id)
    name = declaration.remediation if declaration else None
    if not name:
        return None
    context = registry.Context(
        paths.resolved(state.loaded.config, state.loaded.base_dir),
        check_id=result.id,
        target=result.target,
        per=declaration.per if declaration else None,
    )
    return take(name, context, state.remediate, run_id=state.run_id)


def run_by_hand(
    name: str,
    config: Config,
    *,
    target: str | None,
    dry_run: bool,
    base_dir: Path | None = None,
) -> dict[str, Any]:
    """Run one remediation for ``opscheck remediate``: locked, timed and audited, no cap.

    Relative remediation paths are taken from ``base_dir``, the config file's folder,
    or from the current folder when it is None. Raise UsageError when ``target`` is
    given to a remediation that takes none.
    """
    registry.check_target(registry.get(name), target)
    context = registry.Context(
        paths.resolved(config, base_dir), check_id=None, target=target, per=None
    )
    return take(name, context, "dry-run" if dry_run else "auto", run_id=None)


def record_recheck(
    record: Mapping[str, Any], outcome: str, before: str | None = None
) -> None:
    """Append the outcome of the check's re-run after a remediation to the audit log."""
    entry = {
        "event": "recheck",
        "remediation_id": record.get("id"),
        "check": record.get("check"),
        "target": record.get("target"),
        "remediation": record.get("name"),
        "mode": record.get("mode"),
        "before": before,
        "outcome": outcome,
    }
    audit_log = record.get("audit_log")
    if audit_log:
        audit.append(Path(audit_log), entry)


def take(
    name: str, context: registry.Context, mode: str, *, run_id: str | None
) -> dict[str, Any]:
    """Decide whether to run ``name`` for ``context``, run it if so, and audit it."""
    if mode not in MODES or mode == "off":
        raise RemediationError(f"remediation mode {mode!r} does not run anything")
    settings = context.config.remediation
    record: dict[str, Any] = {
        "id": uuid.uuid4().hex[:12],
        "event": "remediation",
        "name": name,
        "mode": mode,
        "check": context.check_id,
        "target": context.target,
        "acts_on": None,
        "argv": [],
        "environment": [],
        "exit_status": None,
        "duration_s": 0.0,
        "output": "",
        "timed_out": False,
        "ran": False,
        "reason": "",
        "run_id": run_id,
        "audit_log": str(settings.audit_log),
    }
    try:
        _decide_and_run(name, context, mode, run_id, record)
    finally:
        record["output"] = redaction.current().text(record["output"])
        record["reason"] = redaction.current().text(record["reason"])
        _audit(record, settings.audit_log)
    return record


def _decide_and_run(
    name: str,
    context: registry.Context,
    mode: str,
    run_id: str | None,
    record: dict[str, Any],
) -> None:
    settings = context.config.remediation
    try:
        remediation = registry.get(name)
        invocation = remediation.build(context)
    except RemediationError as exc:
        record["reason"] = f"not run: {exc.message}"
        return

    redaction.register_secrets(
        value
        for key, value in invocation.environment.items()
        if key in SECRET_VARIABLES
    )
    script = remediation.script
    argv = [sys.executable, str(script), *invocation.arguments]
    record.update(
        argv=argv,
        acts_on=invocation.acts_on,
        environment=sorted(invocation.environment),
    )
    command = shlex.join([name, *invocation.arguments])

    if not script.is_file():
        record["reason"] = (
            f"not run: executable {script} is missing; reinstall opscheck"
        )
        return
    if mode == "dry-run":
        record["reason"] = f"dry run: would run {command}"
        return

    taken = _runs_taken.get(run_id, 0) if run_id else 0
    if run_id and taken >= settings.max_per_run:
        record["reason"] = (
            f"skipped: {taken} remediations already ran in this run, the limit set by "
            f"remediation.max_per_run ({settings.max_per_run})"
        )
        return

    if mode == "ask":
        subject = f"{context.check_id}[{context.target}]" if context.check_id else name
        answer = terminal.confirm(f"opscheck: {subject} did not pass; run {command}?")
        if answer is None:
            record["reason"] = (
                "not run: --remediate ask needs a terminal to confirm on, and none is "
                "attached; use --remediate auto or dry-run"
            )
            return
        if not answer:
            record["reason"] = "not run: declined at the terminal"
            return

    try:
        with remediation_lock(settings.lock_file, settings.lock_wait_s):
            if run_id:
                _runs_taken[run_id] = taken + 1
            execution = execute(
                argv, environment(invocation.environment), settings.timeout_s
            )
    except LockBusy:
        record["reason"] = (
            "skipped: another opscheck process holds the remediation lock "
            f"{settings.lock_file} (waited {settings.lock_wait_s:g} s)"
        )
        return
    except OSError as exc:
        record["reason"] = f"not run: starting {script} failed: {exc}"
        return

    record.update(
        ran=True,
        exit_status=execution.exit_status,
        duration_s=execution.duration_s,
        output=execution.output,
        timed_out=execution.timed_out,
    )
    if execution.timed_out:
        record["reason"] = (
            f"timed out after {settings.timeout_s:g} s (remediation.timeout_s); "
            "its process group was stopped"
        )
    elif execution.exit_status == 0:
        record["reason"] = "completed with exit status 0"
    else:
        record["reason"] = f"failed with exit status {execution.exit_status}"


def _audit(record: dict[str, Any], path: Path) -> None:
    entry = {key: value for key, value in record.items() if key != "audit_log"}
    try:
        audit.append(path, entry)
    except OSError as exc:
        logger.error("writing the remediation audit log %s failed: %s", path, exc)
        record["reason"] += f" (audit log {path} not written: {exc.strerror})"
    logger.info(
        "remediation %s for %s[%s]: %s",
        record["name"],
        record["check"],
        record["target"],
        record["reason"],
    )
