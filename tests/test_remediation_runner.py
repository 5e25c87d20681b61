"""The remediation runner: modes, validation, cap, lock, timeout and audit log.

These run real processes: the shipped remediation executables and small Python
scripts, and PostgreSQL clients against a port that never responds, to make a
remediation hang for real.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from opscheck.config import loader
from opscheck.errors import RemediationError
from opscheck.plugin.results import Result
from opscheck.plugin.state import ReportPaths, RunState
from opscheck.remediation import audit, runner, validate
from opscheck.remediation.process import execute


def write_config(folder: Path, **sections: Any) -> Path:
    path = folder / "opscheck.yaml"
    data = {"reports": {"dir": "reports"}, **sections}
    remediation = {
        "audit_log": str(folder / "audit.jsonl"),
        "lock_file": str(folder / "remediation.lock"),
        **sections.get("remediation", {}),
    }
    data["remediation"] = remediation
    path.write_text(yaml.safe_dump(data))
    return path


def state_for(config: Path, mode: str) -> RunState:
    return RunState(
        loaded=loader.load(config),
        suite="daily",
        fail_on="critical",
        reports=ReportPaths(),
        remediate=mode,
    )


def failed(check_id: str, target: str | None) -> Result:
    return Result(id=check_id, target=target, outcome="failed", message="broken")


def test_off_runs_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    state = state_for(config, "off")

    record = runner.remediate(failed("services.healthy", "frontend"), state)

    assert record is None
    assert not (tmp_path / "audit.jsonl").exists()


def test_check_without_remediation(tmp_path: Path) -> None:
    state = state_for(write_config(tmp_path), "auto")

    record = runner.remediate(failed("db.accepting_connections", "taskdb"), state)

    assert record is None


def test_dry_run_records_command(tmp_path: Path) -> None:
    state = state_for(write_config(tmp_path), "dry-run")

    record = runner.remediate(failed("health.endpoint", "frontend"), state)

    assert record is not None
    assert record["ran"] is False
    assert record["reason"] == (
        "dry run: would run restart-service --project taskmanagement "
        "--service frontend --healthy-timeout 120"
    )
    assert record["argv"][0] == sys.executable
    assert record["argv"][1].endswith("remediations/restart-service")
    entries = audit.read(tmp_path / "audit.jsonl")
    assert [entry["mode"] for entry in entries] == ["dry-run"]
    assert entries[0]["check"] == "health.endpoint"
    assert entries[0]["user"]
    assert entries[0]["host"]


def test_ask_without_terminal_refuses(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    # A new session has no controlling terminal, so /dev/tty cannot be opened.
    script = textwrap.dedent(
        f"""
        import json
        from pathlib import Path
        from opscheck.config import loader
        from opscheck.plugin.results import Result
        from opscheck.plugin.state import ReportPaths, RunState
        from opscheck.remediation import runner
        state = RunState(loaded=loader.load({str(config)!r}), suite="daily",
                         fail_on="critical", reports=ReportPaths(), remediate="ask")
        result = Result(id="backup.retention", target="x", outcome="warning", message="m")
        print(json.dumps(runner.remediate(result, state)))
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        check=True,
        timeout=60,
    )
    record = json.loads(completed.stdout)

    assert record["ran"] is False
    assert record["reason"] == (
        "not run: --remediate ask needs a terminal to confirm on, and none is "
        "attached; use --remediate auto or dry-run"
    )


