"""Waivers: a failure accepted until a date, shown beside its original outcome."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tests.helpers import run_suite, write_config


def waived_run(
    opscheck_cli: Any,
    http_server: Any,
    tmp_path: Path,
    expires: date,
    runs: bool = True,
) -> dict[str, Any]:
    server = http_server({"/bad": (503, "down")})
    (tmp_path / "waivers.yaml").write_text(
        "waivers:\n"
        f"  - {{check: health.endpoint, target: backend, justification: 'backend replaced next week', "
        f"expires: {expires.isoformat()}, runs: {str(runs).lower()}}}\n"
    )
    config = write_config(
        tmp_path,
        {
            "compose": {"services": []},
            "endpoints": {"backend": {"url": server.url("/bad")}},
            "waivers": "waivers.yaml",
        },
    )
    outcome, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "health.endpoint"
    )
    return {"exit": outcome.exit_code, **results[("health.endpoint", "backend")]}


def test_waiver_in_force_waives(
    opscheck_cli: Any, http_server: Any, tmp_path: Path
) -> None:
    result = waived_run(
        opscheck_cli, http_server, tmp_path, date.today() + timedelta(days=3)
    )
    assert result["outcome"] == "waived"
    assert result["waiver"]["original_outcome"] == "failed"
    assert result["waiver"]["justification"] == "backend replaced next week"
    assert "waived until" in result["message"]
    assert result["exit"] == 0


def test_expired_waiver_is_named(
    opscheck_cli: Any, http_server: Any, tmp_path: Path
) -> None:
    expired = date.today() - timedelta(days=1)
    result = waived_run(opscheck_cli, http_server, tmp_path, expired)
    assert result["outcome"] == "failed"
    assert f"(its waiver expired on {expired.isoformat()})" in result["message"]
    assert result["exit"] == 1


def test_waiver_that_does_not_run(
    opscheck_cli: Any, http_server: Any, tmp_path: Path
) -> None:
    result = waived_run(
        opscheck_cli,
        http_server,
        tmp_path,
        date.today() + timedelta(days=3),
        runs=False,
    )
    assert result["outcome"] == "waived"
    assert result["waiver"]["original_outcome"] is None
    assert result["message"].startswith("not run: waived until")
    assert "status_code" not in result["evidence"]
    assert result["exit"] == 0
