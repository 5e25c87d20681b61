"""Tests of the deploy gate: checklist, off-peak window, phases, version, rollback, --wait.

The checklist and window tests run the CLI on a config alone, since they reach no
system. The others run the gate on the bundled demo stack with its faults.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from opscheck.checks.deploy_gate import in_window, until_start

from tests.support.cli import Result, clean_environment, opscheck_executable
from tests.support.demo import DemoHandle

ITEMS = (
    "staging_tests_passed",
    "team_notified",
    "rollback_plan_ready",
    "oncall_available",
)
PRE = {
    "backup.recent",
    "deploy.attestations",
    "deploy.offpeak_window",
    "services.running",
    "services.healthy",
    "db.accepting_connections",
}
POST = {
    "services.running",
    "services.healthy",
    "services.restarts",
    "health.endpoint",
    "health.latency",
    "logs.recent_errors",
    "services.image_version",
    "services.rollback_image",
}
Results = dict[tuple[str, str | None], dict[str, Any]]


def _attest_all(*skip: str) -> list[str]:
    arguments = []
    for item in ITEMS:
        if item not in skip:
            arguments += ["--attest", f"{item}=checked by test"]
    return arguments


def _by_key(report: dict[str, Any]) -> Results:
    return {(entry["id"], entry["target"]): entry for entry in report["results"]}


# Checklist and window, on a config alone ---------------------------------------------


def _window_config(folder: Path, start: str, end: str) -> Path:
    path = folder / "opscheck.yaml"
    path.write_text(
        yaml.safe_dump({"deploy": {"offpeak": {"start": start, "end": end}}})
    )
    return path


def _gate(
    opscheck_cli: Callable[..., Result], config: Path, check: str, *extra: str
) -> tuple[Result, dict[str, Any] | None]:
    result = opscheck_cli(
        "deploy-gate",
        "--phase",
        "pre",
        "--config",
        config,
        "-k",
        check,
        "--json",
        "out.json",
        "--html",
        "out.html",
        *extra,
    )
    report = result.json("out.json") if (result.cwd / "out.json").exists() else None
    return result, report


def test_attestations_all_given_pass(
    opscheck_cli: Callable[..., Result], tmp_path: Path
) -> None:
    config = _window_config(tmp_path, "00:00", "00:00")

    result, report = _gate(opscheck_cli, config, "deploy.attestations", *_attest_all())

    assert result.exit_code == 0, result.stdout + result.stderr
    assert report is not None
    results = _by_key(report)
    assert {target for _, target in results} == set(ITEMS)
    assert all(entry["outcome"] == "passed" for entry in results.values())
    recorded = {item["key"]: item for item in report["run"]["attestations"]}
    assert set(recorded) == set(ITEMS)
    assert recorded["team_notified"]["note"] == "checked by test"
    assert recorded["team_notified"]["by"]
    assert recorded["team_notified"]["at"].endswith("Z")
    message = results[("deploy.attestations", "team_notified")]["message"]
    assert message.startswith("checklist item team_notified attested by ")
    assert message.endswith(": checked by test")


def test_attestations_shown_in_html(
    opscheck_cli: Callable[..., Result], tmp_path: Path
) -> None:
    config = _window_config(tmp_path, "00:00", "00:00")

    _gate(
        opscheck_cli,
        config,
        "deploy.attestations",
        *_attest_all(),
        "--attest",
        "oncall_available=<b>pager</b> Alice",
    )

    html = (tmp_path / "out.html").read_text()
    for item in ITEMS:
        assert item in html, f"{item} is not in the HTML report"
    assert "&lt;b&gt;pager&lt;/b&gt; Alice" in html
    assert "<b>pager</b>" not in html


def test_attestation_missing_fails_naming_it(
    opscheck_cli: Callable[..., Result], tmp_path: Path
) -> None:
    config = _window_config(tmp_path, "00:00", "00:00")

    result, report = _gate(
        opscheck_cli, config, "deploy.attestations", *_attest_all("rollback_plan_ready")
    )

    assert result.exit_code == 1
    assert report is not None
    missing = _by_key(report)[("deploy.attestations", "rollback_plan_ready")]
    assert missing["outcome"] == "failed"
    assert missing["message"] == (
        "checklist item rollback_plan_ready is not attested (missing: "
        "rollback_plan_ready); confirm it, then pass --attest rollback_plan_ready[=NOTE]"
    )
    assert missing["evidence"]["missing"] == ["rollback_plan_ready"]
    assert _by_key(report)[("deploy.attestations", "team_notified")]["outcome"] == (
        "passed"
    )
    assert "rollback_plan_ready" in result.stdout


def test_attestation_file_is_read(
    opscheck_cli: Callable[..., Result], tmp_path: Path
) -> None:
    config = _window_config(tmp_path, "00:00", "00:00")
    attestations = tmp_path / "attest.yaml"
    attestations.write_text(yaml.safe_dump({item: "from file" for item in ITEMS}))

    result, report = _gate(
        opscheck_cli, config, "deploy.attestations", "--attest-file", attestations
    )

    assert result.exit_code == 0, result.stdout + result.stderr
    assert report is not None
    sources = {item["source"] for item in report["run"]["attestations"]}
    assert sources == {f"file {attestations}"}


@pytest.mark.parametrize("value", [False, None, "no", "not yet", ""])
def test_attestation_file_false_is_rejected(
    opscheck_cli: Callable[..., Result], tmp_path: Path, value: object
) -> None:
    config = _window_config(tmp_path, "00:00", "00:00")
    attestations = tmp_path / "attest.yaml"
    items: dict[str, object] = dict.fromkeys(ITEMS, True)
    items["oncall_available"] = value
    attestations.write_text(yaml.safe_dump(items))

    result, report = _gate(
        opscheck_cli, config, "deploy.attestations", "--attest-file", attestations
    )

    assert result.exit_code == 2
    assert report is None
    assert "oncall_available is" in result.stderr
    assert "which does not attest it" in result.stderr


def test_attestation_unknown_key_rejected(
    opscheck_cli: Callable[..., Result], tmp_path: Path
) -> None:
    config = _window_config(tmp_path, "00:00", "00:00")

    result, report = _gate(
        opscheck_cli,
        config,
        "deploy.attestations",
        *_attest_all(),
        "--attest",
        "staging_test_passed",
    )

    assert result.exit_code == 2
    assert report is None
    assert "attestation staging_test_passed (command line) is not a checklist item" in (
        result.stderr
    )
    assert "did you mean staging_tests_passed?" in result.stderr
    assert "Traceback" not in result.stderr


def _hhmm(moment: datetime) -> str:
    return f"{moment:%H:%M}"


def test_offpeak_inside_window_passes(
    opscheck_cli: Callable[..., Result], tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    config = _window_config(
        tmp_path, _hhmm(now - timedelta(hours=1)), _hhmm(now + timedelta(hours=1))
    )

    result, report = _gate(opscheck_cli, config, "deploy.offpeak_window")

    assert result.exit_code == 0
    assert report is not None
    window = _by_key(report)[("deploy.offpeak_window", None)]
    assert window["outcome"] == "passed"


def test_offpeak_outside_window_warns(
    opscheck_cli: Callable[..., Result], tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    start, end = now + timedelta(hours=2), now + timedelta(hours=3)
    config = _window_config(tmp_path, _hhmm(start), _hhmm(end))

    result, report = _gate(opscheck_cli, config, "deploy.offpeak_window")
    strict, _ = _gate(
        opscheck_cli, config, "deploy.offpeak_window", "--fail-on", "warning"
    )

    assert result.exit_code == 0
    assert strict.exit_code == 1
    assert report is not None
    window = _by_key(report)[("deploy.offpeak_window", None)]
    assert window["outcome"] == "warning"
    assert (
        f"outside the off-peak window {_hhmm(start)}-{_hhmm(end)} UTC"
        in (window["message"])
    )
    assert (
        "which opens in 1 h 5" in window["message"]
        or "opens in 2 h" in (window["message"])
    )


def test_offpeak_window_across_midnight() -> None:
    start, end = clock(22, 0), clock(6, 0)

    assert in_window(clock(23, 30), start, end)
    assert in_window(clock(0, 0), start, end)
    assert in_window(clock(5, 59), start, end)
    assert not in_window(clock(6, 0), start, end)
    assert not in_window(clock(12, 0), start, end)
    assert not in_window(clock(21, 59), start, end)
    assert in_window(clock(3, 0), clock(1, 0), clock(4, 0))
    assert not in_window(clock(4, 0), clock(1, 0), clock(4, 0))


def test_offpeak_opens_next_day() -> None:
    now = datetime(2026, 12, 4, 23, 0, tzinfo=UTC)

    assert until_start(now, clock(22, 0)) == timedelta(hours=23)
    assert until_start(now, clock(23, 30)) == timedelta(minutes=30)


# The gate on the demo stack ---------------------------------------------------------


def _demo_gate(
    opscheck_cli: Callable[..., Result], demo: DemoHandle, phase: str, *extra: str
) -> tuple[Result, Results]:
    result = opscheck_cli(
        "deploy-gate",
        "--phase",
        phase,
        "--config",
        demo.config_path,
        *extra,
        env={"DOCKER_HOST": demo.host},
        cwd=demo.directory.parent,
    )
    assert result.exit_code in (0, 1), f"{result.stdout}\n{result.stderr}"
    report = result.json(demo.directory.parent / "reports" / "deploy_gate-latest.json")
    assert report["run"]["phase"] == phase
    assert report["run"]["exit_status"] == result.exit_code
    return result, _by_key(report)


def _not_passed(results: Results) -> dict[tuple[str, str | None], str]:
    return {
        key: f"{entry['outcome']}: {entry['message']}"
        for key, entry in results.items()
        if entry["outcome"] != "passed"
    }


@pytest.fixture
def healed(demo_stack: DemoHandle) -> Iterator[DemoHandle]:
    yield demo_stack
    demo_stack.heal()


@pytest.mark.slow
def test_pre_phase_passes_with_checklist(
    opscheck_cli: Callable[..., Result], demo_stack: DemoHandle
) -> None:
    demo_stack.heal()

    result, results = _demo_gate(opscheck_cli, demo_stack, "pre", *_attest_all())

    assert {check for check, _ in results} == PRE
    problems = _not_passed(results)
    # Outside 22:00-06:00 UTC the window check warns, which does not fail the gate.
    problems.pop(("deploy.offpeak_window", None), None)
    assert problems == {}
    assert result.exit_code == 0


@pytest.mark.slow
def test_pre_phase_fails_without_item(
    opscheck_cli: Callable[..., Result], demo_stack: DemoHandle
) -> None:
    result, results = _demo_gate(
        opscheck_cli, demo_stack, "pre", *_attest_all("oncall_available")
    )

    assert result.exit_code == 1
    failed = {key for key, entry in results.items() if entry["outcome"] == "failed"}
    assert failed == {("deploy.attestations", "oncall_available")}
    assert "checklist item oncall_available is not attested" in result.stdout


@pytest.mark.slow
def test_post_phase_checks_version(
    opscheck_cli: Callable[..., Result], demo_stack: DemoHandle
) -> None:
    right, right_results = _demo_gate(
        opscheck_cli, demo_stack, "post", "--expect-version", "1.4.2"
    )
    wrong, wrong_results = _demo_gate(
        opscheck_cli, demo_stack, "post", "--expect-version", "9.9.9"
    )

    assert {check for check, _ in right_results} == POST
    # The deploy updates backend and frontend; the other two services are not its own.
    not_passed = _not_passed(right_results)
    assert set(not_passed) == {
        ("services.image_version", "db"),
        ("services.image_version", "nginx"),
        ("services.rollback_image", "db"),
        ("services.rollback_image", "nginx"),
        ("logs.recent_errors", "db"),
        ("logs.recent_errors", "nginx"),
    }, not_passed
    for key in _not_passed(right_results):
        assert right_results[key]["outcome"] == "skipped", right_results[key]
    assert right.exit_code == 0
    assert right_results[("services.rollback_image", "backend")]["message"] == (
        "service backend can roll back to opscheck-demo/backend:1.4.1"
    )

    assert wrong.exit_code == 1
    backend = wrong_results[("services.image_version", "backend")]
    assert backend["outcome"] == "failed"
    assert backend["message"].startswith(
        "service backend does not run version 9.9.9: taskmanagement_backend runs "
        "opscheck-demo/backend:1.4.2"
    )


@pytest.mark.slow
def test_rollback_image_missing_warns(
    opscheck_cli: Callable[..., Result], demo_stack: DemoHandle
) -> None:
    client = docker.DockerClient(base_url=demo_stack.host, timeout=30)
    previous = client.images.get("opscheck-demo/backend:1.4.1")
    client.images.remove("opscheck-demo/backend:1.4.1")
    try:
        _, results = _demo_gate(
            opscheck_cli, demo_stack, "post", "-k", "services.rollback_image"
        )
    finally:
        previous.tag("opscheck-demo/backend", "1.4.1")

    backend = results[("services.rollback_image", "backend")]
    assert backend["outcome"] == "warning"
    assert backend["message"].startswith(
        "service backend has no previous image kept locally for a rollback "
        "(taskmanagement_backend runs opscheck-demo/backend:1.4.2"
    )
    assert results[("services.rollback_image", "frontend")]["outcome"] == "passed"


@pytest.mark.slow
def test_slow_backend_latency_warns(
    opscheck_cli: Callable[..., Result], healed: DemoHandle
) -> None:
    healed.break_("slow-backend")

    result, results = _demo_gate(
        opscheck_cli, healed, "post", "--expect-version", "1.4.2"
    )
    strict, _ = _demo_gate(
        opscheck_cli, healed, "post", "-k", "health.latency", "--fail-on", "warning"
    )

    latency = results[("health.latency", "backend")]
    assert latency["outcome"] == "warning"
    assert latency["evidence"]["median_ms"] >= 400
    assert "above the warning level 300 ms" in latency["message"]
    assert results[("health.latency", "frontend")]["outcome"] == "passed"
    assert result.exit_code == 0, _not_passed(results)
    assert strict.exit_code == 1


@pytest.mark.slow
def test_faults_fail_the_gate(
    opscheck_cli: Callable[..., Result], healed: DemoHandle
) -> None:
    healed.break_("restart-loop", "old-backup", "bad-image-version")

    pre, pre_results = _demo_gate(opscheck_cli, healed, "pre", *_attest_all())
    post, post_results = _demo_gate(
        opscheck_cli,
        healed,
        "post",
        "--expect-version",
        "1.4.2",
        "-k",
        "restarts or image_version",
    )

    assert pre.exit_code == 1
    assert (
        pre_results[("backup.recent", str(healed.directory / "backups" / "database"))][
            "outcome"
        ]
        == "failed"
    )
    assert post.exit_code == 1
    restarts = post_results[("services.restarts", "frontend")]
    assert restarts["outcome"] == "failed"
    assert restarts["message"].startswith(
        ("service frontend is in a restart loop", "service frontend is restarting")
    )
    assert post_results[("services.restarts", "backend")]["outcome"] == "passed"
    version = post_results[("services.image_version", "backend")]
    assert version["outcome"] == "failed"
    assert "runs opscheck-demo/backend:1.4.1" in version["message"]


@pytest.mark.slow
def test_wait_passes_after_backend_restart(
    demo_stack: DemoHandle,
) -> None:
    demo_stack.heal()
    client = docker.DockerClient(base_url=demo_stack.host, timeout=30)
    backend = client.containers.get("taskmanagement_backend")
    backend.stop(timeout=10)
    folder = demo_stack.directory.parent
    command = [
        str(opscheck_executable()),
        "deploy-gate",
        "--phase",
        "post",
        "--config",
        str(demo_stack.config_path),
        "--expect-version",
        "1.4.2",
        "--wait",
        "60",
        "--wait-interval",
        "2",
        "--json",
        "wait.json",
    ]
    started = time.monotonic()
    gate = subprocess.Popen(
        command,
        cwd=folder,
        env=clean_environment({"DOCKER_HOST": demo_stack.host}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The CLI starts and reaches services.running[backend] within a few seconds,
        # so its first attempt finds the backend stopped.
        time.sleep(8)
        backend.start()
        stdout, stderr = gate.communicate(timeout=120)
    finally:
        if gate.poll() is None:
            gate.kill()
            gate.wait()

    report = json.loads((folder / "wait.json").read_text())
    results = _by_key(report)
    running = results[("services.running", "backend")]
    assert gate.returncode == 0, f"{stdout}\n{stderr}\n{_not_passed(results)}"
    assert len(running["attempts"]) >= 2
    assert running["attempts"][0]["outcome"] == "failed"
    assert running["attempts"][-1]["outcome"] == "passed"
    assert "passed_after_s" in running["evidence"]
    assert time.monotonic() - started < 120
