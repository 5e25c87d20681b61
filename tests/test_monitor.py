"""Tests of the monitor checks health.latency and services.restarts, run by the CLI.

health.latency runs against real HTTP servers on 127.0.0.1; services.restarts against
real containers with a restart policy on the test session's Docker engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from tests.support.cli import Result
from tests.support.engines import free_port
from tests.support.servers import HANG, HttpServer, Route, SilentPort

HEALTHY = {"status": "healthy"}


def _write_config(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / "opscheck.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _latency_config(
    folder: Path, urls: dict[str, str], requests: int = 10, timeout_s: float = 5.0
) -> Path:
    return _write_config(
        folder,
        {
            "endpoints": {
                name: {"url": url, "timeout_s": timeout_s} for name, url in urls.items()
            },
            "deploy": {"latency_requests": requests},
        },
    )


def _only(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    found = [result for result in report["results"] if result["id"] == check_id]
    assert len(found) == 1, f"expected one {check_id} result, got {found}"
    return found[0]


def _run_latency(
    opscheck_cli: Callable[..., Result], config: Path, *extra: str
) -> tuple[Result, dict[str, Any]]:
    result = opscheck_cli(
        "monitor",
        "--config",
        config,
        "-k",
        "health.latency",
        "--json",
        "out.json",
        *extra,
    )
    return result, _only(result.json("out.json"), "health.latency")


def test_latency_fast_endpoint_passes(
    opscheck_cli: Callable[..., Result],
    http_server: Callable[..., HttpServer],
    tmp_path: Path,
) -> None:
    server = http_server({"/api/health": (200, HEALTHY)})
    config = _latency_config(tmp_path, {"api": server.url("/api/health")})

    result, latency = _run_latency(opscheck_cli, config)

    assert result.exit_code == 0, result.stdout + result.stderr
    assert latency["outcome"] == "passed"
    assert server.count("/api/health") == 10
    assert len(latency["evidence"]["samples"]) == 10
    assert latency["evidence"]["max_ms"] < 300
    assert latency["evidence"]["warning"] == 300
    assert latency["evidence"]["critical"] == 1000
    assert latency["message"].startswith(
        f"response time of endpoint api at {server.url('/api/health')} over 10 requests: median"
    )


def test_latency_slow_endpoint_warns(
    opscheck_cli: Callable[..., Result],
    http_server: Callable[..., HttpServer],
    tmp_path: Path,
) -> None:
    server = http_server({"/api/health": (200, HEALTHY, {}, 0.4)})
    config = _latency_config(tmp_path, {"api": server.url("/api/health")}, requests=3)

    result, latency = _run_latency(opscheck_cli, config)
    strict, _ = _run_latency(opscheck_cli, config, "--fail-on", "warning")

    assert latency["outcome"] == "warning"
    assert "the median and max are above the warning level 300 ms" in latency["message"]
    assert latency["evidence"]["median_ms"] >= 400
    assert result.exit_code == 0
    assert strict.exit_code == 1


def test_latency_very_slow_endpoint_fails(
    opscheck_cli: Callable[..., Result],
    http_server: Callable[..., HttpServer],
    tmp_path: Path,
) -> None:
    server = http_server({"/api/health": (200, HEALTHY, {}, 1.1)})
    config = _latency_config(tmp_path, {"api": server.url("/api/health")}, requests=2)

    result, latency = _run_latency(opscheck_cli, config)

    assert result.exit_code == 1
    assert latency["outcome"] == "failed"
    assert "above the critical level 1000 ms" in latency["message"]


def _nth_differs(server: HttpServer, number: int, special: Route) -> None:
    """Make request ``number`` to the server get ``special``, every other one 200 fast."""
    normal = Route(200, HEALTHY)

    def route_for(path: str) -> Route:
        # The handler records a request before it looks up its route, so the count
        # already includes the request being answered.
        return special if server.count() == number else normal

    server.route_for = route_for  # type: ignore[method-assign]


def test_latency_one_slow_request_is_named(
    opscheck_cli: Callable[..., Result],
    http_server: Callable[..., HttpServer],
    tmp_path: Path,
) -> None:
    server = http_server()
    _nth_differs(server, 4, Route(200, HEALTHY, {}, 0.6))
    config = _latency_config(tmp_path, {"api": server.url("/api/health")})

    _, latency = _run_latency(opscheck_cli, config)

    evidence = latency["evidence"]
    assert latency["outcome"] == "warning"
    assert "(request 4 of 10)" in latency["message"]
    assert "the max is above the warning level 300 ms" in latency["message"]
    assert evidence["slowest_request"] == 4
    assert evidence["median_ms"] < 300
    assert evidence["samples"][3]["elapsed_ms"] >= 600


def test_latency_one_failed_request_fails(
    opscheck_cli: Callable[..., Result],
    http_server: Callable[..., HttpServer],
    tmp_path: Path,
) -> None:
    server = http_server()
    _nth_differs(server, 3, Route(500, {"status": "error"}))
    config = _latency_config(tmp_path, {"api": server.url("/api/health")})

    result, latency = _run_latency(opscheck_cli, config)

    assert result.exit_code == 1
    assert latency["outcome"] == "failed"
    assert "1 of 10 requests failed; request 3 got HTTP 500" in latency["message"]
    assert latency["evidence"]["failed_requests"] == [3]
    assert latency["evidence"]["samples"][2]["status_code"] == 500


def test_latency_timed_out_request_fails(
    opscheck_cli: Callable[..., Result],
    http_server: Callable[..., HttpServer],
    tmp_path: Path,
) -> None:
    server = http_server()
    _nth_differs(server, 2, Route(behaviour=HANG))
    url = server.url("/api/health")
    config = _latency_config(tmp_path, {"api": url}, timeout_s=0.5)

    started = time.monotonic()
    result, latency = _run_latency(opscheck_cli, config)

    assert time.monotonic() - started < 30
    assert result.exit_code == 1
    assert latency["outcome"] == "failed"
    assert (
        f"request 2 got endpoint api at {url} did not answer within 0.5 s"
        in latency["message"]
    )
    assert "the 8 requests after it were not sent" in latency["message"]
    assert "max_ms" not in latency["evidence"]


def test_latency_refused_endpoint_is_error(
    opscheck_cli: Callable[..., Result], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/health"
    config = _latency_config(tmp_path, {"api": url})

    result, latency = _run_latency(opscheck_cli, config)

    assert result.exit_code == 1
    assert latency["outcome"] == "error"
    assert latency["message"] == (
        f"endpoint api at {url} answered none of the requests: "
        f"connection to endpoint api at {url} was refused"
    )


def test_latency_hung_endpoint_is_error(
    opscheck_cli: Callable[..., Result], silent_port: SilentPort, tmp_path: Path
) -> None:
    url = silent_port.url("/api/health")
    config = _latency_config(tmp_path, {"api": url}, timeout_s=1.0)

    started = time.monotonic()
    result, latency = _run_latency(opscheck_cli, config)

    assert time.monotonic() - started < 30
    assert result.exit_code == 1
    assert latency["outcome"] == "error"
    assert "did not answer within 1 s" in latency["message"]


# services.restarts ------------------------------------------------------------------

PROJECT = "restarttest"

# Each run appends to a counter file in the container's own file system, which a
# restart keeps, and the container settles once the counter passes ``settle_after``.
_COUNTING = (
    "n=$(cat /tmp/runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/runs; "
    "[ $n -gt {settle_after} ] || exit 1; exec sleep 600"
)


def _start(
    docker_engine: Any, service: str, command: str
) -> docker.models.containers.Container:
    return docker_engine.client.containers.run(
        docker_engine.busybox_image(),
        ["sh", "-c", command],
        name=f"{PROJECT}_{service}_1",
        labels={
            "com.docker.compose.project": PROJECT,
            "com.docker.compose.service": service,
        },
        network_mode="host",
        init=True,
        restart_policy={"Name": "always"},
        detach=True,
    )


def _wait_restarts(
    container: docker.models.containers.Container, count: int, timeout_s: float = 30
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        container.reload()
        if container.attrs["RestartCount"] >= count and container.status == "running":
            return
        time.sleep(0.1)
    raise AssertionError(
        f"{container.name} did not reach {count} restarts: {container.attrs['State']}"
    )


def _run_restarts(
    opscheck_cli: Callable[..., Result],
    docker_engine: Any,
    folder: Path,
    services: list[str],
) -> dict[str, dict[str, Any]]:
    config = _write_config(
        folder,
        {
            "compose": {"project": PROJECT, "services": services},
            "docker": {"host": docker_engine.host},
            "checks": {"services.restarts": {"observe_s": 2.0}},
        },
    )
    result = opscheck_cli(
        "monitor", "--config", config, "-k", "services.restarts", "--json", "out.json"
    )
    report = result.json("out.json")
    assert report["run"]["exit_status"] == result.exit_code
    return {entry["target"]: entry for entry in report["results"]}


@pytest.fixture
def restart_containers(docker_engine: Any) -> Any:
    created: list[docker.models.containers.Container] = []

    def start(service: str, command: str) -> docker.models.containers.Container:
        container = _start(docker_engine, service, command)
        created.append(container)
        return container

    yield start
    for container in created:
        container.remove(force=True)


@pytest.mark.slow
def test_restarts_by_count_and_loop(
    opscheck_cli: Callable[..., Result],
    docker_engine: Any,
    restart_containers: Any,
    tmp_path: Path,
) -> None:
    restart_containers("steady", "exec sleep 600")
    once = restart_containers("once", _COUNTING.format(settle_after=1))
    thrice = restart_containers("thrice", _COUNTING.format(settle_after=3))
    restart_containers("loop", "sleep 1; exit 1")
    _wait_restarts(once, 1)
    _wait_restarts(thrice, 3)
    # The last exit of the settled containers must lie outside the 2 s watch.
    time.sleep(2.5)

    results = _run_restarts(
        opscheck_cli, docker_engine, tmp_path, ["steady", "once", "thrice", "loop"]
    )

    assert results["steady"]["outcome"] == "passed"
    assert results["steady"]["evidence"]["restart_count"] == 0
    assert results["once"]["outcome"] == "warning"
    assert results["once"]["message"] == (
        f"restart count of service once (container {PROJECT}_once_1) is 1, "
        "at or above the warning level 1"
    )
    assert results["thrice"]["outcome"] == "failed"
    assert "is 3, at or above the critical level 3" in results["thrice"]["message"]
    loop = results["loop"]
    assert loop["outcome"] == "failed"
    assert (
        f"service loop is in a restart loop: container {PROJECT}_loop_1"
        in loop["message"]
        or "service loop is restarting" in loop["message"]
    )


# The whole alert table on the demo stack ------------------------------------------

# Every row of the runbook's Alert Thresholds table and of its Key Metrics lists, by
# check id: CPU, memory, disk, API latency, error rate, DB connections, container
# restarts; database size and very slow queries; Docker disk usage.
ALERT_TABLE = {
    "resources.cpu_alert",
    "resources.memory_alert",
    "disk.usage",
    "health.latency",
    "logs.error_rate",
    "db.connections",
    "services.restarts",
    "db.size",
    "db.very_slow_queries",
    "db.long_running",
    "disk.docker_usage",
}


@pytest.mark.slow
def test_monitor_runs_alert_table(
    opscheck_cli: Callable[..., Result], demo_stack: Any
) -> None:
    demo_stack.heal()

    result = opscheck_cli(
        "monitor",
        "--config",
        demo_stack.config_path,
        "--json",
        "monitor.json",
        env={"DOCKER_HOST": demo_stack.host},
        cwd=demo_stack.directory.parent,
    )

    assert result.exit_code in (0, 1), result.stdout + result.stderr
    report = result.json(demo_stack.directory.parent / "monitor.json")
    ran = {entry["id"] for entry in report["results"]}
    assert ALERT_TABLE - ran == set()
    errors = {
        (entry["id"], entry["target"]): entry["message"]
        for entry in report["results"]
        if entry["outcome"] == "error"
    }
    assert errors == {}
    for entry in report["results"]:
        if entry["id"] in ("health.latency", "services.restarts"):
            assert entry["outcome"] == "passed", entry
