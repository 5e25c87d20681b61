"""Judging values against warning and critical levels, and the verdict's messages."""

from __future__ import annotations

import pytest

from opscheck.declaration import Declaration
from opscheck.errors import CheckFailed
from opscheck.levels import Levels
from opscheck.plugin.results import Result, exit_status
from opscheck.plugin.verdict import Verdict


def make_verdict(levels: Levels) -> Verdict:
    declaration = Declaration(
        id="x.y", title="t", suites=("daily",), runbook="r", per="gate", levels=levels
    )
    return Verdict(declaration, None, levels, {})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (69.9, "ok"),
        (70.0, "ok"),
        (70.1, "warning"),
        (90.0, "warning"),
        (90.5, "critical"),
    ],
)
def test_above_exclusive(value: float, expected: str) -> None:
    assert Levels(warning=70, critical=90, unit="%").judge(value) == expected


@pytest.mark.parametrize(("value", "expected"), [(49.9, "ok"), (50.0, "critical")])
def test_inclusive_critical_only(value: float, expected: str) -> None:
    assert Levels(critical=50, inclusive=True, unit="%").judge(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2_000_000, "ok"), (512 * 1024, "warning"), (50_000, "critical")],
)
def test_below_levels(value: float, expected: str) -> None:
    assert (
        Levels(
            warning=1 << 20, critical=100 * 1024, direction="below", unit="bytes"
        ).judge(value)
        == expected
    )


def test_judge_warning_message_and_evidence() -> None:
    verdict = make_verdict(
        Levels(warning=1 << 20, critical=100 * 1024, direction="below", unit="bytes")
    )
    verdict.judge(512 * 1024, subject="newest backup backup_x.sql.gz", name="bytes")
    assert verdict.outcome == "warning"
    assert (
        verdict.message
        == "newest backup backup_x.sql.gz is 512.0 KiB, below the warning level 1.0 MiB"
    )
    assert verdict.evidence == {
        "bytes": 524288,
        "warning_below": 1048576,
        "critical_below": 102400,
        "unit": "bytes",
    }


def test_judge_critical_raises() -> None:
    verdict = make_verdict(Levels(critical=50, inclusive=True, unit="%"))
    with pytest.raises(CheckFailed) as caught:
        verdict.judge(63.25, subject="CPU of backend", name="cpu_percent")
    assert (
        caught.value.message
        == "CPU of backend is 63.2 %, at or above the critical level 50.0 %"
    )
    assert verdict.evidence["critical"] == 50


def test_judge_pass_names_levels() -> None:
    verdict = make_verdict(Levels(warning=70, critical=90, unit="%"))
    verdict.judge(12.0, subject="memory of db")
    assert verdict.outcome == "passed"
    assert (
        verdict.message
        == "memory of db is 12.0 % (warning above 70.0 %, critical above 90.0 %)"
    )


def test_overrides_parse_sizes() -> None:
    levels = Levels(
        warning=1, critical=2, direction="below", unit="bytes"
    ).with_overrides({"warning_below": "2MiB", "critical_below": "1MiB"})
    assert (levels.warning, levels.critical) == (2 * 1024 * 1024, 1024 * 1024)


def result(outcome: str, internal: bool = False) -> Result:
    return Result(
        id="a.b", target=None, outcome=outcome, message="m", internal_error=internal
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcomes", "fail_on", "expected"),
    [
        (["passed", "skipped", "waived"], "critical", 0),
        (["passed", "warning"], "critical", 0),
        (["passed", "warning"], "warning", 1),
        (["passed", "failed"], "critical", 1),
        (["passed", "error"], "critical", 1),
    ],
)
def test_exit_status(outcomes: list[str], fail_on: str, expected: int) -> None:
    assert exit_status([result(outcome) for outcome in outcomes], fail_on) == expected


def test_internal_error_exits_three() -> None:
    assert (
        exit_status([result("passed"), result("error", internal=True)], "critical") == 3
    )
