"""Remediation records as text for the terminal: ``opscheck remediate`` and the summary."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any


def headline(record: Mapping[str, Any]) -> str:
    """Return one line: the remediation, what it acted on, and how it ended."""
    subject = record.get("acts_on") or record.get("target") or "-"
    check = record.get("check")
    where = f" for {check}[{record.get('target')}]" if check else ""
    return (
        f"remediation {record['name']}{where} on {subject} "
        f"(mode {record['mode']}): {record['reason']}"
    )


def describe(record: Mapping[str, Any]) -> str:
    """Return the headline, the command that ran or would run, and its output."""
    lines = [headline(record)]
    argv = list(record.get("argv") or [])
    if argv:
        lines.append(f"  command: {shlex.join(argv)}")
    if record.get("environment"):
        lines.append(
            f"  environment: {', '.join(record['environment'])} (values hidden)"
        )
    if record.get("ran"):
        lines.append(
            f"  exit status {record['exit_status']} after {record['duration_s']:.1f} s"
        )
    output = str(record.get("output") or "").rstrip()
    if output:
        lines.append("  output:")
        lines.extend(f"    {line}" for line in output.splitlines())
    return "\n".join(lines)
