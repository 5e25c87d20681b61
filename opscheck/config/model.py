"""The validated config model, with the runbook's values as defaults.

An empty file, or no file at all, checks the stack that the runbook describes. Paths
that are relative in the file are resolved against the file's folder by the loader.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

SERVICE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


class Section(BaseModel):
    """Base of every config section: unknown keys are rejected, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _check_service_name(name: str) -> str:
    if not SERVICE_NAME.match(name):
        raise ValueError(
            f"{name!r} is not a valid compose service name "
            "(letters, digits, '_', '.', '-', starting with a letter or digit)"
        )
    return name


class ComposeSection(Section):
    """The compose project whose services are checked."""

    project: str = "taskmanagement"
    services: list[str] = Field(
        default_factory=lambda: ["backend", "frontend", "db", "nginx"]
    )
    file: Path | None = None

    @field_validator("project")
    @classmethod
    def _project_name(cls, value: str) -> str:
        return _check_service_name(value)

    @field_validator("services")
    @classmethod
    def _service_names(cls, value: list[str]) -> list[str]:
        for name in value:
            _check_service_name(name)
        if len(set(value)) != len(value):
            raise ValueError("lists a service twice")
        return value


class DockerSection(Section):
    """How to reach the Docker engine."""

    host: str | None = None
    timeout_s: float = Field(default=10.0, gt=0)


class EndpointSection(Section):
    """One HTTP health endpoint."""

    url: str
    healthy_status: str = "healthy"
    service: str | None = None
    timeout_s: float = Field(default=5.0, gt=0)
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value


def _default_endpoints() -> dict[str, EndpointSection]:
    return {
        "backend": EndpointSection(
            url="http://localhost:5000/api/health", service="backend"
        ),
        "frontend": EndpointSection(
            url="http://localhost:3000/api/health", service="frontend"
        ),
    }


class DatabaseSection(Section):
    """The PostgreSQL database of the stack."""

    host: str = "localhost"
    port: int = Field(default=5432, ge=1, le=65535)
    name: str = "taskdb"
    user: str = "taskuser"
    password: SecretStr | None = None
    service: str = "db"
    connect_timeout_s: float = Field(default=5.0, gt=0)
    statement_timeout_s: float = Field(default=30.0, gt=0)
    sslmode: Literal[
        "disable", "allow", "prefer", "require", "verify-ca", "verify-full"
    ] = "prefer"


# Databases that a restore test must never create or drop.
RESERVED_DATABASES = ("postgres", "template0", "template1")


class RestoreSection(Section):
    """How the monthly restore test reaches PostgreSQL.

    ``method: psql`` runs the host's psql against ``database.host``; ``docker-exec``
    runs psql inside ``container``, as the runbook's restore script does. ``user`` and
    ``password`` default to the database section's; a dump that contains
    ``CREATE EXTENSION`` needs a superuser here.
    """

    database: str | None = None
    method: Literal["psql", "docker-exec"] = "psql"
    container: str = "taskmanagement_postgres"
    user: str | None = None
    password: SecretStr | None = None
    psql: Path | None = None
    maintenance_database: str = "postgres"
    timeout_s: float = Field(default=1800.0, gt=0)


class BackupsSection(Section):
    """The folder that the nightly backup job writes to."""

    path: Path = Path("/backups/database")
    timezone: str = "UTC"
    retention_days: int = Field(default=30, ge=1)
    keep_newest: int = Field(default=7, ge=1)
    restore: RestoreSection = Field(default_factory=RestoreSection)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"{value!r} is not a known time zone; use an IANA name such as UTC or Europe/Paris"
            ) from exc
        return value


class LogsSection(Section):
    """Where logs are read and which lines are not errors."""

    ignore: list[str] = Field(default_factory=list)
    access_log: Path = Path("/var/log/nginx/access.log")
    access_log_format: str = "combined"
    max_line_bytes: int = Field(default=65536, ge=256)

    @field_validator("ignore")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"{pattern!r} is not a valid regular expression: {exc}"
                ) from exc
        return value


class SecretsSection(Section):
    """The file that holds the stack's secrets."""

    env_file: Path = Path(".env")


class DiskSection(Section):
    """The filesystems whose usage is checked."""

    paths: list[Path] = Field(default_factory=lambda: [Path("/")])
    include_docker_root: bool = True


def _default_attestations() -> list[str]:
    return [
        "staging_tests_passed",
        "team_notified",
        "rollback_plan_ready",
        "oncall_available",
    ]


class OffpeakSection(Section):
    """The window in which deploys are preferred."""

    start: time = time(22, 0)
    end: time = time(6, 0)
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return BackupsSection._known_zone(value)


