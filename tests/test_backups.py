"""The daily, deploy-gate and weekly backup checks on real backup folders."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opscheck.fixtures.backups import BackupFolder, NameProblem, classify

from opscheck.config.model import BackupsSection

DUMP = (
    b"--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n"
    + b"".join(b"%d\t%s\n" % (i, os.urandom(16).hex().encode()) for i in range(80000))
    + b"\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict k\n"
)


def put(folder: Path, name: str, content: bytes, moment: datetime) -> Path:
    path = folder / name
    path.write_bytes(content)
    os.utime(path, (moment.timestamp(), moment.timestamp()))
    return path


def run_checks(
    cli: Any, tmp_path: Path, folder: Path, suite: str, *extra: str, zone: str = "UTC"
) -> dict[str, Any]:
    config = tmp_path / "opscheck.yaml"
    config.write_text(
        f"backups: {{path: {folder}, timezone: {zone}}}\n" + "".join(extra)
    )
    result = cli(suite, "--config", config, "-k", "backup", "--json", "r.json")
    assert result.exit_code in (0, 1), result.stderr
    return {entry["id"]: entry for entry in result.json("r.json")["results"]}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "database"
    path.mkdir()
    return path


def test_names_classified() -> None:
    assert classify("backup_20260102_020000.sql.gz") == ("nightly", date(2026, 1, 2))
    assert classify("backup_20260102.sql") == ("nightly", date(2026, 1, 2))
    assert classify("pre-deploy-20260102_101500.sql") == (
        "pre-deploy",
        date(2026, 1, 2),
    )
    assert classify("backup_manual_20260102_101500.sql.gz") == (
        "manual",
        date(2026, 1, 2),
    )
    assert classify("backup_20260102_020000_full.sql") == ("nightly", date(2026, 1, 2))
    assert classify("notes.txt") is None
    assert classify("backup_latest.sql") is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("backup_20261399.sql", "the date 20261399 in its name is not a real date"),
        (
            "backup_99999999999999999999.sql.gz",
            "the date 99999999999999999999 in its name is not YYYYMMDD",
        ),
        (
            "backup_20260102_250000.sql.gz",
            "the time 250000 in its name is not a real time (HHMMSS)",
        ),
        (
            "backup_20260102_0200001.sql.gz",
            "the time 0200001 in its name is not a real time (HHMMSS)",
        ),
        ("backup_20260102\n.sql.gz", "its name contains a control character"),
    ],
)
def test_unreal_names_rejected(name: str, reason: str) -> None:
    with pytest.raises(NameProblem) as raised:
        classify(name)
    assert str(raised.value) == reason


def test_today_in_far_west_zone(folder: Path) -> None:
    # 05:00 UTC on 2 January is 17:00 on 1 January at UTC-12.
    clock = lambda: datetime(2026, 1, 2, 5, 0, tzinfo=UTC)  # noqa: E731
    put(
        folder,
        "backup_20260102_020000.sql.gz",
        b"x",
        datetime(2026, 1, 2, 2, tzinfo=UTC),
    )
    west = BackupFolder(BackupsSection(path=folder, timezone="Etc/GMT+12"), clock)
    utc = BackupFolder(BackupsSection(path=folder, timezone="UTC"), clock)
    assert west.today() == date(2026, 1, 1)
    assert west.named_for(west.today()) == []
    assert [b.name for b in utc.named_for(utc.today())] == [
        "backup_20260102_020000.sql.gz"
    ]


def test_missing_days_and_expired(folder: Path) -> None:
    clock = lambda: datetime(2026, 1, 20, 9, 0, tzinfo=UTC)  # noqa: E731
    for day in (19, 18, 16, 15, 14, 13):
        put(
            folder,
            f"backup_202601{day:02d}_020000.sql.gz",
            b"x",
            datetime(2026, 1, day, 2, tzinfo=UTC),
        )
    put(
        folder,
        "backup_20251201_020000.sql.gz",
        b"x",
        datetime(2025, 12, 1, 2, tzinfo=UTC),
    )
    backups = BackupFolder(BackupsSection(path=folder), clock)
    assert backups.missing_days(7) == [date(2026, 1, 17)]
    assert [b.name for b in backups.expired(30)] == ["backup_20251201_020000.sql.gz"]


def test_healthy_folder_passes(folder: Path, tmp_path: Path, opscheck_cli: Any) -> None:
    now = datetime.now(UTC)
    for days in range(0, 8):
        moment = now - timedelta(days=days, minutes=5)
        put(
            folder,
            f"backup_{moment:%Y%m%d_%H%M%S}.sql.gz",
            gzip.compress(DUMP, 1),
            moment,
        )
    daily = run_checks(opscheck_cli, tmp_path, folder, "daily")
    assert {key: value["outcome"] for key, value in daily.items()} == {
        "backup.exists_today": "passed",
        "backup.size": "passed",
        "backup.integrity": "passed",
    }
    assert (
        run_checks(opscheck_cli, tmp_path, folder, "weekly")["backup.retention"][
            "outcome"
        ]
        == "passed"
    )
    assert (
        run_checks(opscheck_cli, tmp_path, folder, "deploy-gate")["backup.recent"][
            "outcome"
        ]
        == "passed"
    )


def test_utc_today_not_today_far_away(
    folder: Path, tmp_path: Path, opscheck_cli: Any
) -> None:
    now = datetime.now(UTC)
    put(folder, f"backup_{now:%Y%m%d}_000100.sql.gz", gzip.compress(DUMP, 1), now)
    # A zone whose date differs from UTC's right now: UTC-12 before 11:00 UTC, UTC+14 after.
    zone = "Etc/GMT+12" if now.hour < 11 else "Etc/GMT-14"
    result = run_checks(opscheck_cli, tmp_path, folder, "daily", zone=zone)[
        "backup.exists_today"
    ]
    assert result["outcome"] == "failed"
    assert f"in {zone}) in {folder}: no file named backup_" in result["message"]
    assert f"and the newest is backup_{now:%Y%m%d}_000100.sql.gz" in result["message"]


def test_small_backup_warns(folder: Path, tmp_path: Path, opscheck_cli: Any) -> None:
    now = datetime.now(UTC)
    put(folder, f"backup_{now:%Y%m%d}_020000.sql.gz", b"\0" * (512 * 1024), now)
    result = run_checks(opscheck_cli, tmp_path, folder, "daily")["backup.size"]
    assert result["outcome"] == "warning"
    assert result["message"] == (
        f"newest backup backup_{now:%Y%m%d}_020000.sql.gz is 512.0 KiB, below the warning level 1.0 MiB"
    )
    assert result["evidence"]["bytes"] == 524288
    assert result["evidence"]["warning_below"] == 1048576
    assert result["evidence"]["critical_below"] == 102400
    assert result["evidence"]["file"].endswith(".sql.gz")


def test_tiny_backup_fails(folder: Path, tmp_path: Path, opscheck_cli: Any) -> None:
    now = datetime.now(UTC)
    put(folder, f"backup_{now:%Y%m%d}_020000.sql.gz", gzip.compress(b""), now)
    results = run_checks(opscheck_cli, tmp_path, folder, "daily")
    assert results["backup.size"]["outcome"] == "failed"
    assert results["backup.integrity"]["outcome"] == "failed"
    assert "valid gzip of empty output" in results["backup.integrity"]["message"]


def test_old_backup_fails_gate(folder: Path, tmp_path: Path, opscheck_cli: Any) -> None:
    moment = datetime.now(UTC) - timedelta(hours=30)
    put(folder, f"backup_{moment:%Y%m%d_%H%M%S}.sql.gz", gzip.compress(DUMP, 1), moment)
    result = run_checks(opscheck_cli, tmp_path, folder, "deploy-gate")["backup.recent"]
    assert result["outcome"] == "failed"
    assert "was written 30.0 hours ago, more than 24 hours" in result["message"]


def test_pre_deploy_counts_as_recent(
    folder: Path, tmp_path: Path, opscheck_cli: Any
) -> None:
    old = datetime.now(UTC) - timedelta(hours=30)
    put(folder, f"backup_{old:%Y%m%d_%H%M%S}.sql.gz", gzip.compress(DUMP, 1), old)
    now = datetime.now(UTC)
    put(folder, f"pre-deploy-{now:%Y%m%d_%H%M%S}.sql", DUMP, now)
    result = run_checks(opscheck_cli, tmp_path, folder, "deploy-gate")["backup.recent"]
    assert result["outcome"] == "passed"
    assert "pre-deploy-" in result["message"]


def test_retention_gap_and_expired_warn(
    folder: Path, tmp_path: Path, opscheck_cli: Any
) -> None:
    now = datetime.now(UTC)
    for days in (0, 1, 2, 4, 5, 6, 7, 40):
        moment = now - timedelta(days=days)
        put(folder, f"backup_{moment:%Y%m%d}_020000.sql.gz", b"x", moment)
    result = run_checks(opscheck_cli, tmp_path, folder, "weekly")["backup.retention"]
    gap = (now - timedelta(days=3)).date().isoformat()
    assert result["outcome"] == "warning"
    assert "1 backups older than 30 days are still in" in result["message"]
    assert (
        f"no nightly backup for 1 of the last 7 days before today in {folder}: {gap}"
        in result["message"]
    )
    assert result["evidence"]["missing_days"] == [gap]


def test_missing_folder_is_error(tmp_path: Path, opscheck_cli: Any) -> None:
    result = run_checks(opscheck_cli, tmp_path, tmp_path / "absent", "daily")[
        "backup.exists_today"
    ]
    assert result["outcome"] == "error"
    assert "not found; set backups.path in the config" in result["message"]


def test_truncated_backup_fails_integrity(
    folder: Path, tmp_path: Path, opscheck_cli: Any
) -> None:
    now = datetime.now(UTC)
    compressed = gzip.compress(DUMP, 1)
    put(
        folder,
        f"backup_{now:%Y%m%d}_020000.sql.gz",
        compressed[: len(compressed) // 2],
        now,
    )
    result = run_checks(opscheck_cli, tmp_path, folder, "daily")["backup.integrity"]
    assert result["outcome"] == "failed"
    assert "ends before its trailer: the file was cut short" in result["message"]


def test_odd_entries_ignored_and_named(
    folder: Path, tmp_path: Path, opscheck_cli: Any
) -> None:
    today = datetime.now(UTC)
    stamp = f"{today:%Y%m%d}"
    os.mkfifo(folder / f"backup_{stamp}_020000.sql.gz")
    (folder / f"backup_{stamp}_020100.sql.gz").symlink_to("/dev/zero")
    loop = folder / f"backup_{stamp}_020200.sql.gz"
    loop.symlink_to(loop)
    (folder / f"backup_{stamp}_020300.sql").mkdir()
    put(folder, f"backup_{stamp}\n.sql.gz", gzip.compress(DUMP, 1), today)
    put(folder, "backup_99999999999999999999.sql.gz", gzip.compress(DUMP, 1), today)

    started = datetime.now(UTC)
    daily = run_checks(opscheck_cli, tmp_path, folder, "daily")
    elapsed = (datetime.now(UTC) - started).total_seconds()

    # Sorted by name, as the folder is listed.
    ignored = [
        f"ignored backup_{stamp}\\x0a.sql.gz: its name contains a control character",
        f"ignored backup_{stamp}_020000.sql.gz: it is a FIFO, not a regular file",
        f"ignored backup_{stamp}_020100.sql.gz: it is a character device, not a "
        "regular file",
        f"ignored backup_{stamp}_020200.sql.gz: it is a symlink loop, not a regular "
        "file",
        f"ignored backup_{stamp}_020300.sql: it is a folder, not a regular file",
        "ignored backup_99999999999999999999.sql.gz: the date 99999999999999999999 "
        "in its name is not YYYYMMDD",
    ]
    exists = daily["backup.exists_today"]
    assert exists["outcome"] == "failed"
    assert exists["message"] == (
        f"no backup for today ({today:%Y-%m-%d} in UTC) in {folder}: no file named "
        f"backup_{stamp}*.sql or .sql.gz, and the folder holds no nightly backup at "
        f"all ({'; '.join(ignored[:3])}; and 3 more); run the backup job by hand"
    )
    assert exists["evidence"]["ignored"] == ignored
    for check_id in ("backup.size", "backup.integrity"):
        assert daily[check_id]["outcome"] == "failed"
        assert daily[check_id]["message"] == (
            f"no nightly backup (backup_YYYYMMDD*.sql or .sql.gz) in {folder} "
            f"({'; '.join(ignored[:3])}; and 3 more); run the backup job by hand and "
            "check its cron entry"
        )
    assert elapsed < 60


def test_folder_named_backup_not_sized(
    folder: Path, tmp_path: Path, opscheck_cli: Any
) -> None:
    now = datetime.now(UTC)
    older = now - timedelta(days=1)
    put(folder, f"backup_{older:%Y%m%d}_020000.sql.gz", gzip.compress(DUMP, 1), older)
    (folder / f"backup_{now:%Y%m%d}_020000.sql.gz").mkdir()

    daily = run_checks(opscheck_cli, tmp_path, folder, "daily")

    size = daily["backup.size"]
    assert size["outcome"] == "passed"
    assert size["evidence"]["file"] == str(
        folder / f"backup_{older:%Y%m%d}_020000.sql.gz"
    )
    assert size["evidence"]["ignored"] == [
        f"ignored backup_{now:%Y%m%d}_020000.sql.gz: it is a folder, not a regular file"
    ]
    assert daily["backup.exists_today"]["outcome"] == "failed"
