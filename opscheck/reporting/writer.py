"""Writing the reports of a run: data reports at session end, HTML once pytest-html is done."""

from __future__ import annotations

from pathlib import Path

from opscheck import redaction
from opscheck.log import logger
from opscheck.plugin.state import RunState
from opscheck.reporting import json_report, junit
from opscheck.reporting.atomic import point_latest, write_atomic

_SUFFIX = {"json": ".json", "junit": ".xml", "html": ".html"}


def _write(state: RunState, kind: str, path: Path | None, data: bytes) -> None:
    if path is None:
        return
    write_atomic(path, data)
    state.written.append(path)
    logger.info("wrote %s report %s", kind, path)

    copy = state.reports.copies.get(kind)
    if copy is not None:
        write_atomic(copy, data)
        state.written.append(copy)
    if state.reports.latest_prefix is not None:
        prefix = state.reports.latest_prefix
        point_latest(prefix.with_name(f"{prefix.name}-latest{_SUFFIX[kind]}"), path)


def write_data_reports(state: RunState) -> None:
    """Write the JSON and JUnit reports of a finished run."""
    _write(state, "json", state.reports.json, json_report.render(state))
    _write(state, "junit", state.reports.junit, junit.render(state))


def finish_html_report(state: RunState, partial: str | None) -> None:
    """Move pytest-html's file into place, with every secret removed."""
    if partial is None or state.reports.html is None:
        return
    source = Path(partial)
    if not source.is_file():
        logger.warning("pytest-html wrote no report at %s", source)
        return
    text = source.read_text(encoding="utf-8")
    cleaned = redaction.current().text(text)
    _write(state, "html", state.reports.html, cleaned.encode("utf-8"))
    source.unlink(missing_ok=True)
