"""The one result model that every report reads, and the exit status derived from it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Outcome = Literal["passed", "warning", "failed", "error", "skipped", "waived"]

OUTCOMES: tuple[Outcome, ...] = (
    "failed",
    "error",
    "warning",
    "waived",
    "skipped",
    "passed",
)

SEVERITY_OF: dict[str, str] = {
    "passed": "ok",
    "warning": "warning",
    "failed": "critical",
    "error": "critical",
    "skipped": "none",
}

# How far each outcome goes towards failing a run: "error" counts as "failed".
_RANK = {"passed": 0, "skipped": 0, "waived": 0, "warning": 1, "failed": 2, "error": 2}
FAIL_ON_RANK = {"warning": 1, "critical": 2}

# The name under which a check's result travels in its pytest report's
# user_properties, from an xdist worker to the main process.
RESULT_PROPERTY = "opscheck_result"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


@dataclass
class Result:
    """What one check found for one target."""

    id: str
    target: str | None
    outcome: Outcome
    message: str
    title: str = ""
    area: str = ""
    severity: str = "ok"
    evidence: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    runbook: str = ""
    suites: list[str] = field(default_factory=list)
    remediation: dict[str, Any] | None = None
    waiver: dict[str, Any] | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    nodeid: str = ""
    internal_error: bool = False

    @property
    def name(self) -> str:
        """Return the id with the target in brackets, as JUnit and the summary show it."""
        return f"{self.id}[{self.target}]" if self.target is not None else self.id

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data, in the order of the JSON report."""
        data = asdict(self)
        ordered = {
            key: data.pop(key)
            for key in (
                "id",
                "target",
                "outcome",
                "severity",
                "message",
                "evidence",
                "duration_s",
                "runbook",
                "remediation",
                "waiver",
            )
        }
        ordered.update(data)
        ordered["duration_s"] = round(float(ordered["duration_s"]), 4)
        return ordered

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """Rebuild a result sent by an xdist worker."""
        return cls(**data)


def exit_status(results: list[Result], fail_on: str) -> int:
    """Return 0 when nothing reached ``fail_on``, 1 when something did, 3 on an internal error."""
    if any(result.internal_error for result in results):
        return EXIT_INTERNAL
    threshold = FAIL_ON_RANK[fail_on]
    if any(_RANK[result.outcome] >= threshold for result in results):
        return EXIT_FAILED
    return EXIT_OK


def count_outcomes(results: list[Result]) -> dict[str, int]:
    """Count results by outcome, with every outcome present."""
    counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
    for result in results:
        counts[result.outcome] += 1
    return counts


def result_data(report: object) -> dict[str, Any] | None:
    """Return the result that a pytest report carries, or None for a report of no check."""
    for name, value in getattr(report, "user_properties", []):
        if name == RESULT_PROPERTY and isinstance(value, dict):
            return value
    return None
