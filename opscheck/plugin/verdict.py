"""The handle a check uses to record evidence and end with an outcome."""

from __future__ import annotations

from typing import Any, NoReturn

import pytest

from opscheck.declaration import Declaration
from opscheck.errors import CheckError, CheckFailed
from opscheck.levels import Levels, Severity


class Verdict:
    """Evidence, levels and the message of one check on one target.

    A check measures, then calls ``judge`` with the value: crossing the critical level
    raises ``CheckFailed``, crossing only the warning level records a warning, and the
    check goes on. ``fail``, ``error`` and ``skip`` end the check at once.
    """

    __tracebackhide__ = True

    def __init__(
        self,
        declaration: Declaration,
        target: str | None,
        levels: Levels | None,
        options: dict[str, Any],
    ) -> None:
        self.declaration = declaration
        self.target = target
        self.levels = levels
        self.options = options
        self.evidence: dict[str, Any] = {}
        self.message: str | None = None
        self.warnings: list[str] = []

    @property
    def outcome(self) -> str:
        """Return ``warning`` when a warning was recorded, else ``passed``."""
        return "warning" if self.warnings else "passed"

    def option(self, name: str) -> Any:
        """Return one of the check's own options, from the config or its declared default."""
        return self.options[name]

    def record(self, **values: Any) -> None:
        """Add measured values to the evidence."""
        self.evidence.update(values)

    def passed(self, message: str) -> None:
        """Set the message of a check that passes, unless a warning already set one."""
        if not self.warnings:
            self.message = message

    def warn(self, message: str) -> None:
        """Record a warning; the check goes on and ends as ``warning`` unless it fails."""
        self.warnings.append(message)
        self.message = "; ".join(self.warnings)

    def fail(self, message: str, **evidence: Any) -> NoReturn:
        """End the check as ``failed``."""
        __tracebackhide__ = True
        self.evidence.update(evidence)
        raise CheckFailed(message, **evidence)

    def error(self, message: str, **evidence: Any) -> NoReturn:
        """End the check as ``error``: it could not tell."""
        __tracebackhide__ = True
        self.evidence.update(evidence)
        raise CheckError(message, **evidence)

    def skip(self, reason: str) -> NoReturn:
        """End the check as ``skipped`` with the reason."""
        __tracebackhide__ = True
        self.message = reason
        pytest.skip(reason)

    def judge(
        self,
        value: float,
        *,
        subject: str,
        name: str = "value",
        levels: Levels | None = None,
        shown: str | None = None,
    ) -> Severity:
        """Hold ``value`` against the levels, record both, and fail or warn when crossed.

        ``subject`` names what was measured ("CPU of backend"), ``name`` the evidence key
        of the value, ``shown`` overrides how the value is written in the message.
        """
        __tracebackhide__ = True
        levels = levels or self.levels
        if levels is None:
            raise RuntimeError(
                f"check {self.declaration.id} judges a value but declares no levels"
            )

        self.evidence[name] = value
        self.evidence.update(levels.evidence())
        if levels.unit:
            self.evidence.setdefault("unit", levels.unit)

        severity = levels.judge(value)
        text = shown if shown is not None else levels.format(value)
        if severity == "critical":
            assert levels.critical is not None
            self.fail(
                f"{subject} is {text}, {levels.relation()} the critical level "
                f"{levels.format(levels.critical)}"
            )
        if severity == "warning":
            assert levels.warning is not None
            self.warn(
                f"{subject} is {text}, {levels.relation()} the warning level "
                f"{levels.format(levels.warning)}"
            )
        else:
            self.passed(f"{subject} is {text} ({levels.describe()})")
        return severity