# Runs a command on a new pseudo-terminal as its controlling terminal: the session
# leader opens the terminal by name, which makes it the session's terminal on Linux.
_ON_TERMINAL = (
    "import os, sys; os.close(os.open(sys.argv[1], os.O_RDWR)); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


def run_on_terminal(argv: list[str], answer: bytes, cwd: Path) -> tuple[int, str]:
    """Run ``argv`` at a pseudo-terminal, type ``answer`` at its first [y/N] prompt."""
    controller, terminal = os.openpty()
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "OPSCHECK_"))
    }
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _ON_TERMINAL, os.ttyname(terminal), *argv],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            start_new_session=True,
            cwd=cwd,
            env=environment,
        )
    finally:
        os.close(terminal)

    screen = b""
    answered = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: every copy of the terminal side is closed
                break
            if not chunk:
                break
            screen += chunk
            if not answered and b"[y/N] " in screen:
                os.write(controller, answer)
                answered = True
        exit_code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    return exit_code, screen.decode("utf-8", "replace").replace("\r\n", "\n")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"y\n", "completed with exit status 0"),
        (b"n\n", "not run: declined at the terminal"),
    ],
)
def test_ask_confirms_at_terminal(tmp_path: Path, answer: bytes, reason: str) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    day = 86400
    old = []
    for days_old in (40, 41):
        moment = time.time() - days_old * day
        path = backups / time.strftime(
            "backup_%Y%m%d_%H%M%S.sql.gz", time.gmtime(moment)
        )
        path.write_bytes(b"-- PostgreSQL database dump")
        os.utime(path, (moment, moment))
        old.append(path)
    config = write_config(tmp_path, backups={"path": str(backups), "keep_newest": 1})
    opscheck = Path(sys.prefix) / "bin" / "opscheck"

    exit_code, screen = run_on_terminal(
        [str(opscheck), "weekly", "--config", str(config), "--remediate", "ask",
         "-k", "backup.retention"],
        answer,
        tmp_path,
    )  # fmt: skip

    assert "did not pass; run prune-old-backups --folder" in screen, screen
    assert "needs a terminal" not in screen
    entries = audit.read(tmp_path / "audit.jsonl")
    assert entries[0]["reason"] == reason
    assert entries[0]["ran"] is (answer == b"y\n")
    # Only a yes removes the older backup; the newest one is always kept.
    assert old[0].exists()
    assert old[1].exists() is (answer == b"n\n")
    assert exit_code in (0, 1)


def test_auto_runs_and_caps(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    config = write_config(
        tmp_path, backups={"path": str(backups)}, remediation={"max_per_run": 1}
    )
    state = state_for(config, "auto")

    first = runner.remediate(failed("backup.retention", str(backups)), state)
    second = runner.remediate(failed("backup.retention", str(backups)), state)

    assert first is not None
    assert second is not None
    assert first["ran"] is True
    assert first["exit_status"] == 0
    assert first["reason"] == "completed with exit status 0"
    assert "removed 0 backups older than 30 days" in first["output"]
    assert second["ran"] is False
    assert second["reason"] == (
        "skipped: 1 remediations already ran in this run, the limit set by "
        "remediation.max_per_run (1)"
    )
    runner.record_recheck(first, "passed", before="warning")
    entries = audit.read(tmp_path / "audit.jsonl")
    assert [entry["event"] for entry in entries] == [
        "remediation",
        "remediation",
        "recheck",
    ]
    assert entries[2]["remediation_id"] == first["id"]
    assert entries[2]["outcome"] == "passed"
    assert entries[2]["before"] == "warning"


def test_invalid_table_not_run(tmp_path: Path) -> None:
    config = loader.load(write_config(tmp_path)).config

    record = runner.run_by_hand(
        "vacuum-analyze", config, target="tasks; DROP TABLE tasks", dry_run=False
    )

    assert record["ran"] is False
    assert record["reason"] == (
        "not run: table 'tasks; DROP TABLE tasks' is not a plain SQL identifier such "
        "as tasks or public.tasks; name the table without quotes"
    )
    assert record["argv"] == []


def test_default_paths_resolved_from_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    backups = folder / "backups"
    backups.mkdir()
    config = folder / "opscheck.yaml"
    config.write_text(yaml.safe_dump({"backups": {"path": "backups"}}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    state = state_for(config, "dry-run")

    record = runner.remediate(failed("backup.retention", str(backups)), state)
    by_hand = runner.run_by_hand(
        "capture-evidence",
        state.loaded.config,
        target="backend",
        dry_run=True,
        base_dir=folder,
    )

    assert record is not None
    assert record["audit_log"] == str(folder / "reports/remediation-audit.jsonl")
    assert by_hand["reason"] == (
        "dry run: would run capture-evidence --project taskmanagement --output-dir "
        f"{folder}/reports/evidence --since-hours 24 --service backend"
    )
    assert len(audit.read(folder / "reports/remediation-audit.jsonl")) == 2
    assert not (elsewhere / "reports").exists()


def test_default_paths_by_hand(tmp_path: Path, opscheck_cli: Any) -> None:
    result = opscheck_cli("remediate", "capture-evidence", "--dry-run")

    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"--output-dir {tmp_path}/reports/evidence " in result.stdout
    assert "not an absolute path" not in result.stdout
    entries = audit.read(tmp_path / "reports/remediation-audit.jsonl")
    assert entries[0]["reason"].startswith("dry run: would run capture-evidence")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Path("backups"), "backups.path backups is not an absolute path"),
        (Path("/backups/../etc"), "backups.path /backups/../etc contains '..'"),
    ],
)
def test_paths_validated(value: Path, message: str) -> None:
    with pytest.raises(RemediationError) as raised:
        validate.absolute_path(value, "backups.path")

    assert str(raised.value).startswith(message)


