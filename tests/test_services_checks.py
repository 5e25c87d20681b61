"""services.running and services.healthy against containers on a test-owned Docker engine."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_suite, write_config

pytestmark = pytest.mark.slow

SECOND = 1_000_000_000


@pytest.fixture
def project(docker_engine: Any) -> Iterator[str]:
    name = f"octest{uuid.uuid4().hex[:8]}"
    yield name
    for container in docker_engine.client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={name}"}
    ):
        container.remove(force=True)


def start_service(
    docker_engine: Any,
    project: str,
    service: str,
    command: str = "sleep 3600",
    **options: Any,
) -> Any:
    return docker_engine.client.containers.run(
        docker_engine.busybox_image(),
        ["sh", "-c", command],
        name=f"{project}_{service}_1",
        labels={
            "com.docker.compose.project": project,
            "com.docker.compose.service": service,
        },
        network_mode="host",
        init=True,
        detach=True,
        **options,
    )


def health(test: list[str], interval_s: float = 1, retries: int = 1) -> dict[str, Any]:
    return {
        "test": test,
        "interval": int(interval_s * SECOND),
        "timeout": SECOND,
        "retries": retries,
    }


def wait_for_health(container: Any, expected: str, limit_s: float = 20) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        container.reload()
        if container.attrs["State"].get("Health", {}).get("Status") == expected:
            return
        time.sleep(0.3)
    raise AssertionError(f"container {container.name} did not become {expected}")


def service_config(
    tmp_path: Path, docker_engine: Any, project: str, services: list[str], **checks: Any
) -> Path:
    return write_config(
        tmp_path,
        {
            "docker": {"host": docker_engine.host},
            "compose": {"project": project, "services": services},
            "endpoints": {},
            "checks": checks,
        },
    )


def results_for(
    opscheck_cli: Any, tmp_path: Path, config: Path
) -> tuple[Any, dict[Any, Any]]:
    outcome, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "services.running or services.healthy"
    )
    return outcome, results


def test_healthy_service_passes(
    opscheck_cli: Any, docker_engine: Any, project: str, tmp_path: Path
) -> None:
    container = start_service(
        docker_engine, project, "web", healthcheck=health(["CMD", "true"])
    )
    wait_for_health(container, "healthy")
    outcome, results = results_for(
        opscheck_cli,
        tmp_path,
        service_config(tmp_path, docker_engine, project, ["web"]),
    )
    assert results[("services.running", "web")]["outcome"] == "passed"
    assert results[("services.healthy", "web")]["outcome"] == "passed"
    assert (
        results[("services.healthy", "web")]["message"]
        == f"service web is healthy ({project}_web_1)"
    )
    assert outcome.exit_code == 0


def test_unhealthy_service_fails(
    opscheck_cli: Any, docker_engine: Any, project: str, tmp_path: Path
) -> None:
    container = start_service(
        docker_engine,
        project,
        "web",
        healthcheck=health(["CMD-SHELL", "echo probe said no; exit 1"]),
    )
    wait_for_health(container, "unhealthy")
    outcome, results = results_for(
        opscheck_cli,
        tmp_path,
        service_config(tmp_path, docker_engine, project, ["web"]),
    )
    healthy = results[("services.healthy", "web")]
    assert results[("services.running", "web")]["outcome"] == "passed"
    assert healthy["outcome"] == "failed"
    assert healthy["message"].startswith(
        f"service web is unhealthy: container {project}_web_1 failed its last"
    )
    assert "probe said no" in healthy["message"]
    assert outcome.exit_code == 1


def test_starting_past_grace_fails(
    opscheck_cli: Any, docker_engine: Any, project: str, tmp_path: Path
) -> None:
    start_service(
        docker_engine,
        project,
        "web",
        healthcheck=health(["CMD", "true"], interval_s=3600),
    )
    time.sleep(1.5)
    config = service_config(
        tmp_path,
        docker_engine,
        project,
        ["web"],
        **{"services.healthy": {"grace_period_s": 1.0}},
    )
    _, results = results_for(opscheck_cli, tmp_path, config)
    healthy = results[("services.healthy", "web")]
    assert healthy["outcome"] == "failed"
    assert "is still starting" in healthy["message"]
    assert "past the 1 s grace period" in healthy["message"]


def test_starting_within_grace_waits(
    opscheck_cli: Any, docker_engine: Any, project: str, tmp_path: Path
) -> None:
    start_service(
        docker_engine, project, "web", healthcheck=health(["CMD", "true"], interval_s=3)
    )
    config = service_config(
        tmp_path,
        docker_engine,
        project,
        ["web"],
        **{"services.healthy": {"grace_period_s": 30.0}},
    )
    _, results = results_for(opscheck_cli, tmp_path, config)
    assert results[("services.healthy", "web")]["outcome"] == "passed"


def test_no_healthcheck_is_skipped(
    opscheck_cli: Any, docker_engine: Any, project: str, tmp_path: Path
) -> None:
    start_service(docker_engine, project, "worker")
    _, results = results_for(
        opscheck_cli,
        tmp_path,
        service_config(tmp_path, docker_engine, project, ["worker"]),
    )
    healthy = results[("services.healthy", "worker")]
    assert healthy["outcome"] == "skipped"
    assert "has no Docker healthcheck" in healthy["message"]


def test_exited_and_missing_services_fail(
    opscheck_cli: Any, docker_engine: Any, project: str, tmp_path: Path
) -> None:
    container = start_service(docker_engine, project, "job", command="exit 3")
    container.wait(timeout=20)
    config = service_config(tmp_path, docker_engine, project, ["job", "ghost"])
    outcome, results = results_for(opscheck_cli, tmp_path, config)
    job = results[("services.running", "job")]
    ghost = results[("services.running", "ghost")]
    assert job["outcome"] == "failed"
    assert f"{project}_job_1 is exited with exit code 3" in job["message"]
    assert ghost["outcome"] == "failed"
    assert (
        f"service ghost has no container in compose project {project}"
        in ghost["message"]
    )
    assert outcome.exit_code == 1


def test_unreachable_engine_is_error(opscheck_cli: Any, tmp_path: Path) -> None:
    socket = tmp_path / "absent.sock"
    config = write_config(
        tmp_path,
        {
            "docker": {"host": f"unix://{socket}"},
            "compose": {"services": ["backend"]},
            "endpoints": {},
        },
    )
    outcome, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "services.running or services.healthy"
    )
    for check_id in ("services.running", "services.healthy"):
        result = results[(check_id, "backend")]
        assert result["outcome"] == "error"
        assert f"Docker engine at unix://{socket} is not reachable" in result["message"]
    assert outcome.exit_code == 1
    assert "Traceback" not in outcome.stdout + outcome.stderr


def test_wrong_project_names_found_ones(
    opscheck_cli: Any, docker_engine: Any, project: str, tmp_path: Path
) -> None:
    start_service(docker_engine, project, "web")
    config = service_config(tmp_path, docker_engine, f"{project}x", ["web"])
    _, results = results_for(opscheck_cli, tmp_path, config)
    message = results[("services.running", "web")]["message"]
    assert f"no container on this engine belongs to project {project}x" in message
    assert project in message.split("projects found: ", 1)[1]
