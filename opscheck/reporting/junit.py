"""The JUnit XML report, in the form CI systems read (the Jenkins xUnit junit-10 schema).

One ``<testsuite>`` per run and one ``<testcase>`` per check and target, named
``id[target]`` with the check's area as ``classname``.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from opscheck import redaction
from opscheck.plugin.results import Result, count_outcomes
from opscheck.plugin.state import RunState, iso

# XML 1.0 allows no control characters but tab, newline and carriage return; a log line
# from the checked system may hold any byte.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", redaction.current().text(text))


def _properties(case: ET.Element, result: Result) -> None:
    properties = ET.SubElement(case, "properties")
    remediation = result.remediation or {}
    values = {
        "check_id": result.id,
        "target": result.target or "",
        "outcome": result.outcome,
        "severity": result.severity,
        "runbook": result.runbook,
        "remediation": remediation.get("name") or "",
        "remediation_mode": remediation.get("mode") or "",
        "remediation_taken": json.dumps(remediation.get("taken"))
        if remediation.get("taken")
        else "",
    }
    if result.waiver:
        values["waiver"] = json.dumps(result.waiver, default=str)
    for name, value in values.items():
        if value == "" and name not in (
            "check_id",
            "outcome",
            "severity",
            "runbook",
            "remediation",
        ):
            continue
        ET.SubElement(properties, "property", name=name, value=_clean(str(value)))


def _body(result: Result) -> str:
    lines = [result.message]
    if result.evidence:
        lines.append(
            "evidence: " + json.dumps(result.evidence, default=str, ensure_ascii=False)
        )
    if result.runbook:
        lines.append(f"runbook: {result.runbook}")
    return _clean("\n".join(lines))


def build(state: RunState) -> ET.Element:
    """Return the ``<testsuite>`` element of a run."""
    counts = count_outcomes(state.results)
    fail_on_warning = state.fail_on == "warning"
    failures = counts["failed"] + (counts["warning"] if fail_on_warning else 0)
    finished = state.finished_at or state.started_at
    suite = ET.Element(
        "testsuite",
        name=f"opscheck.{state.suite or 'run'}",
        tests=str(len(state.results)),
        failures=str(failures),
        errors=str(counts["error"]),
        skipped=str(counts["skipped"] + counts["waived"]),
        time=f"{(finished - state.started_at).total_seconds():.3f}",
        timestamp=iso(state.started_at),
        hostname=_clean(state.host),
        id=state.run_id,
    )

    run_properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("suite", state.suite or ""),
        ("fail_on", state.fail_on),
        ("config_sha256", state.loaded.sha256),
        ("user", state.user),
    ):
        ET.SubElement(run_properties, "property", name=name, value=_clean(value))
    for attestation in state.attestations:
        ET.SubElement(
            run_properties,
            "property",
            name=f"attestation.{attestation.key}",
            value=_clean(
                f"{attestation.by} at {attestation.at} ({attestation.source}) {attestation.note}".strip()
            ),
        )

    for result in state.results:
        case = ET.SubElement(
            suite,
            "testcase",
            name=_clean(result.name),
            classname=result.area or result.id.split(".", 1)[0],
            time=f"{result.duration_s:.3f}",
        )
        _properties(case, result)
        message = _clean(result.message)
        if result.outcome == "failed":
            ET.SubElement(
                case, "failure", type="critical", message=message
            ).text = _body(result)
        elif result.outcome == "error":
            ET.SubElement(case, "error", type="error", message=message).text = _body(
                result
            )
        elif result.outcome == "warning" and fail_on_warning:
            ET.SubElement(
                case, "failure", type="warning", message=message
            ).text = _body(result)
        elif result.outcome in ("skipped", "waived"):
            ET.SubElement(
                case, "skipped", type=result.outcome, message=message
            ).text = _body(result)
        else:
            ET.SubElement(case, "system-out").text = _body(result)
    return suite


def render(state: RunState) -> bytes:
    """Return the JUnit XML report of a run as UTF-8 bytes with an XML declaration."""
    element = build(state)
    ET.indent(element)
    text: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=True)
    return text + b"\n"
