"""The daily suite on the bundled demo stack: healthy, then with faults injected."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

pytestmark = pytest.mark.slow


def run_daily(
    opscheck_cli: Any, demo_stack: Any, *args: str
) -> tuple[Any, dict[tuple[str, str | None], dict[str, Any]]]:
    outcome = opscheck_cli(
        "daily",
        "--config",
        str(demo_stack.config_path),
        *args,
        env={"DOCKER_HOST": demo_stack.host},
        cwd=demo_stack.directory.parent,
    )
    assert outcome.exit_code in (0, 1), f"{outcome.stdout}\n{outcome.stderr}"
    report = outcome.json(demo_stack.directory.parent / "reports" / "daily-latest.json")
    return outcome, {(item["id"], item["target"]): item for item in report["results"]}


@pytest.fixture
def healed(demo_stack: Any) -> Iterator[Any]:
    yield demo_stack
    demo_stack.heal()


def test_daily_passes_on_healthy_demo(opscheck_cli: Any, demo_stack: Any) -> None:
    demo_stack.heal()
    outcome, results = run_daily(opscheck_cli, demo_stack)
    not_passed = {
        key: item["message"]
        for key, item in results.items()
        if item["outcome"] != "passed"
    }
    assert not_passed == {}
    assert outcome.exit_code == 0
    assert ("services.running", "backend") in results
    assert ("db.accepting_connections", "taskdb") in results


def test_unhealthy_frontend_fails_daily(opscheck_cli: Any, healed: Any) -> None:
    healed.break_("unhealthy-frontend")
    outcome, results = run_daily(opscheck_cli, healed)
    healthy = results[("services.healthy", "frontend")]
    endpoint = results[("health.endpoint", "frontend")]
    assert outcome.exit_code == 1
    assert healthy["outcome"] == "failed"
    assert healthy["message"].startswith("service frontend is unhealthy")
    assert endpoint["outcome"] == "failed"
    assert "endpoint frontend" in endpoint["message"]
    assert "HTTP 503" in endpoint["message"]
    assert results[("services.healthy", "backend")]["outcome"] == "passed"


def test_db_down_is_refused_and_others_run(opscheck_cli: Any, healed: Any) -> None:
    _, healthy_results = run_daily(
        opscheck_cli, healed, "-k", "not db.connections and not slow_queries"
    )
    healed.break_("db-down")
    outcome, results = run_daily(
        opscheck_cli, healed, "-k", "not db.connections and not slow_queries"
    )
    accepting = results[("db.accepting_connections", "taskdb")]
    assert outcome.exit_code == 1
    assert accepting["outcome"] == "error"
    assert "was refused" in accepting["message"]
    assert accepting["duration_s"] < 10
    assert set(results) == set(healthy_results)
    assert results[("services.running", "db")]["outcome"] == "failed"
    assert results[("health.endpoint", "backend")]["outcome"] == "passed"


def test_up_from_second_folder_is_rejected(
    opscheck_cli: Any, demo_stack: Any, tmp_path: Path
) -> None:
    other = tmp_path / "other-demo"
    before = _container_ids(demo_stack)
    up = opscheck_cli(
        "demo",
        "up",
        "--dir",
        other,
        "--config-out",
        tmp_path / "other.yaml",
        env={"DOCKER_HOST": demo_stack.host},
    )
    expected = (
        f"Error: cannot start the demo in {other}: stack taskmanagement on this "
        f"engine was started from {demo_stack.directory}; take it down first with "
        f"'opscheck demo down --dir {demo_stack.directory}'\n"
    )
    assert up.exit_code == 1
    assert up.stderr == expected
    assert not (other / ".env").exists()
    assert not (tmp_path / "other.yaml").exists()
    assert _container_ids(demo_stack) == before


def test_down_from_second_folder_is_rejected(
    opscheck_cli: Any, demo_stack: Any, tmp_path: Path
) -> None:
    other = tmp_path / "other-demo"
    other.mkdir()
    (other / "docker-compose.yml").write_text("version: '2.4'\nservices: {}\n")
    before = _container_ids(demo_stack)
    down = opscheck_cli(
        "demo", "down", "--dir", other, env={"DOCKER_HOST": demo_stack.host}
    )
    assert down.exit_code == 1
    assert down.stderr.startswith(f"Error: cannot take down the demo in {other}: ")
    assert f"'opscheck demo down --dir {demo_stack.directory}'" in down.stderr
    assert _container_ids(demo_stack) == before


def _container_ids(demo_stack: Any) -> dict[str, str]:
    client = docker.DockerClient(base_url=demo_stack.host, timeout=30)
    labels = ["com.docker.compose.project=taskmanagement"]
    found = client.containers.list(all=True, filters={"label": labels})
    return {c.labels["com.docker.compose.service"]: c.id for c in found}


def run_suite_on_demo(
    opscheck_cli: Any, demo_stack: Any, command: str
) -> tuple[Any, dict[tuple[str, str | None], dict[str, Any]]]:
    outcome = opscheck_cli(
        command,
        "--config",
        str(demo_stack.config_path),
        env={"DOCKER_HOST": demo_stack.host},
        cwd=demo_stack.directory.parent,
    )
    report = outcome.json(
        demo_stack.directory.parent / "reports" / f"{command}-latest.json"
    )
    return outcome, {(item["id"], item["target"]): item for item in report["results"]}


@pytest.mark.parametrize("command", ["weekly", "monthly", "security"])
def test_maintenance_suites_pass_on_demo(
    opscheck_cli: Any, demo_stack: Any, command: str
) -> None:
    demo_stack.heal()
    outcome, results = run_suite_on_demo(opscheck_cli, demo_stack, command)
    broken = {
        key: item["message"]
        for key, item in results.items()
        if item["outcome"] in ("failed", "error")
    }
    assert broken == {}
    assert outcome.exit_code == 0, outcome.stdout
    if command == "monthly":
        restore = results[
            ("backup.restore_test", str(demo_stack.directory / "backups" / "database"))
        ]
        assert restore["outcome"] == "passed", restore
        assert any(
            key[0] == "tls.certificate_expiry" and item["outcome"] == "passed"
            for key, item in results.items()
        )
