"""Columns, evidence and run summary that opscheck adds to the pytest-html report.

pytest-html renders the page; these hooks add the check id, target, outcome, message
and runbook section to each row, the evidence under it, and the run's metadata,
outcome counts and attestations above the table. Every value from the checked system
goes through ``html.escape``.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

import pytest

from opscheck.plugin.results import OUTCOMES, count_outcomes, result_data
from opscheck.plugin.state import STATE_KEY


def _cell(column: str, value: str) -> str:
    return f'<td class="col-{column}">{escape(value)}</td>'


class HtmlColumns:
    """The pytest-html hook implementations of opscheck, registered in the main process."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_html_report_title(self, report: Any) -> None:
        state = self.config.stash[STATE_KEY]
        report.title = f"opscheck {state.suite or 'run'} report"

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        # pytest-html's own column shows only pytest's outcomes, so a warning appears as
        # passed and an error as failed there. It is named for what it shows, and the
        # Outcome column beside it contains opscheck's outcome.
        cells[0] = '<th class="sortable" data-column-type="result">pytest result</th>'
        cells.insert(1, '<th class="sortable" data-column-type="check">Check</th>')
        cells.insert(2, '<th class="sortable" data-column-type="target">Target</th>')
        cells.insert(3, '<th class="sortable" data-column-type="outcome">Outcome</th>')
        cells.insert(4, "<th>Message</th>")
        cells.insert(5, "<th>Runbook</th>")

    def pytest_html_results_table_row(self, report: Any, cells: list[str]) -> None:
        result = result_data(report)
        if result is None:
            for index in range(1, 6):
                cells.insert(index, _cell("empty", ""))
            return
        cells.insert(1, _cell("check", result["id"]))
        cells.insert(2, _cell("target", result["target"] or ""))
        cells.insert(
            3,
            f'<td class="col-outcome opscheck-{escape(result["outcome"])}">'
            f"{escape(result['outcome'])}</td>",
        )
        cells.insert(4, _cell("message", result["message"]))
        cells.insert(5, _cell("runbook", result["runbook"]))

    def pytest_html_results_table_html(self, report: Any, data: list[str]) -> None:
        result = result_data(report)
        if result is None:
            return
        parts = [
            f"<p><strong>{escape(result['title'])}</strong>: {escape(result['message'])}</p>"
        ]
        parts.append(f"<p>Runbook: {escape(result['runbook'])}</p>")
        if result.get("evidence"):
            evidence = json.dumps(
                result["evidence"], indent=2, default=str, ensure_ascii=False
            )
            parts.append(
                f'<p>Evidence:</p><pre class="opscheck-evidence">{escape(evidence)}</pre>'
            )
        if result.get("waiver"):
            waiver = json.dumps(result["waiver"], indent=2, default=str)
            parts.append(
                f'<p>Waiver:</p><pre class="opscheck-waiver">{escape(waiver)}</pre>'
            )
        remediation = result.get("remediation") or {}
        if remediation.get("taken"):
            taken = json.dumps(
                remediation["taken"], indent=2, default=str, ensure_ascii=False
            )
            parts.append(
                f'<p>Remediation taken:</p><pre class="opscheck-remediation">{escape(taken)}</pre>'
            )
        elif remediation.get("name"):
            parts.append(
                f"<p>Paired remediation: {escape(remediation['name'])} "
                f"(mode {escape(str(remediation.get('mode', 'off')))})</p>"
            )
        if result.get("attempts"):
            attempts = json.dumps(result["attempts"], indent=2, default=str)
            parts.append(
                f'<p>Attempts:</p><pre class="opscheck-attempts">{escape(attempts)}</pre>'
            )
        data.insert(0, f'<div class="opscheck-detail">{"".join(parts)}</div>')

    def pytest_html_results_summary(
        self,
        prefix: list[str],
        summary: list[str],
        postfix: list[str],
        session: pytest.Session,
    ) -> None:
        state = self.config.stash[STATE_KEY]
        run = state.run_metadata()
        rows = "".join(
            f"<tr><th>{escape(str(key))}</th><td>{escape(str(value))}</td></tr>"
            for key, value in run.items()
            if key not in ("attestations",) and value is not None
        )
        prefix.append(f'<h2>Run</h2><table class="opscheck-run">{rows}</table>')

        counts = count_outcomes(state.results)
        count_rows = "".join(
            f"<tr><th>{outcome}</th><td>{counts[outcome]}</td></tr>"
            for outcome in OUTCOMES
        )
        prefix.append(
            f'<h2>Outcomes</h2><table class="opscheck-outcomes">{count_rows}</table>'
        )

        if state.attestations:
            attestation_rows = "".join(
                "<tr>"
                + "".join(
                    f"<td>{escape(value)}</td>"
                    for value in (item.key, item.note, item.by, item.at, item.source)
                )
                + "</tr>"
                for item in state.attestations
            )
            prefix.append(
                '<h2>Attestations</h2><table class="opscheck-attestations">'
                "<tr><th>item</th><th>note</th><th>by</th><th>at</th><th>source</th></tr>"
                f"{attestation_rows}</table>"
            )