class DeploySection(Section):
    """The deploy gate's checklist and window."""

    attestations: list[str] = Field(default_factory=_default_attestations)
    offpeak: OffpeakSection = Field(default_factory=OffpeakSection)
    latency_requests: int = Field(default=10, ge=1, le=1000)


class RemediationSection(Section):
    """How paired remediations are allowed to run."""

    audit_log: Path = Path("reports/remediation-audit.jsonl")
    max_per_run: int = Field(default=3, ge=0)
    timeout_s: float = Field(default=300.0, gt=0)
    lock_file: Path = Path("reports/.remediation.lock")
    backup_method: Literal["docker-exec", "dsn"] = "docker-exec"
    protected_roles: list[str] = Field(default_factory=list)
    prune_volumes: list[str] = Field(default_factory=list)
    vacuum_full: bool = False
    reindex: bool = False
    # How long a second opscheck process waits for the lock before it skips.
    lock_wait_s: float = Field(default=30.0, ge=0)
    # terminate-long-queries ends queries active for longer than this (the runbook's 5 min).
    long_query_s: float = Field(default=300.0, gt=0)
    # restart-service waits this long for the restarted containers to report healthy.
    healthy_timeout_s: float = Field(default=120.0, gt=0)
    evidence_dir: Path = Path("reports/evidence")
    evidence_log_hours: float = Field(default=24.0, gt=0)


class TlsTarget(Section):
    """A TLS endpoint (host and port) or a certificate file."""

    host: str | None = None
    port: int = Field(default=443, ge=1, le=65535)
    server_name: str | None = None
    file: Path | None = None
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _host_or_file(self) -> TlsTarget:
        if (self.host is None) == (self.file is None):
            raise ValueError(
                "give either host (with port) for a TLS endpoint or file for a certificate file"
            )
        return self


class HostSection(Section):
    """The host that the stack runs on, reached through pytest-testinfra."""

    # A testinfra backend URL: local://, ssh://user@host, docker://container.
    backend: str = "local://"


class SecuritySection(Section):
    """Settings of the security checks."""

    # Service name -> why its containers may run as root.
    root_allowed: dict[str, str] = Field(default_factory=dict)


class ReportsSection(Section):
    """Where reports are written."""

    dir: Path = Path("reports")


class CheckSettings(BaseModel):
    """Levels, timeout and switches of one check; the check's own options are checked later."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False)

    enabled: bool = True
    timeout_s: float | None = Field(default=None, gt=0)


class Config(Section):
    """The whole opscheck config."""

    compose: ComposeSection = Field(default_factory=ComposeSection)
    docker: DockerSection = Field(default_factory=DockerSection)
    endpoints: dict[str, EndpointSection] = Field(default_factory=_default_endpoints)
    database: DatabaseSection = Field(default_factory=DatabaseSection)
    backups: BackupsSection = Field(default_factory=BackupsSection)
    logs: LogsSection = Field(default_factory=LogsSection)
    secrets: SecretsSection = Field(default_factory=SecretsSection)
    disk: DiskSection = Field(default_factory=DiskSection)
    deploy: DeploySection = Field(default_factory=DeploySection)
    remediation: RemediationSection = Field(default_factory=RemediationSection)
    tls: list[TlsTarget] = Field(default_factory=list)
    host: HostSection = Field(default_factory=HostSection)
    security: SecuritySection = Field(default_factory=SecuritySection)
    reports: ReportsSection = Field(default_factory=ReportsSection)
    waivers: Path | None = None
    checks: dict[str, CheckSettings] = Field(default_factory=dict)

    @field_validator("backups")
    @classmethod
    def _scratch_is_not_live(
        cls, value: BackupsSection, info: ValidationInfo
    ) -> BackupsSection:
        database = info.data.get("database")
        scratch = value.restore.database
        if scratch is None or not isinstance(database, DatabaseSection):
            return value
        if scratch == database.name or scratch in RESERVED_DATABASES:
            raise ValueError(
                f"restore.database {scratch!r} is the live database or a system one, "
                "and the restore test drops its scratch database when it ends; set "
                f"backups.restore.database to another name, such as "
                f"{database.name}_restore_test"
            )
        return value

    def check_settings(self, check_id: str) -> CheckSettings:
        """Return the settings of one check, empty when the config names none."""
        return self.checks.get(check_id, CheckSettings())

    def check_option(self, check_id: str, name: str, default: Any) -> Any:
        """Return a check's own option from the config, or the declared default."""
        extra = self.check_settings(check_id).model_extra or {}
        return extra.get(name, default)
