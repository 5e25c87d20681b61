"""The registered remediations, and how each one's arguments come from the config.

Every value taken from the config is validated (see validate.py) and passed as a
separate argv element or an environment variable, never through a shell. Secrets
travel only in the environment (``PGPASSWORD``), which audit records list by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from opscheck.config.model import Config
from opscheck.errors import RemediationError, UsageError
from opscheck.remediation import validate

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class Context:
    """The request to a remediation: the config, and the check and target that failed."""

    config: Config
    check_id: str | None = None
    target: str | None = None
    per: str | None = None


@dataclass(frozen=True)
class Invocation:
    """The arguments and environment of one remediation run."""

    arguments: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    acts_on: str | None = None


@dataclass(frozen=True)
class Remediation:
    """One remediation: its executable and how its invocation is built."""

    name: str
    summary: str
    build: Callable[[Context], Invocation]
    # What ``--target`` names for this remediation, or None when it takes no target.
    target: str | None = None
    # What the remediation acts on when it takes no target, as the config names it.
    acts_on: str = ""

    @property
    def script(self) -> Path:
        """Return the path of the executable shipped in ``opscheck.remediations``."""
        return Path(str(resources.files("opscheck.remediations").joinpath(self.name)))


def _docker_environment(config: Config) -> dict[str, str]:
    address = config.docker.host or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    return {"DOCKER_HOST": validate.docker_host(address)}


def _database_arguments(config: Config) -> tuple[list[str], dict[str, str]]:
    database = config.database
    arguments = [
        "--host", validate.host(database.host, "database.host"),
        "--port", str(database.port),
        "--database", validate.name(database.name, "database.name"),
        "--user", validate.name(database.user, "database.user"),
        "--sslmode", database.sslmode,
        "--connect-timeout", str(max(2, round(database.connect_timeout_s))),
    ]  # fmt: skip
    environment = {}
    if database.password is not None:
        environment["PGPASSWORD"] = database.password.get_secret_value()
    return arguments, environment


def _service_of(context: Context) -> str:
    config = context.config
    service = context.target
    if context.per == "endpoint" and context.target in config.endpoints:
        service = config.endpoints[context.target].service or context.target
    elif context.per not in (None, "service", "image"):
        service = None
    if not service:
        raise RemediationError(
            "restart-service needs the compose service to restart; pass --target SERVICE"
        )
    validate.name(service, "service")
    if service not in config.compose.services:
        raise RemediationError(
            f"service {service!r} is not one of compose.services "
            f"({', '.join(config.compose.services)}); restart-service only restarts those"
        )
    return service


def _restart_service(context: Context) -> Invocation:
    config = context.config
    service = _service_of(context)
    arguments = [
        "--project", validate.name(config.compose.project, "compose.project"),
        "--service", service,
        "--healthy-timeout", f"{config.remediation.healthy_timeout_s:g}",
    ]  # fmt: skip
    return Invocation(arguments, _docker_environment(config), service)


def _backup_database(context: Context) -> Invocation:
    config = context.config
    folder = validate.absolute_path(config.backups.path, "backups.path")
    database, environment = _database_arguments(config)
    arguments = [
        "--method", config.remediation.backup_method,
        "--folder", str(folder),
        "--project", validate.name(config.compose.project, "compose.project"),
        "--service", validate.name(config.database.service, "database.service"),
        "--timezone", config.backups.timezone,
        *database,
    ]  # fmt: skip
    if config.remediation.backup_method == "docker-exec":
        environment.update(_docker_environment(config))
    return Invocation(arguments, environment, str(folder))


def _terminate_long_queries(context: Context) -> Invocation:
    config = context.config
    arguments, environment = _database_arguments(config)
    arguments += ["--min-age-s", f"{config.remediation.long_query_s:g}"]
    for role in config.remediation.protected_roles:
        arguments += ["--protected-role", validate.name(role, "protected role")]
    return Invocation(arguments, environment, config.database.name)


def _vacuum_analyze(context: Context) -> Invocation:
    config = context.config
    arguments, environment = _database_arguments(config)
    acts_on = config.database.name
    target = context.target
    if target and target != config.database.name and context.per in (None, "table"):
        arguments += ["--table", validate.table(target)]
        acts_on = target
    if config.remediation.vacuum_full:
        arguments.append("--full")
    if config.remediation.reindex:
        arguments.append("--reindex")
    return Invocation(arguments, environment, acts_on)


def _docker_cleanup(context: Context) -> Invocation:
    config = context.config
    arguments: list[str] = []
    for volume in config.remediation.prune_volumes:
        arguments += ["--prune-volume", validate.name(volume, "volume")]
    return Invocation(arguments, _docker_environment(config), "docker engine")


def _prune_old_backups(context: Context) -> Invocation:
    config = context.config
    folder = validate.absolute_path(config.backups.path, "backups.path")
    arguments = [
        "--folder", str(folder),
        "--retention-days", str(config.backups.retention_days),
        "--keep-newest", str(config.backups.keep_newest),
    ]  # fmt: skip
    return Invocation(arguments, {}, str(folder))


def _capture_evidence(context: Context) -> Invocation:
    config = context.config
    services = list(config.compose.services)
    if context.per in (None, "service", "image") and context.target:
        services = [validate.name(context.target, "service")]
    output = validate.absolute_path(
        config.remediation.evidence_dir, "remediation.evidence_dir"
    )
    arguments = [
        "--project", validate.name(config.compose.project, "compose.project"),
        "--output-dir", str(output),
        "--since-hours", f"{config.remediation.evidence_log_hours:g}",
    ]  # fmt: skip
    for service in services:
        arguments += ["--service", validate.name(service, "service")]
    env_file = config.secrets.env_file
    if env_file.is_absolute():
        arguments += ["--env-file", str(validate.absolute_path(env_file, "env file"))]
    return Invocation(arguments, _docker_environment(config), ",".join(services))


REGISTRY: dict[str, Remediation] = {
    item.name: item
    for item in (
        Remediation(
            "restart-service",
            "restart the containers of one compose service and wait until they are healthy",
            _restart_service,
            target="a compose service",
        ),
        Remediation(
            "backup-database",
            "write a verified pg_dump backup_YYYYMMDD_HHMMSS.sql.gz to the backup folder",
            _backup_database,
            acts_on="the database section and backups.path",
        ),
        Remediation(
            "terminate-long-queries",
            "end queries active for longer than remediation.long_query_s",
            _terminate_long_queries,
            acts_on="the queries of database.name",
        ),
        Remediation(
            "vacuum-analyze",
            "run VACUUM ANALYZE on the database or one table",
            _vacuum_analyze,
            target="a table",
        ),
        Remediation(
            "docker-cleanup",
            "remove dangling images, stopped containers outside compose projects, "
            "and the unused volumes named in remediation.prune_volumes",
            _docker_cleanup,
            acts_on="the Docker engine and remediation.prune_volumes",
        ),
        Remediation(
            "prune-old-backups",
            "remove backups older than backups.retention_days, keeping the newest ones",
            _prune_old_backups,
            acts_on="the backup folder backups.path",
        ),
        Remediation(
            "capture-evidence",
            "save logs, inspect output and state of services into a tar.gz, secrets removed",
            _capture_evidence,
            target="a compose service",
        ),
    )
}


def check_target(remediation: Remediation, target: str | None) -> None:
    """Raise UsageError when ``target`` is given to a remediation that takes none."""
    if target is None or remediation.target is not None:
        return
    raise UsageError(
        f"remediation {remediation.name} takes no --target (got {target!r}): it acts "
        f"on {remediation.acts_on}, which the config sets; remove --target"
    )


def get(name: str) -> Remediation:
    """Return the remediation called ``name``, or raise RemediationError listing the names."""
    found = REGISTRY.get(name)
    if found is None:
        raise RemediationError(
            f"unknown remediation {name!r}; known: {', '.join(sorted(REGISTRY))}"
        )
    return found
