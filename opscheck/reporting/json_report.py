"""The JSON report: one object with ``run`` and ``results``."""

from __future__ import annotations

import json
from typing import Any

from opscheck import redaction
from opscheck.plugin.results import count_outcomes
from opscheck.plugin.state import RunState


def build(state: RunState) -> dict[str, Any]:
    """Return the JSON report of a run as data, secrets removed."""
    report = {
        "run": state.run_metadata(),
        "summary": count_outcomes(state.results),
        "problems": list(state.problems),
        "results": [result.to_dict() for result in state.results],
    }
    cleaned: dict[str, Any] = redaction.current().data(report)
    return cleaned


def render(state: RunState) -> bytes:
    """Return the JSON report of a run as UTF-8 bytes."""
    return (
        json.dumps(build(state), indent=2, ensure_ascii=False, default=str) + "\n"
    ).encode()
