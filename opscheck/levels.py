"""Warning and critical levels, and the one function that judges a value against them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from opscheck.config.units import format_size, parse_size

Direction = Literal["above", "below"]
Severity = Literal["ok", "warning", "critical"]


def _plain(value: float) -> str:
    if float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.1f}"


FORMATTERS: dict[str, Callable[[float], str]] = {
    "%": lambda value: f"{value:.1f} %",
    "ms": lambda value: f"{value:.0f} ms",
    "s": lambda value: f"{value:.1f} s",
    "bytes": format_size,
    "days": lambda value: f"{value:.1f} days",
    "count": _plain,
    "": _plain,
}


@dataclass(frozen=True)
class Levels:
    """The warning and critical levels of a check.

    With ``direction="above"`` a value crosses a level when it is greater than it (or
    equal, with ``inclusive``); with ``"below"`` when it is smaller. ``None`` means the
    check has no level of that kind.
    """

    warning: float | None = None
    critical: float | None = None
    direction: Direction = "above"
    inclusive: bool = False
    unit: str = ""

    @property
    def keys(self) -> tuple[str, str]:
        """Return the config and evidence names of the two levels."""
        if self.direction == "below":
            return ("warning_below", "critical_below")
        return ("warning", "critical")

    def crosses(self, value: float, level: float | None) -> bool:
        """Tell whether ``value`` crosses ``level`` in this direction."""
        if level is None:
            return False
        if self.direction == "above":
            return value >= level if self.inclusive else value > level
        return value <= level if self.inclusive else value < level

    def judge(self, value: float) -> Severity:
        """Return ``critical``, ``warning`` or ``ok`` for a measured value."""
        if self.crosses(value, self.critical):
            return "critical"
        if self.crosses(value, self.warning):
            return "warning"
        return "ok"

    def format(self, value: float) -> str:
        """Format a value or level in this check's unit."""
        return FORMATTERS.get(self.unit, _plain)(value)

    def relation(self) -> str:
        """Describe how a value stands to a level it crosses ("at or above")."""
        if self.direction == "above":
            return "at or above" if self.inclusive else "above"
        return "at or below" if self.inclusive else "below"

    def evidence(self) -> dict[str, float | None]:
        """Return the levels under their evidence names."""
        warning_key, critical_key = self.keys
        return {warning_key: self.warning, critical_key: self.critical}

    def describe(self) -> str:
        """Describe both levels in words, as ``opscheck list`` and messages show them."""
        parts = []
        for name, level in (("warning", self.warning), ("critical", self.critical)):
            if level is not None:
                parts.append(f"{name} {self.relation()} {self.format(level)}")
        return ", ".join(parts) if parts else "no levels"

    def with_overrides(self, overrides: dict[str, Any]) -> Levels:
        """Return these levels with values from the config (already validated)."""
        warning_key, critical_key = self.keys
        changes: dict[str, float | None] = {}
        for key, field in ((warning_key, "warning"), (critical_key, "critical")):
            if key in overrides:
                changes[field] = self.parse(overrides[key])
        return replace(self, **changes)  # type: ignore[arg-type]

    def parse(self, raw: object) -> float | None:
        """Convert a level from the config into a number in this check's unit."""
        if raw is None:
            return None
        if self.unit == "bytes":
            return float(parse_size(raw))
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError(f"{raw!r} is not a number")
        if not math.isfinite(raw):
            raise ValueError(
                f"{raw!r} is not a finite number; write a level such as 80"
            )
        return float(raw)

    def order_problem(self) -> str | None:
        """Return why the two levels cannot both hold, or None when they are consistent."""
        if self.warning is None or self.critical is None:
            return None
        warning_key, critical_key = self.keys
        if self.direction == "above" and self.warning > self.critical:
            return (
                f"{warning_key} {self.format(self.warning)} is above "
                f"{critical_key} {self.format(self.critical)}, so the check would never warn; "
                f"set {warning_key} at or below {critical_key}"
            )
        if self.direction == "below" and self.warning < self.critical:
            return (
                f"{warning_key} {self.format(self.warning)} is below "
                f"{critical_key} {self.format(self.critical)}, so the check would never warn; "
                f"set {warning_key} at or above {critical_key}"
            )
        return None
