"""The state of one run, kept in the pytest config's stash by the main process."""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from opscheck import __version__
from opscheck.config.loader import LoadedConfig
from opscheck.plugin.results import Result
from opscheck.plugin.waivers import Waiver


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Format a time as ISO 8601 UTC with a Z suffix."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def current_user() -> str:
    """Return the login name of the user running opscheck, or the numeric uid."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


@dataclass
class ReportPaths:
    """The report files of this run."""

    json: Path | None = None
    junit: Path | None = None
    html: Path | None = None
    copies: dict[str, Path] = field(default_factory=dict)
    latest_prefix: Path | None = None


@dataclass
class Attestation:
    """A checklist item that a person or a CI job attests for this run."""

    key: str
    note: str
    by: str
    at: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        """Return the attestation as JSON-ready data."""
        return {
            "key": self.key,
            "note": self.note,
            "by": self.by,
            "at": self.at,
            "source": self.source,
        }


@dataclass
class RunState:
    """Everything the reports need about one run."""

    loaded: LoadedConfig
    suite: str | None
    fail_on: str
    reports: ReportPaths
    waivers: list[Waiver] = field(default_factory=list)
    attestations: list[Attestation] = field(default_factory=list)
    expect_version: str | None = None
    phase: str = "all"
    timeout_s: float | None = None
    wait_s: float = 0.0
    wait_interval_s: float = 5.0
    remediate: str = "off"
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: datetime = field(default_factory=utc_now)
    monotonic_start: float = field(default_factory=time.monotonic)
    finished_at: datetime | None = None
    host: str = field(default_factory=socket.gethostname)
    user: str = field(default_factory=current_user)
    results: list[Result] = field(default_factory=list)
    exit_status: int | None = None
    written: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def run_metadata(self) -> dict[str, Any]:
        """Return the ``run`` object of the JSON report."""
        finished = self.finished_at or utc_now()
        return {
            "id": self.run_id,
            "suite": self.suite,
            "started_at": iso(self.started_at),
            "finished_at": iso(finished),
            "duration_s": round((finished - self.started_at).total_seconds(), 3),
            "host": self.host,
            "user": self.user,
            "opscheck_version": __version__,
            "config": str(self.loaded.source) if self.loaded.source else None,
            "config_sha256": self.loaded.sha256,
            "fail_on": self.fail_on,
            "phase": self.phase if self.suite == "deploy_gate" else None,
            "expect_version": self.expect_version,
            "remediate": self.remediate,
            "exit_status": self.exit_status,
            "attestations": [item.to_dict() for item in self.attestations],
        }


STATE_KEY = pytest.StashKey[RunState]()
