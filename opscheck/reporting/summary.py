"""The terminal summary: one line per result that needs attention, counts, report paths."""

from __future__ import annotations

import re
from pathlib import Path

import click

from opscheck import redaction
from opscheck.plugin.results import OUTCOMES, Result, count_outcomes
from opscheck.plugin.state import RunState
from opscheck.remediation.report import headline

_STYLE = {
    "failed": {"fg": "red", "bold": True},
    "error": {"fg": "magenta", "bold": True},
    "warning": {"fg": "yellow", "bold": True},
    "waived": {"fg": "cyan"},
    "skipped": {"fg": "blue"},
    "passed": {"fg": "green"},
}

_ATTENTION = ("failed", "error", "warning")


# Control characters from the checked system (an escape sequence that sets the window
# title, a bell) are shown as escapes, never sent to the terminal.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(text: str) -> str:
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _line(result: Result, width: int, color: bool) -> str:
    label = result.outcome.upper().ljust(8)
    if color:
        label = click.style(label, **_STYLE[result.outcome])  # type: ignore[arg-type]
    return f"{label} {_visible(result.name).ljust(width)}  {_visible(result.message)}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def render(
    state: RunState, *, verbose: bool, color: bool, cwd: Path | None = None
) -> str:
    """Return the summary of a finished run as text, secrets removed."""
    results = state.results
    counts = count_outcomes(results)
    duration = state.run_metadata()["duration_s"]
    where = str(state.loaded.source) if state.loaded.source else "built-in defaults"
    command = (state.suite or "run").replace("_", "-")
    lines = [
        f"opscheck {command}: {_count(len(results), 'result')} in {duration:.1f} s "
        f"(project {state.loaded.config.compose.project}, config {where})"
    ]

    shown = [r for r in results if verbose or r.outcome in _ATTENTION]
    order = {outcome: index for index, outcome in enumerate(OUTCOMES)}
    shown.sort(key=lambda result: order[result.outcome])
    if shown:
        width = min(max(len(result.name) for result in shown), 48)
        lines.append("")
        lines.extend(_line(result, width, color) for result in shown)

    # Dry runs are shown here, because pytest captures the terminal while checks run.
    taken = [
        r.remediation for r in results if r.remediation and r.remediation.get("taken")
    ]
    if taken:
        lines.append("")
        for remediation in taken:
            line = headline(remediation["taken"])
            if remediation.get("after"):
                line += (
                    f"; outcome {remediation.get('before')} -> {remediation['after']}"
                )
            lines.append(line)

    for problem in state.problems:
        lines.append(f"problem: {_visible(problem)}")

    lines.append("")
    lines.append(
        ", ".join(
            f"{counts[outcome]} {outcome}"
            for outcome in OUTCOMES
            if counts[outcome] or outcome in ("passed", "failed")
        )
    )
    if state.attestations:
        lines.append(
            "attested: "
            + ", ".join(f"{item.key} by {item.by}" for item in state.attestations)
        )
    if state.written:
        base = cwd or Path.cwd()
        shown_paths = []
        for path in state.written:
            try:
                shown_paths.append(str(path.resolve().relative_to(base.resolve())))
            except ValueError:
                shown_paths.append(str(path))
        lines.append("reports: " + "  ".join(shown_paths))
    return redaction.current().text("\n".join(lines))
