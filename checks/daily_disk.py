"""Daily Operations step 4, the system metrics and Weekly Maintenance step 2: disk space.

The runbook reads ``df -h`` for ``/`` and ``/var/lib/docker`` (below 80 % daily; alert
above 75 % and 90 %), ``docker system df`` (alert above 10 GB) and prunes dangling
images, stopped containers and unused volumes every week.
"""

from __future__ import annotations

from opscheck.fixtures.disk import DiskPaths, docker_disk_usage
from opscheck.fixtures.docker import DockerEngine

from opscheck.config.units import format_size
from opscheck.declaration import check
from opscheck.levels import Levels
from opscheck.plugin.targets import DOCKER_ROOT
from opscheck.plugin.verdict import Verdict

REPORTED_ITEMS = 20


@check(
    id="disk.usage",
    title="Filesystems have free space",
    suites=("daily", "monitor"),
    runbook=(
        "Daily Operations > Morning Health Check (step 4, Expected: disk < 80 %); "
        "Monitoring & Alerts > Alert Thresholds (disk usage)"
    ),
    per="path",
    description=(
        "Used % of the filesystem of each path in disk.paths and of the Docker data "
        "root, computed as df does: used / (used + available), so blocks reserved "
        "for root do not hide a full disk."
    ),
    levels=Levels(critical=80, inclusive=True, unit="%"),
    suite_levels={"monitor": Levels(warning=75, critical=90, unit="%")},
    remediation="docker-cleanup",
    default_timeout_s=30.0,
)
def test_disk_usage(target: str, disk_paths: DiskPaths, verdict: Verdict) -> None:
    usage = disk_paths.usage(target)
    verdict.record(**usage.to_dict())
    if target == DOCKER_ROOT:
        verdict.record(docker_data_root=usage.path)
        subject = f"disk usage of the Docker data root {usage.path}"
    else:
        subject = f"disk usage of {usage.path}"
    shown = (
        f"{usage.percent:.1f} % ({format_size(usage.available)} of "
        f"{format_size(usage.used + usage.available)} free)"
    )
    verdict.judge(usage.percent, subject=subject, name="used_percent", shown=shown)


@check(
    id="disk.docker_usage",
    title="Docker images, containers, volumes and build cache stay below the alert size",
    suites=("monitor", "weekly"),
    runbook="Monitoring & Alerts > System Metrics (docker system df, > 10 GB)",
    per="host",
    description=(
        "Adds up what docker system df reports: image layers, container writable "
        "layers, volumes and build cache."
    ),
    levels=Levels(warning=10 * 10**9, unit="bytes"),
    remediation="docker-cleanup",
    default_timeout_s=60.0,
)
def test_disk_docker_usage(engine: DockerEngine, verdict: Verdict) -> None:
    usage = docker_disk_usage(engine)
    verdict.record(engine=engine.url, **usage.to_dict())
    verdict.judge(
        usage.total,
        subject=f"Docker disk usage on {engine.url}",
        name="total_bytes",
        shown=(
            f"{format_size(usage.total)} (images {format_size(usage.images)}, "
            f"containers {format_size(usage.containers)}, volumes "
            f"{format_size(usage.volumes)}, build cache {format_size(usage.build_cache)})"
        ),
    )


@check(
    id="disk.reclaimable",
    title="Little space is held by dangling images, stopped containers and unused volumes",
    suites=("weekly",),
    runbook="Maintenance Windows > Weekly Maintenance (step 2, Docker cleanup)",
    per="host",
    description=(
        "Lists what docker image/container/volume prune would remove: dangling images, "
        "stopped containers, volumes no container uses, and unused build cache, with "
        "their sizes."
    ),
    levels=Levels(warning=10**9, unit="bytes"),
    remediation="docker-cleanup",
    default_timeout_s=60.0,
)
def test_disk_reclaimable(engine: DockerEngine, verdict: Verdict) -> None:
    usage = docker_disk_usage(engine)
    items = sorted(usage.reclaimable, key=lambda item: item.size, reverse=True)
    total = sum(item.size for item in items)
    counts: dict[str, int] = {}
    for item in items:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    verdict.record(
        engine=engine.url,
        reclaimable_counts=counts,
        largest=[item.to_dict() for item in items[:REPORTED_ITEMS]],
    )
    summary = ", ".join(f"{kind}: {count}" for kind, count in counts.items())
    verdict.judge(
        total,
        subject=f"reclaimable Docker space on {engine.url}",
        name="reclaimable_bytes",
        shown=f"{format_size(total)} ({summary or 'nothing to prune'})",
    )
