"""The daily suite on the bundled demo stack: healthy, then with faults injected."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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