def test_names_validated() -> None:
    with pytest.raises(RemediationError) as raised:
        validate.name("db;reboot", "service")

    assert "service 'db;reboot' is not a valid name" in str(raised.value)
    assert validate.name("taskmanagement_db-1", "service") == "taskmanagement_db-1"


def test_execute_stops_process_group(tmp_path: Path) -> None:
    child_pid = tmp_path / "child.pid"
    script = tmp_path / "hang.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, signal, subprocess, sys, time
            child = subprocess.Popen([sys.executable, "-c",
                "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "time.sleep(600)"])
            open({str(child_pid)!r}, "w").write(str(child.pid))
            print("started", flush=True)
            time.sleep(600)
            """
        )
    )
    started = time.monotonic()

    execution = execute([sys.executable, str(script)], dict(os.environ), 1.0)

    elapsed = time.monotonic() - started
    assert execution.timed_out is True
    assert execution.exit_status is not None
    assert execution.exit_status < 0
    assert "started" in execution.output
    assert elapsed < 10
    pid = int(child_pid.read_text())
    assert _is_gone(pid), f"child {pid} that ignores SIGTERM survived the timeout"


def _is_gone(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A killed child of an ended parent is a zombie until init reaps it.
        status = Path(f"/proc/{pid}/status")
        if status.exists() and "State:\tZ" in status.read_text():
            return True
        time.sleep(0.1)
    return False


def _hanging_database_config(folder: Path, port: int, **remediation: Any) -> Path:
    # A port that never answers makes the PostgreSQL client wait its whole
    # connect timeout (30 s), longer than the remediation timeout.
    return write_config(
        folder,
        database={"host": "127.0.0.1", "port": port, "connect_timeout_s": 30},
        remediation=remediation,
    )


def test_hung_remediation_times_out(tmp_path: Path, silent_port: Any) -> None:
    config = loader.load(
        _hanging_database_config(tmp_path, silent_port.port, timeout_s=1.5)
    ).config
    started = time.monotonic()

    record = runner.run_by_hand(
        "terminate-long-queries", config, target=None, dry_run=False
    )

    assert time.monotonic() - started < 12
    assert record["ran"] is True
    assert record["timed_out"] is True
    assert record["reason"] == (
        "timed out after 1.5 s (remediation.timeout_s); its process group was stopped"
    )
    entries = audit.read(tmp_path / "audit.jsonl")
    assert entries[-1]["timed_out"] is True


def test_concurrent_runs_take_turns(
    tmp_path: Path, silent_port: Any, opscheck_cli: Any
) -> None:
    config = _hanging_database_config(
        tmp_path, silent_port.port, timeout_s=4, lock_wait_s=0.5
    )
    command = [
        str(Path(sys.prefix) / "bin" / "opscheck"),
        "remediate",
        "terminate-long-queries",
        "--config",
        str(config),
    ]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)

    second = opscheck_cli(*command[1:])
    first.communicate(timeout=30)

    assert second.exit_code == 1
    assert (
        "skipped: another opscheck process holds the remediation lock" in second.stdout
    )
    entries = audit.read(tmp_path / "audit.jsonl")
    assert [entry["ran"] for entry in entries] == [False, True]
    assert entries[1]["timed_out"] is True
