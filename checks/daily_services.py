"""Daily Operations, Morning Health Check step 1: every service is up and healthy.

The runbook expects ``docker-compose ps`` to show each service as ``Up X minutes
(healthy)``; these checks ask the Docker engine for the same facts by compose label.
"""

from __future__ import annotations

import time

from opscheck.fixtures.compose import ComposeService, ContainerState

from opscheck.declaration import check
from opscheck.plugin.verdict import Verdict

RUNBOOK_STATUS = (
    "Daily Operations > Morning Health Check (step 1, Expected: Up (healthy))"
)


def _describe(state: ContainerState) -> dict[str, object]:
    return {
        "name": state.name,
        "status": state.status,
        "health": state.health,
        "exit_code": state.exit_code,
        "started_at": state.started_at.isoformat() if state.started_at else None,
        "restart_count": state.restart_count,
        "image": state.image,
    }


def _stopped(state: ContainerState) -> str:
    detail = f"{state.name} is {state.status}"
    if state.status in ("exited", "dead"):
        detail += f" with exit code {state.exit_code}"
        if state.finished_at is not None:
            detail += f" since {state.finished_at:%Y-%m-%d %H:%M:%S} UTC"
    if state.error:
        detail += f" ({state.error})"
    return detail


@check(
    id="services.running",
    title="Every expected service has a running container",
    suites=("daily", "deploy_gate", "weekly"),
    runbook=f"{RUNBOOK_STATUS}; Deployment Procedures > Post-Deployment Verification",
    per="service",
    description=(
        "Lists the containers of the service by its compose labels and expects each to be "
        "in state running. A service with no container, or one exited, dead or restarting, fails."
    ),
    remediation="restart-service",
    phases=("pre", "post"),
)
def test_services_running(service: ComposeService, verdict: Verdict) -> None:
    containers = service.containers()
    verdict.record(
        project=service.project, containers=[_describe(state) for state in containers]
    )

    if not containers:
        projects = service.projects_on_engine()
        hint = ""
        if service.project not in projects:
            others = ", ".join(projects) if projects else "none"
            hint = (
                f"; no container on this engine belongs to project {service.project} "
                f"(projects found: {others}), so check compose.project"
            )
        verdict.fail(
            f"service {service.name} has no container in compose project {service.project}; "
            f"start it with 'docker-compose up -d {service.name}'{hint}"
        )

    stopped = [state for state in containers if not state.running or state.restarting]
    if stopped:
        verdict.fail(
            f"service {service.name} is not running: {'; '.join(_stopped(state) for state in stopped)}"
        )

    names = ", ".join(state.name for state in containers)
    verdict.passed(f"service {service.name} is running ({names})")


@check(
    id="services.healthy",
    title="Every service with a healthcheck reports healthy",
    suites=("daily", "deploy_gate", "weekly"),
    runbook=RUNBOOK_STATUS,
    per="service",
    description=(
        "Reads the Docker health status of each container of the service. 'starting' is "
        "polled until the grace period after the container's start ends, since a service "
        "that was just restarted has not run its first probe yet."
    ),
    remediation="restart-service",
    options={"grace_period_s": 60.0, "poll_interval_s": 1.0},
    default_timeout_s=120.0,
    phases=("pre", "post"),
)
def test_services_healthy(service: ComposeService, verdict: Verdict) -> None:
    grace = float(verdict.option("grace_period_s"))
    interval = float(verdict.option("poll_interval_s"))
    verdict.record(grace_period_s=grace)

    while True:
        containers = service.containers()
        verdict.record(containers=[_describe(state) for state in containers])
        if not containers:
            verdict.fail(
                f"service {service.name} has no container, so it cannot be healthy"
            )

        stopped = [state for state in containers if not state.running]
        if stopped:
            verdict.fail(
                f"service {service.name} is not healthy because it is not running: "
                f"{'; '.join(_stopped(state) for state in stopped)}"
            )

        checked = [state for state in containers if state.has_healthcheck]
        if not checked:
            verdict.skip(
                f"service {service.name} has no Docker healthcheck; add a healthcheck to its "
                "compose service to have its health checked"
            )

        unhealthy = [state for state in checked if state.health == "unhealthy"]
        if unhealthy:
            state = unhealthy[0]
            if state.failing_streak:
                streak = f"failed its last {state.failing_streak} health probes"
            else:
                # Docker keeps the unhealthy status of a container that restarted
                # before its first new probe ran.
                streak = (
                    f"is still marked unhealthy after {state.restart_count} restarts"
                )
            verdict.fail(
                f"service {service.name} is unhealthy: container {state.name} {streak} "
                f"(last probe: {state.last_probe or 'no output'})"
            )

        starting = [state for state in checked if state.health == "starting"]
        if not starting:
            break

        youngest_age = min(state.age_s() or 0.0 for state in starting)
        if youngest_age >= grace:
            state = starting[0]
            verdict.fail(
                f"service {service.name} is still starting {youngest_age:.0f} s after container "
                f"{state.name} started, past the {grace:.0f} s grace period "
                f"(last probe: {state.last_probe or 'none yet'})"
            )
        time.sleep(min(interval, max(grace - youngest_age, 0.1)))

    names = ", ".join(state.name for state in checked)
    verdict.passed(f"service {service.name} is healthy ({names})")
