"""The one declaration of each check: id, title, suites, runbook section, levels, remediation.

Markers, ``opscheck list``, ``opscheck explain``, config validation and every report read
this declaration, so a check states each fact about itself once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from opscheck.levels import Levels

SUITES = ("daily", "deploy_gate", "weekly", "monthly", "security", "monitor")

# The two halves of a deploy: before it (checklist, backup, health) and after it.
PHASES = ("pre", "post")

SUITE_HELP = {
    "daily": "the 9:00 health check, 10:00 log review and 11:00 backup verification",
    "deploy_gate": "before and after a deploy: checklist, backup, health and version",
    "weekly": "the Sunday maintenance window and its post-maintenance health checks",
    "monthly": "certificate renewal, backup restoration test and capacity review",
    "security": "the weekly security check and the security operations",
    "monitor": "the alert thresholds table, meant to run every few minutes",
}

TARGET_KINDS = (
    "service",
    "endpoint",
    "path",
    "folder",
    "database",
    "host",
    "table",
    "image",
    "log",
    "file",
    "item",
    "gate",
    "tls",
)

ATTRIBUTE = "__opscheck__"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Declaration:
    """What a check is: the facts that every list, report and config key is built from."""

    id: str
    title: str
    suites: tuple[str, ...]
    runbook: str
    per: str
    description: str = ""
    levels: Levels | None = None
    suite_levels: Mapping[str, Levels] = field(default_factory=dict)
    remediation: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    default_timeout_s: float = 60.0
    # Deploy gate phases the check runs in; an empty tuple means every phase.
    phases: tuple[str, ...] = ()

    @property
    def area(self) -> str:
        """Return the check's area, the part of its id before the first dot."""
        return self.id.split(".", 1)[0]

    def levels_for(self, suite: str | None) -> Levels | None:
        """Return the default levels of this check when run as part of ``suite``."""
        if suite is not None and suite in self.suite_levels:
            return self.suite_levels[suite]
        return self.levels

    def all_levels(self) -> dict[str, Levels]:
        """Return the levels by suite, with ``*`` for the levels shared by every suite."""
        result: dict[str, Levels] = {}
        if self.levels is not None:
            result["*"] = self.levels
        result.update(self.suite_levels)
        return result

    def to_dict(self) -> dict[str, Any]:
        """Return the declaration as plain data, as ``opscheck list --json`` prints it."""
        return {
            "id": self.id,
            "title": self.title,
            "suites": list(self.suites),
            "per": self.per,
            "runbook": self.runbook,
            "description": self.description,
            "levels": {
                suite: {
                    **levels.evidence(),
                    "unit": levels.unit,
                    "text": levels.describe(),
                }
                for suite, levels in self.all_levels().items()
            },
            "remediation": self.remediation,
            "options": dict(self.options),
            "phases": list(self.phases),
        }


def check(
    *,
    id: str,
    title: str,
    suites: tuple[str, ...],
    runbook: str,
    per: str,
    description: str = "",
    levels: Levels | None = None,
    suite_levels: Mapping[str, Levels] | None = None,
    remediation: str | None = None,
    options: Mapping[str, Any] | None = None,
    default_timeout_s: float = 60.0,
    phases: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """Declare a pytest function as a runbook check and mark it with its suites."""
    unknown = [suite for suite in suites if suite not in SUITES]
    if unknown:
        raise ValueError(
            f"check {id}: unknown suites {unknown}; known: {', '.join(SUITES)}"
        )
    unknown_phases = [phase for phase in phases if phase not in PHASES]
    if unknown_phases:
        raise ValueError(
            f"check {id}: unknown deploy phases {unknown_phases}; known: {', '.join(PHASES)}"
        )
    if phases and "deploy_gate" not in suites:
        raise ValueError(f"check {id}: deploy phases need the deploy_gate suite")
    if per not in TARGET_KINDS:
        raise ValueError(
            f"check {id}: unknown target kind {per!r}; known: {TARGET_KINDS}"
        )

    declaration = Declaration(
        id=id,
        title=title,
        suites=tuple(suites),
        runbook=runbook,
        per=per,
        description=description,
        levels=levels,
        suite_levels=dict(suite_levels or {}),
        remediation=remediation,
        options=dict(options or {}),
        default_timeout_s=default_timeout_s,
        phases=tuple(phases),
    )

    def mark(function: F) -> F:
        setattr(function, ATTRIBUTE, declaration)
        marked: Any = function
        for suite in suites:
            marked = getattr(pytest.mark, suite)(marked)
        return marked  # type: ignore[no-any-return]

    return mark


def declaration_of(function: object) -> Declaration | None:
    """Return the declaration attached to a check function, or None for other functions."""
    found = getattr(function, ATTRIBUTE, None)
    return found if isinstance(found, Declaration) else None
