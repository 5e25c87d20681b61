"""Helpers shared by the tests that run the opscheck CLI against real components."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

Results = dict[tuple[str, str | None], dict[str, Any]]


def write_config(
    folder: Path, data: dict[str, Any], name: str = "opscheck.yaml"
) -> Path:
    """Write a config file and return its path."""
    path = folder / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run_suite(
    opscheck_cli: Callable[..., Any],
    folder: Path,
    config: Path,
    *args: str,
    suite: str = "daily",
    env: dict[str, str] | None = None,
) -> tuple[Any, dict[str, Any], Results]:
    """Run a suite command in ``folder`` and return the CLI result, the JSON report and results by key."""
    command = "deploy-gate" if suite == "deploy_gate" else suite
    outcome = opscheck_cli(command, "--config", str(config), *args, env=env, cwd=folder)
    assert outcome.exit_code in (0, 1), (
        f"exit {outcome.exit_code}\n{outcome.stdout}\n{outcome.stderr}"
    )
    report = outcome.json(folder / "reports" / f"{suite}-latest.json")
    by_key = {(item["id"], item["target"]): item for item in report["results"]}
    return outcome, report, by_key
