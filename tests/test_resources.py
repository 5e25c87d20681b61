"""resources.cpu, resources.memory and their alert variants.

The live tests run busybox containers on the test session's Docker engine, which runs
on cgroup v1 here. cgroup v2 frames cannot be produced on this machine, so the files
in tests/data/stats/ are stand-ins for recorded frames: bodies of GET
/containers/{id}/stats?stream=false with the fields a cgroup v2 engine (Docker 20.10
and later) sends, no ``percpu_usage``, no ``cache`` and no ``max_usage``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opscheck.checks import daily_resources
from opscheck.fixtures.stats import (
    ContainerStats,
    CpuSample,
    StatsError,
    cpu_from_frame,
    cpu_usage,
    memory_usage,
    read_frames,
)

from opscheck.declaration import declaration_of
from opscheck.levels import Levels
from tests.helpers import run_suite, write_config

DATA = Path(__file__).parent / "data" / "stats"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
HOST_MEMORY = 8 * 2**30


def recorded(name: str) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads((DATA / name).read_text())
    return frame


# Computation on cgroup v2 frames ---------------------------------------------------


def test_cpu_v2_frame_without_percpu() -> None:
    frame = recorded("cgroup-v2-busy.json")
    assert "percpu_usage" not in frame["cpu_stats"]["cpu_usage"]

    usage = cpu_from_frame(frame)

    current, previous = frame["cpu_stats"], frame["precpu_stats"]
    cpu_delta = (
        current["cpu_usage"]["total_usage"] - previous["cpu_usage"]["total_usage"]
    )
    system_delta = current["system_cpu_usage"] - previous["system_cpu_usage"]
    expected = cpu_delta / system_delta * current["online_cpus"] * 100
    assert usage.percent == pytest.approx(expected)
    assert usage.percent > 90
    assert usage.current.online_cpus == 4


def test_memory_v2_subtracts_inactive_file() -> None:
    frame = recorded("cgroup-v2-busy.json")
    memory = frame["memory_stats"]
    assert "cache" not in memory["stats"]

    usage = memory_usage(frame, HOST_MEMORY)

    assert usage.cache_key == "inactive_file"
    assert usage.used == memory["usage"] - memory["stats"]["inactive_file"]
    assert usage.limited
    assert usage.percent == pytest.approx(usage.used / memory["limit"] * 100)


def test_memory_v2_without_limit_uses_host() -> None:
    frame = recorded("cgroup-v2-unlimited.json")
    host = frame["memory_stats"]["limit"]

    usage = memory_usage(frame, host)

    assert not usage.limited
    assert usage.limit == host
    assert "no memory limit" in usage.to_dict()["measured_against"]


def test_cpu_v2_idle_frame_is_zero() -> None:
    usage = cpu_from_frame(recorded("cgroup-v2-idle.json"))
    assert usage.percent == pytest.approx(0.0, abs=0.5)


def test_memory_v1_old_engine_subtracts_cache() -> None:
    frame = {
        "memory_stats": {
            "usage": 100 * 2**20,
            "limit": 200 * 2**20,
            "stats": {"cache": 40 * 2**20, "rss": 60 * 2**20},
        }
    }
    usage = memory_usage(frame, HOST_MEMORY)
    assert usage.cache_key == "cache"
    assert usage.percent == pytest.approx(30.0)


def test_alert_levels_declared() -> None:
    cpu = declaration_of(daily_resources.test_resources_cpu_alert)
    memory = declaration_of(daily_resources.test_resources_memory_alert)
    assert cpu is not None
    assert cpu.levels is not None
    assert memory is not None
    assert memory.levels is not None
    assert (cpu.levels.warning, cpu.levels.critical) == (70, 90)
    daily = declaration_of(daily_resources.test_resources_cpu)
    assert daily is not None
    assert daily.levels == Levels(critical=50, inclusive=True, unit="%")
    assert (memory.levels.warning, memory.levels.critical) == (70, 85)
    assert not cpu.levels.inclusive


# Frames that cannot give a percentage ----------------------------------------------


def test_single_sample_is_error() -> None:
    frame = recorded("cgroup-v2-busy.json")
    frame["precpu_stats"] = {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
    with pytest.raises(StatsError, match="previous stats sample is empty"):
        cpu_from_frame(frame)


def test_same_sample_twice_is_error() -> None:
    sample = CpuSample("2026-01-01T00:00:00Z", 10**9, 10**12, 2)
    with pytest.raises(StatsError, match="did not advance"):
        cpu_usage(sample, sample)


def test_counter_backwards_is_error() -> None:
    before = CpuSample("t0", 5 * 10**9, 10**12, 2)
    after = CpuSample("t1", 10**9, 2 * 10**12, 2)
    with pytest.raises(StatsError, match="restarted in between"):
        cpu_usage(before, after)


def test_restarting_frame_has_no_memory() -> None:
    # A restarting container's frame: zero counters and an empty memory_stats.
    frame = {"cpu_stats": {"cpu_usage": {"total_usage": 0}}, "memory_stats": {}}
    with pytest.raises(StatsError, match="no memory usage"):
        memory_usage(frame, HOST_MEMORY)
    with pytest.raises(StatsError, match="empty"):
        cpu_from_frame(frame)


def test_no_frames_is_error() -> None:
    stats = ContainerStats(name="web_1", status="running")
    with pytest.raises(StatsError, match="no stats frame"):
        stats.cpu()


# Live containers on cgroup v1 ------------------------------------------------------


@pytest.fixture(scope="module")
def project(docker_engine: Any) -> Iterator[str]:
    name = f"restest{uuid.uuid4().hex[:8]}"
    yield name
    for container in docker_engine.client.containers.list(
        all=True, filters={"label": f"{PROJECT_LABEL}={name}"}
    ):
        container.remove(force=True)


def start(
    docker_engine: Any, project: str, service: str, command: str, **options: Any
) -> Any:
    return docker_engine.client.containers.run(
        docker_engine.busybox_image(),
        ["sh", "-c", command],
        name=f"{project}_{service}_1",
        labels={PROJECT_LABEL: project, SERVICE_LABEL: service},
        network_mode="host",
        init=True,
        detach=True,
        **options,
    )


def wait_until(condition: Any, what: str, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting until {what}")


@pytest.fixture(scope="module")
def containers(docker_engine: Any, project: str) -> dict[str, Any]:
    started = {
        # Two busy loops, so the container passes 50 % on a machine that other
        # processes keep busy too.
        "burner": start(
            docker_engine,
            project,
            "burner",
            "(while :; do :; done) & while :; do :; done",
        ),
        "idle": start(docker_engine, project, "idle", "sleep 3600", mem_limit="64m"),
        "unlimited": start(docker_engine, project, "unlimited", "sleep 3600"),
        # tmpfs pages are shared memory, which no page cache subtraction removes.
        "filler": start(
            docker_engine,
            project,
            "filler",
            "dd if=/dev/zero of=/dev/shm/fill bs=1M count=28 && sleep 3600",
            mem_limit="32m",
            shm_size="40m",
        ),
        "crasher": start(
            docker_engine,
            project,
            "crasher",
            "exit 1",
            restart_policy={"Name": "always"},
        ),
    }

    def filled() -> bool:
        frame = started["filler"].stats(stream=False, one_shot=True)
        return int(frame["memory_stats"].get("usage", 0)) > 27 * 2**20

    wait_until(filled, "the filler container holds 28 MiB")
    return started


@pytest.mark.slow
def test_read_frames_live_v1(containers: dict[str, Any]) -> None:
    frames = read_frames(containers["burner"])
    assert len(frames) == 1
    usage = cpu_from_frame(frames[0])
    assert usage.percent > 20
    memory = memory_usage(frames[0], None)
    assert memory.cache_key == "total_inactive_file"


def resources_config(
    tmp_path: Path, docker_engine: Any, project: str, checks: Any = None
) -> Path:
    services = ["burner", "idle", "unlimited", "filler", "crasher", "absent"]
    return write_config(
        tmp_path,
        {
            "docker": {"host": docker_engine.host},
            "compose": {"project": project, "services": services},
            "endpoints": {},
            "checks": checks or {},
        },
    )


def wait_restarting(container: Any) -> None:
    def restarting() -> bool:
        container.reload()
        return bool(container.attrs["State"]["Restarting"])

    wait_until(restarting, f"{container.name} is restarting")


@pytest.mark.slow
def test_daily_cpu_and_memory(
    tmp_path: Path,
    docker_engine: Any,
    project: str,
    containers: dict[str, Any],
    opscheck_cli: Any,
) -> None:
    # The CPU level is lowered, because how much of a core the busy loops get depends
    # on what else runs on the machine; the declared levels are tested above.
    config = resources_config(
        tmp_path, docker_engine, project, checks={"resources.cpu": {"critical": 15}}
    )
    wait_restarting(containers["crasher"])

    _, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "resources", suite="daily"
    )

    burner = results[("resources.cpu", "burner")]
    assert burner["outcome"] == "failed", burner
    assert burner["message"].startswith("CPU of service burner is ")
    assert "at or above the critical level 15.0 %" in burner["message"]
    sample = burner["evidence"]["containers"][0]
    assert sample["online_cpus"] >= 1
    assert sample["previous_sample"]["total_usage_ns"] > 0
    assert sample["current_sample"]["system_cpu_usage_ns"] > 0

    idle_cpu = results[("resources.cpu", "idle")]
    assert idle_cpu["outcome"] == "passed", idle_cpu
    assert idle_cpu["evidence"]["cpu_percent"] < 15

    filler = results[("resources.memory", "filler")]
    assert filler["outcome"] == "failed", filler
    assert "of its limit, at or above the critical level 70.0 %" in filler["message"]
    assert filler["evidence"]["containers"][0]["limit_bytes"] == 32 * 2**20

    idle_memory = results[("resources.memory", "idle")]
    assert idle_memory["outcome"] == "passed", idle_memory
    assert idle_memory["evidence"]["containers"][0]["limit_bytes"] == 64 * 2**20

    unlimited = results[("resources.memory", "unlimited")]
    assert unlimited["outcome"] == "passed", unlimited
    assert "host memory (no limit set)" in unlimited["message"]
    measured = unlimited["evidence"]["containers"][0]["measured_against"]
    assert "no memory limit" in measured

    for check_id in ("resources.cpu", "resources.memory"):
        crasher = results[(check_id, "crasher")]
        assert crasher["outcome"] == "error", crasher
        # A container sampled between two of its restarts is seen either as restarting
        # or with an empty sample, as Docker reports it at that moment: both end in error.
        reasons = (
            "is restarting",
            "previous stats sample is empty",
            "has no running container",
        )
        assert any(reason in crasher["message"] for reason in reasons), crasher[
            "message"
        ]

        absent = results[(check_id, "absent")]
        assert absent["outcome"] == "error", absent
        assert "has no running container" in absent["message"]


@pytest.mark.slow
def test_monitor_alert_levels(
    tmp_path: Path,
    docker_engine: Any,
    project: str,
    containers: dict[str, Any],
    opscheck_cli: Any,
) -> None:
    # Lowered CPU levels, as in the daily test.
    config = resources_config(
        tmp_path,
        docker_engine,
        project,
        checks={"resources.cpu_alert": {"warning": 10, "critical": 15}},
    )

    _, _, results = run_suite(
        opscheck_cli,
        tmp_path,
        config,
        "-k",
        "resources and (burner or idle or filler)",
        suite="monitor",
    )

    burner = results[("resources.cpu_alert", "burner")]
    assert burner["outcome"] == "failed", burner
    assert "above the critical level 15.0 %" in burner["message"]

    filler = results[("resources.memory_alert", "filler")]
    assert filler["outcome"] == "failed", filler
    assert "above the critical level 85.0 %" in filler["message"]

    for check_id in ("resources.cpu_alert", "resources.memory_alert"):
        idle = results[(check_id, "idle")]
        assert idle["outcome"] == "passed", idle


@pytest.mark.slow
def test_demo_resources(opscheck_cli: Any, demo_stack: Any, tmp_path: Path) -> None:
    demo_stack.heal()
    _, _, daily = run_suite(
        opscheck_cli, tmp_path, demo_stack.config_path, "-k", "resources.memory"
    )
    assert len(daily) == 4
    for key, result in daily.items():
        assert result["outcome"] == "passed", (key, result)
        assert "of its limit" in result["message"]

    demo_stack.break_("cpu-hog")
    try:
        # The busy loop gets less than a core while other processes load this 2-core
        # machine, so the measurement is taken up to three times.
        for _ in range(3):
            _, _, hogged = run_suite(
                opscheck_cli, tmp_path, demo_stack.config_path, "-k", "resources.cpu"
            )
            if hogged[("resources.cpu", "backend")]["outcome"] == "failed":
                break
    finally:
        demo_stack.heal()
    backend = hogged[("resources.cpu", "backend")]
    assert backend["outcome"] == "failed", backend
    assert "at or above the critical level 50.0 %" in backend["message"]
