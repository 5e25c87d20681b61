"""Security Operations: containers run unprivileged, limited, and keep the database local.

These follow the CIS Docker Benchmark: 5.4 (no privileged containers), 5.31 (no Docker
socket mounted into a container) and 4.1 (a non-root user), and the memory and CPU
limits of the runbook's vertical scaling.
"""

from __future__ import annotations

from opscheck.fixtures import container_security
from opscheck.fixtures.compose import ComposeService, ContainerState
from opscheck.fixtures.docker import DockerEngine
from opscheck.fixtures.host import Host

from opscheck.config.model import Config
from opscheck.declaration import check
from opscheck.plugin.verdict import Verdict


def _running(service: ComposeService, verdict: Verdict) -> list[ContainerState]:
    __tracebackhide__ = True
    found = [state for state in service.containers() if state.running]
    if not found:
        verdict.error(
            f"service {service.name} has no running container to inspect; start it with "
            f"'docker-compose up -d {service.name}'"
        )
    return found


@check(
    id="security.container_privileges",
    title="No container is privileged, mounts the Docker socket, or runs as root without a reason",
    suites=("security",),
    runbook="Security Operations; CIS Docker Benchmark 5.4, 5.31 and 4.1",
    per="service",
    description=(
        "Inspects each running container of the service. Privileged mode or a mount of the "
        "Docker socket fails (either gives the container control of the host). Running as "
        "root (User empty, 0 or root) warns, unless security.root_allowed in the config "
        "gives the reason for that service."
    ),
    default_timeout_s=30.0,
)
def test_security_container_privileges(
    service: ComposeService,
    engine: DockerEngine,
    opscheck_config: Config,
    verdict: Verdict,
) -> None:
    sockets = container_security.docker_socket_paths(engine.url)
    reason = opscheck_config.security.root_allowed.get(service.name)
    findings = [
        container_security.privileges(state, sockets)
        for state in _running(service, verdict)
    ]
    verdict.record(
        containers=[finding.to_dict() for finding in findings],
        socket_paths=sorted(sockets),
        root_allowed=reason,
    )

    for finding in findings:
        if finding.privileged:
            verdict.fail(
                f"container {finding.name} of service {service.name} runs privileged; remove "
                "'privileged: true' and grant only the capabilities it needs (cap_add)"
            )
        if finding.socket_mounts:
            verdict.fail(
                f"container {finding.name} of service {service.name} mounts the Docker socket "
                f"({', '.join(finding.socket_mounts)}), which gives it control of the engine; "
                "remove that volume"
            )

    as_root = [finding for finding in findings if finding.runs_as_root]
    if as_root and reason is None:
        names = ", ".join(f"{f.name} (User {f.user or 'unset'})" for f in as_root)
        verdict.warn(
            f"service {service.name} runs as root in {names}; set 'user:' in its compose "
            f"service, or give the reason under security.root_allowed.{service.name} in the config"
        )
    if as_root and reason is not None:
        verdict.passed(
            f"service {service.name} is not privileged and mounts no Docker socket; it runs "
            f"as root, allowed by the config: {reason}"
        )
    else:
        users = ", ".join(sorted({finding.user for finding in findings}))
        verdict.passed(
            f"service {service.name} is not privileged, mounts no Docker socket and runs as "
            f"user {users}"
        )


@check(
    id="security.exposed_database",
    title="The database port is not published on a public address",
    suites=("security",),
    runbook="Security Operations; Architecture: PostgreSQL on localhost:5432",
    per="database",
    description=(
        "Runs once for the database, on the compose service that runs it "
        "(database.service), and reads the container's published ports: a binding of "
        "the database port on 0.0.0.0, :: or no address fails. With host networking, "
        "reads the host's listening sockets (/proc/net/tcp and tcp6): 127.0.0.1 and "
        "::1 are local, any other address is exposed."
    ),
    default_timeout_s=30.0,
)
def test_security_exposed_database(
    engine: DockerEngine,
    host_system: Host,
    opscheck_config: Config,
    verdict: Verdict,
) -> None:
    database = opscheck_config.database
    service = container_security.database_service(engine, opscheck_config)
    port = database.port
    verdict.record(service=service.name, port=port)
    for state in _running(service, verdict):
        published = container_security.published_bindings(state, port)
        verdict.record(network_mode=container_security.network_mode(state))
        public = [binding for binding in published if binding.is_public]
        verdict.record(bindings=[binding.text for binding in published])
        if public:
            verdict.fail(
                f"container {state.name} publishes database port {port} on "
                f"{', '.join(binding.text for binding in public)}; publish it as "
                f"'127.0.0.1:{port}:{port}' or not at all"
            )

        if container_security.network_mode(state) != "host":
            continue
        listeners = [item for item in host_system.listeners() if item.port == port]
        verdict.record(
            listeners=[f"{item.address}:{item.port}" for item in listeners],
            listeners_source=f"/proc/net/tcp and tcp6 on host {host_system.backend}",
        )
        if not listeners:
            verdict.error(
                f"nothing listens on port {port} on host {host_system.backend}, although "
                f"container {state.name} uses host networking; check database.port"
            )
        exposed = [item for item in listeners if not item.is_loopback]
        if exposed:
            where = ", ".join(
                "all addresses" if item.is_all_addresses else item.address
                for item in exposed
            )
            verdict.fail(
                f"database port {port} of container {state.name} (host networking) listens on "
                f"{where}; set listen_addresses to 127.0.0.1 in PostgreSQL"
            )

    verdict.passed(
        f"database port {port} of service {service.name} is reachable from this host only"
    )


@check(
    id="security.resource_limits",
    title="Every service has a memory and a CPU limit",
    suites=("security", "weekly"),
    runbook="Scaling Procedures > Vertical Scaling (deploy.resources.limits)",
    per="service",
    description=(
        "Inspects each running container of the service: HostConfig.Memory for the memory "
        "limit, NanoCpus or CpuQuota for the CPU limit. A container without either warns, "
        "because one runaway service can then starve the others."
    ),
    default_timeout_s=30.0,
)
def test_security_resource_limits(service: ComposeService, verdict: Verdict) -> None:
    limits = [container_security.limits(state) for state in _running(service, verdict)]
    verdict.record(containers=[limit.to_dict() for limit in limits])

    for limit in limits:
        missing = limit.missing
        if missing:
            verdict.warn(
                f"container {limit.name} of service {service.name} has no {' and no '.join(missing)} "
                "limit; set mem_limit and cpus (or deploy.resources.limits) in its compose service"
            )
    if not verdict.warnings:
        limits_text = "; ".join(limit.describe() for limit in limits)
        verdict.passed(
            f"service {service.name} has memory and CPU limits ({limits_text})"
        )
