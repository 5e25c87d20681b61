"""The command line: listing, explaining, config validation and exit statuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import write_config


def test_list_shows_every_suite_check(opscheck_cli: Any) -> None:
    outcome = opscheck_cli("list")
    assert outcome.exit_code == 0
    for check_id in (
        "services.running",
        "services.healthy",
        "health.endpoint",
        "db.accepting_connections",
    ):
        assert check_id in outcome.stdout


def test_list_json_reads_the_declarations(opscheck_cli: Any) -> None:
    outcome = opscheck_cli("list", "--json", "--suite", "daily")
    assert outcome.exit_code == 0
    declarations = {item["id"]: item for item in json.loads(outcome.stdout)}
    healthy = declarations["services.healthy"]
    assert healthy["suites"] == ["daily", "deploy_gate", "weekly"]
    assert healthy["remediation"] == "restart-service"
    assert healthy["options"]["grace_period_s"] == 60.0
    assert all("daily" in item["suites"] for item in declarations.values())


def test_explain_known_and_unknown(opscheck_cli: Any) -> None:
    known = opscheck_cli("explain", "services.healthy")
    assert known.exit_code == 0
    assert "grace period" in known.stdout
    assert "remediation: restart-service" in known.stdout
    unknown = opscheck_cli("explain", "services.healthyy")
    assert unknown.exit_code == 2
    assert "unknown check id 'services.healthyy'" in unknown.stderr
    assert "services.healthy" in unknown.stderr


def test_config_validate_good_and_bad(opscheck_cli: Any, tmp_path: Path) -> None:
    good = write_config(tmp_path, {"compose": {"project": "shop"}})
    outcome = opscheck_cli("config", "validate", "--config", str(good))
    assert outcome.exit_code == 0
    assert "is valid: project shop" in outcome.stdout

    bad = write_config(tmp_path, {"compose": {"projekt": "shop"}}, name="bad.yaml")
    outcome = opscheck_cli("config", "validate", "--config", str(bad))
    assert outcome.exit_code == 2
    assert "compose.projekt: unknown key" in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_suite_with_bad_config_checks_nothing(
    opscheck_cli: Any, tmp_path: Path
) -> None:
    bad = write_config(tmp_path, {"databse": {"host": "x"}})
    outcome = opscheck_cli("daily", "--config", str(bad))
    assert outcome.exit_code == 2
    assert "databse: unknown key" in outcome.stderr
    assert not (tmp_path / "reports").exists()


def test_no_matching_check_exits_two(opscheck_cli: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path, {"compose": {"services": []}, "endpoints": {}})
    outcome = opscheck_cli("daily", "--config", str(config), "-k", "no.such.check")
    assert outcome.exit_code == 2
    assert "no check matches" in outcome.stderr


def test_unknown_option_is_usage_error(opscheck_cli: Any) -> None:
    outcome = opscheck_cli("daily", "--fail-on", "sometimes")
    assert outcome.exit_code == 2
    assert "sometimes" in outcome.stderr


def test_help_lists_commands(opscheck_cli: Any) -> None:
    outcome = opscheck_cli("--help")
    assert outcome.exit_code == 0
    for command in (
        "daily",
        "deploy-gate",
        "weekly",
        "monthly",
        "security",
        "monitor",
        "run",
        "list",
        "explain",
        "config",
        "demo",
    ):
        assert command in outcome.stdout


def test_very_verbose_shows_external_calls(
    opscheck_cli: Any, http_server: Any, tmp_path: Path
) -> None:
    server = http_server({"/ok": (200, {"status": "healthy"})})
    config = write_config(
        tmp_path,
        {
            "compose": {"services": []},
            "endpoints": {"backend": {"url": server.url("/ok")}},
        },
    )
    outcome = opscheck_cli(
        "daily", "--config", str(config), "-k", "health.endpoint", "-vv"
    )
    assert outcome.exit_code == 0
    assert f"INFO opscheck: GET {server.url('/ok')}" in outcome.stderr


def test_run_rejects_unknown_marker(opscheck_cli: Any) -> None:
    outcome = opscheck_cli("run", "-m", "daily and backup")
    assert outcome.exit_code == 2
    assert (
        "'backup' is not a suite; the markers are daily, deploy_gate" in outcome.stderr
    )


def test_broken_check_module_spares_others(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from opscheck import catalogue

    real_import = importlib.import_module

    def import_module(name: str, package: str | None = None) -> Any:
        if name == "opscheck.checks.daily_health":
            raise SyntaxError("invalid syntax in the test's stand-in")
        return real_import(name, package)

    catalogue.load_catalogue.cache_clear()
    monkeypatch.setattr(catalogue.importlib, "import_module", import_module)
    try:
        found = catalogue.load_catalogue()
        assert "services.running" in found
        assert "health.endpoint" not in found
        assert catalogue.BROKEN_MODULES["daily_health"].startswith("SyntaxError")
    finally:
        monkeypatch.undo()
        catalogue.BROKEN_MODULES.clear()
        catalogue.load_catalogue.cache_clear()
