"""Monitoring & Alerts, Alert Thresholds: container restarts (warning 1+, critical 3+).

The runbook looks for ``docker ps --filter "status=restarting"``, which misses a restart
loop whenever the crashing container happens to be up for its few seconds. Docker's
``RestartCount`` counts the restarts that the restart policy made since the container
was last started by hand, so it keeps the loop's history. A container that restarted
is also watched for a few seconds to see whether it exits again.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from opscheck.fixtures.compose import ComposeService, ContainerState, parse_docker_time

from opscheck.declaration import check
from opscheck.levels import Levels
from opscheck.plugin.verdict import Verdict

POLL_INTERVAL_S = 0.25


def _describe(state: ContainerState) -> dict[str, object]:
    created = parse_docker_time(state.attrs.get("Created"))
    return {
        "name": state.name,
        "status": state.status,
        "restart_count": state.restart_count,
        "created": created.isoformat() if created else None,
        "started_at": state.started_at.isoformat() if state.started_at else None,
        "last_exit_at": state.finished_at.isoformat() if state.finished_at else None,
        "last_exit_code": state.exit_code,
        "uptime_s": round(state.age_s() or 0.0, 1),
        "restart_policy": (state.attrs.get("HostConfig") or {})
        .get("RestartPolicy", {})
        .get("Name"),
    }


def _watch(
    service: ComposeService, state: ContainerState, seconds: float
) -> ContainerState | None:
    """Return the container's new state if it restarts again within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S)
        for current in service.containers():
            if current.id != state.id:
                continue
            again = current.restart_count > state.restart_count
            if again or current.restarting or not current.running:
                return current
    return None


def _exited_recently(state: ContainerState, within_s: float) -> bool:
    if state.finished_at is None:
        return False
    return (datetime.now(UTC) - state.finished_at).total_seconds() <= within_s


@check(
    id="services.restarts",
    title="Containers have not been restarted by their restart policy",
    suites=("monitor", "deploy_gate"),
    runbook=(
        "Monitoring & Alerts > Alert Thresholds (Container Restarts 1+ / 3+); "
        'System Metrics (docker ps --filter "status=restarting")'
    ),
    per="service",
    description=(
        "Reads each container's RestartCount, the restarts its restart policy made since "
        "it was last started. A container in state 'restarting', or one that restarted "
        "and exits again while it is watched for observe_s seconds, is in a restart loop "
        "and critical whatever its count. A restart by hand (docker restart, compose up) "
        "resets the count, so it is not counted."
    ),
    levels=Levels(warning=1, critical=3, inclusive=True, unit="count"),
    options={"observe_s": 5.0},
    default_timeout_s=60.0,
    phases=("post",),
)
def test_services_restarts(service: ComposeService, verdict: Verdict) -> None:
    observe_s = float(verdict.option("observe_s"))
    containers = service.containers()
    verdict.record(
        containers=[_describe(state) for state in containers], observe_s=observe_s
    )
    if not containers:
        verdict.skip(
            f"service {service.name} has no container, so it has no restarts to count; "
            "see services.running"
        )

    restarting = [state for state in containers if state.restarting]
    if restarting:
        state = restarting[0]
        verdict.fail(
            f"service {service.name} is restarting: container {state.name} has restarted "
            f"{state.restart_count} times and its last run exited with code "
            f"{state.exit_code}; read its log with 'docker logs {state.name}'",
            restart_count=state.restart_count,
        )

    worst = max(containers, key=lambda state: state.restart_count)
    if worst.restart_count >= 1 and observe_s > 0:
        again = _watch(service, worst, observe_s)
        if again is not None or _exited_recently(worst, observe_s):
            seen = again or worst
            verdict.record(loop_seen=_describe(seen))
            verdict.fail(
                f"service {service.name} is in a restart loop: container {worst.name} "
                f"restarted {worst.restart_count} times and exited again within "
                f"{observe_s:g} s (exit code {seen.exit_code}); read its log with "
                f"'docker logs {worst.name}'",
                restart_count=max(seen.restart_count, worst.restart_count),
            )

    verdict.judge(
        worst.restart_count,
        subject=f"restart count of service {service.name} (container {worst.name})",
        name="restart_count",
    )
