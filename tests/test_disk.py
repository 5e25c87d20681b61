"""disk.usage on a real tmpfs, disk.docker_usage and disk.reclaimable on the test engine."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opscheck.fixtures.disk import filesystem_usage, parse_system_df

from tests.helpers import run_suite, write_config

pytestmark = pytest.mark.slow

MIB = 2**20


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 10 MiB tmpfs mounted for one test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=10m", "tmpfs", str(mount_point)],
        check=True,
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def fill(folder: Path, mib: int) -> None:
    (folder / "fill").write_bytes(b"\0" * (mib * MIB))


def disk_config(tmp_path: Path, docker_engine: Any, paths: list[str]) -> Path:
    return write_config(
        tmp_path,
        {
            "docker": {"host": docker_engine.host},
            "compose": {"project": "disktest", "services": []},
            "endpoints": {},
            "disk": {"paths": paths},
        },
    )


def test_statvfs_matches_df(small_fs: Path) -> None:
    fill(small_fs, 4)
    usage = filesystem_usage(str(small_fs))
    assert usage.total == 10 * MIB
    assert usage.used == 4 * MIB
    assert usage.percent == pytest.approx(40.0)

    df = subprocess.run(
        ["df", "--output=pcent", str(small_fs)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert df.stdout.splitlines()[-1].strip() == "40%"


def test_disk_usage_daily(
    tmp_path: Path, docker_engine: Any, small_fs: Path, opscheck_cli: Any
) -> None:
    fill(small_fs, 9)
    missing = tmp_path / "no-such-folder"
    config = disk_config(tmp_path, docker_engine, [str(small_fs), "/", str(missing)])

    _, _, results = run_suite(opscheck_cli, tmp_path, config, "-k", "disk.usage")

    full = results[("disk.usage", str(small_fs))]
    assert full["outcome"] == "failed", full
    assert full["message"] == (
        f"disk usage of {small_fs} is 90.0 % (1.0 MiB of 10.0 MiB free), at or "
        "above the critical level 80.0 %"
    )
    assert full["evidence"]["used_bytes"] == 9 * MIB

    absent = results[("disk.usage", str(missing))]
    assert absent["outcome"] == "error", absent
    assert str(missing) in absent["message"]
    assert "disk.paths" in absent["message"]

    root = results[("disk.usage", "docker-data-root")]
    assert root["outcome"] in ("passed", "failed"), root
    data_root = docker_engine.client.info()["DockerRootDir"]
    assert root["evidence"]["docker_data_root"] == data_root
    assert root["evidence"]["path"] == data_root


def test_disk_usage_monitor_levels(
    tmp_path: Path, docker_engine: Any, small_fs: Path, opscheck_cli: Any
) -> None:
    fill(small_fs, 8)
    config = disk_config(tmp_path, docker_engine, [str(small_fs)])
    _, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "disk.usage", suite="monitor"
    )
    warned = results[("disk.usage", str(small_fs))]
    assert warned["outcome"] == "warning", warned
    assert "above the warning level 75.0 %" in warned["message"]

    (small_fs / "fill").unlink()
    fill(small_fs, 1)
    _, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "disk.usage", suite="monitor"
    )
    healthy = results[("disk.usage", str(small_fs))]
    assert healthy["outcome"] == "passed", healthy


def test_parse_system_df_reclaimable() -> None:
    data = {
        "LayersSize": 3000,
        "Images": [
            {"Id": "sha256:aaa", "RepoTags": ["app:1"], "Size": 2000, "Containers": 1},
            {"Id": "sha256:bbb", "RepoTags": ["<none>:<none>"], "Size": 700},
            {"Id": "sha256:ccc", "RepoTags": None, "Size": 300, "Containers": 0},
        ],
        "Containers": [
            {"Names": ["/web"], "State": "running", "SizeRw": 10},
            {"Names": ["/old"], "State": "exited", "SizeRw": 50},
        ],
        "Volumes": [
            {"Name": "used", "UsageData": {"RefCount": 1, "Size": 400}},
            {"Name": "orphan", "UsageData": {"RefCount": 0, "Size": 600}},
            {"Name": "unknown", "UsageData": {"RefCount": 0, "Size": -1}},
        ],
        "BuildCache": [{"ID": "cache1", "Size": 90, "InUse": False}],
    }
    usage = parse_system_df(data)
    assert usage.images == 3000
    assert usage.containers == 60
    assert usage.volumes == 1000
    assert usage.total == 3000 + 60 + 1000 + 90
    reclaimable = {(item.kind, item.name): item.size for item in usage.reclaimable}
    assert reclaimable == {
        ("dangling image", "sha256:bbb"): 700,
        ("dangling image", "sha256:ccc"): 300,
        ("stopped container", "old"): 50,
        ("unused volume", "orphan"): 600,
        ("unused volume", "unknown"): 0,
        ("build cache", "cache1"): 90,
    }


@pytest.fixture
def leftovers(docker_engine: Any) -> Iterator[str]:
    """A stopped container holding 3 MiB and an unused volume, removed afterwards."""
    client = docker_engine.client
    name = f"disktest{uuid.uuid4().hex[:8]}"
    volume = client.volumes.create(name)
    container = client.containers.run(
        docker_engine.busybox_image(),
        ["sh", "-c", "dd if=/dev/zero of=/junk bs=1M count=3"],
        name=name,
        network_mode="host",
        detach=True,
    )
    container.wait(timeout=30)
    try:
        yield name
    finally:
        container.remove(force=True)
        volume.remove(force=True)


def test_docker_usage_and_reclaimable(
    tmp_path: Path, docker_engine: Any, leftovers: str, opscheck_cli: Any
) -> None:
    # The levels are lowered to a few MiB, because the test engine stores far less than 1 GB.
    checks = {
        "disk.docker_usage": {"warning": "1MiB"},
        "disk.reclaimable": {"warning": "2MiB"},
    }
    config = write_config(
        tmp_path,
        {
            "docker": {"host": docker_engine.host},
            "compose": {"project": "disktest", "services": []},
            "endpoints": {},
            "checks": checks,
        },
    )
    _, _, results = run_suite(
        opscheck_cli,
        tmp_path,
        config,
        "-k",
        "disk.docker or disk.reclaim",
        suite="weekly",
    )
    by_id = {key[0]: value for key, value in results.items()}

    usage = by_id["disk.docker_usage"]
    assert usage["outcome"] == "warning", usage
    assert usage["message"].startswith(f"Docker disk usage on {docker_engine.host} is ")
    assert usage["evidence"]["images_bytes"] > 0

    reclaimable = by_id["disk.reclaimable"]
    assert reclaimable["outcome"] == "warning", reclaimable
    assert "stopped container" in reclaimable["message"]
    largest = {
        (item["kind"], item["name"]): item["bytes"]
        for item in reclaimable["evidence"]["largest"]
    }
    assert largest[("stopped container", leftovers)] >= 3 * MIB
    assert ("unused volume", leftovers) in largest


def test_reclaimable_passes_when_clean(
    tmp_path: Path, docker_engine: Any, opscheck_cli: Any
) -> None:
    config = write_config(
        tmp_path,
        {
            "docker": {"host": docker_engine.host},
            "compose": {"project": "disktest", "services": []},
            "endpoints": {},
        },
    )
    _, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "disk.reclaimable", suite="weekly"
    )
    (result,) = results.values()
    assert result["outcome"] == "passed", result
    assert result["evidence"]["reclaimable_bytes"] < 10**9
