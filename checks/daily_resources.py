"""Daily Operations, Morning Health Check step 3, and the alert thresholds: CPU and memory.

The runbook reads ``docker stats --no-stream`` and expects CPU below 50 % and memory
below 70 %; its alert table warns above 70 % CPU and memory and pages above 90 % CPU
and 85 % memory. These checks compute the same figures from the Docker stats API,
sampling every service's containers together once per run.
"""

from __future__ import annotations

from typing import Any

from opscheck.fixtures.stats import (
    ContainerStats,
    CpuUsage,
    MemoryUsage,
    StatsError,
    StatsSampler,
)

from opscheck.declaration import check
from opscheck.levels import Levels
from opscheck.plugin.verdict import Verdict

DAILY = "Daily Operations > Morning Health Check (step 3, Expected: CPU < 50 %, memory < 70 %)"
ALERTS = "Monitoring & Alerts > Alert Thresholds; Troubleshooting Playbooks 1-2"


def _running(
    service: str, sampler: StatsSampler, verdict: Verdict, what: str
) -> list[ContainerStats]:
    containers = sampler.for_service(service)
    if not containers:
        verdict.error(
            f"service {service} has no running container, so its {what} cannot be "
            "measured; see services.running"
        )
    return containers


def _judge_cpu(service: str, sampler: StatsSampler, verdict: Verdict) -> None:
    __tracebackhide__ = True
    containers = _running(service, sampler, verdict, "CPU")
    measured: list[tuple[str, CpuUsage]] = []
    evidence: list[dict[str, Any]] = []
    for stats in containers:
        try:
            usage = stats.cpu()
        except StatsError as exc:
            evidence.append({"container": stats.name, "problem": exc.message})
            verdict.record(containers=evidence)
            verdict.error(f"CPU of service {service} cannot be measured: {exc.message}")
        measured.append((stats.name, usage))
        evidence.append({"container": stats.name, **usage.to_dict()})
    verdict.record(containers=evidence, sampling_s=sampler.elapsed_s)

    name, busiest = max(measured, key=lambda item: item[1].percent)
    subject = f"CPU of service {service}"
    if len(measured) > 1:
        subject += f" (busiest container {name})"
    verdict.judge(busiest.percent, subject=subject, name="cpu_percent")


def _judge_memory(service: str, sampler: StatsSampler, verdict: Verdict) -> None:
    __tracebackhide__ = True
    containers = _running(service, sampler, verdict, "memory")
    host_memory = sampler.host_memory()
    measured: list[tuple[str, MemoryUsage]] = []
    evidence: list[dict[str, Any]] = []
    for stats in containers:
        try:
            usage = stats.memory(host_memory)
        except StatsError as exc:
            evidence.append({"container": stats.name, "problem": exc.message})
            verdict.record(containers=evidence)
            verdict.error(
                f"memory of service {service} cannot be measured: {exc.message}"
            )
        measured.append((stats.name, usage))
        evidence.append({"container": stats.name, **usage.to_dict()})
    verdict.record(containers=evidence, host_memory_bytes=host_memory)

    name, fullest = max(measured, key=lambda item: item[1].percent)
    levels = verdict.levels
    assert levels is not None
    of = "limit" if fullest.limited else "host memory (no limit set)"
    shown = f"{levels.format(fullest.percent)} of its {of}"
    subject = f"memory of service {service}"
    if len(measured) > 1:
        subject += f" (fullest container {name})"
    verdict.judge(fullest.percent, subject=subject, name="memory_percent", shown=shown)


@check(
    id="resources.cpu",
    title="Container CPU stays below the daily expectation",
    suites=("daily",),
    runbook=DAILY,
    per="service",
    description=(
        "Reads two Docker stats samples of each running container of the service and "
        "computes CPU % as docker stats does (100 % is one busy core). A restarting "
        "container or a sample without a previous one is an error, never 0 %."
    ),
    levels=Levels(critical=50, inclusive=True, unit="%"),
    remediation="restart-service",
)
def test_resources_cpu(
    target: str, container_stats: StatsSampler, verdict: Verdict
) -> None:
    _judge_cpu(target, container_stats, verdict)


@check(
    id="resources.cpu_alert",
    title="Container CPU stays below the alert thresholds",
    suites=("monitor",),
    runbook=ALERTS,
    per="service",
    description="As resources.cpu, held against the alert table's CPU levels.",
    levels=Levels(warning=70, critical=90, unit="%"),
    remediation="restart-service",
)
def test_resources_cpu_alert(
    target: str, container_stats: StatsSampler, verdict: Verdict
) -> None:
    _judge_cpu(target, container_stats, verdict)


@check(
    id="resources.memory",
    title="Container memory stays below the daily expectation",
    suites=("daily",),
    runbook=DAILY,
    per="service",
    description=(
        "Memory in use without page cache, as docker stats computes it, as a share of "
        "the container's memory limit; a container without a limit is measured "
        "against host memory and the evidence says so."
    ),
    levels=Levels(critical=70, inclusive=True, unit="%"),
    remediation="restart-service",
)
def test_resources_memory(
    target: str, container_stats: StatsSampler, verdict: Verdict
) -> None:
    _judge_memory(target, container_stats, verdict)


@check(
    id="resources.memory_alert",
    title="Container memory stays below the alert thresholds",
    suites=("monitor",),
    runbook=ALERTS,
    per="service",
    description="As resources.memory, held against the alert table's memory levels.",
    levels=Levels(warning=70, critical=85, unit="%"),
    remediation="restart-service",
)
def test_resources_memory_alert(
    target: str, container_stats: StatsSampler, verdict: Verdict
) -> None:
    _judge_memory(target, container_stats, verdict)
