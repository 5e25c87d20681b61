"""Daily Operations, Backup Verification: today's backup exists, is big enough and is whole.

The runbook lists ``backup_$(date +%Y%m%d)*.sql``, checks its size with ``du`` and reads
its first 20 lines. These checks list the backup folder, read the size of the newest
nightly backup, and read the whole file as a stream: a gzip cut short, an empty dump
and a dump without pg_dump's completion line all fail. The deploy gate's backup and
the weekly retention check sit here too, because they read the same folder.
"""

from __future__ import annotations

from opscheck.fixtures.backups import (
    BackupFile,
    BackupFolder,
    ignored_evidence,
    ignored_note,
)

from opscheck.backupcheck import verify_backup
from opscheck.config.model import Config
from opscheck.config.units import format_size
from opscheck.declaration import check
from opscheck.levels import Levels
from opscheck.plugin.verdict import Verdict

RUNBOOK_VERIFICATION = "Daily Operations > Backup Verification"
RUNBOOK_AUTOMATED = "Backup & Recovery > Automated Daily Backup"


def _describe(backup: BackupFile) -> dict[str, object]:
    return {
        "file": backup.name,
        "kind": backup.kind,
        "bytes": backup.size,
        "modified": backup.modified.isoformat(),
    }


def _newest_or_fail(folder: BackupFolder, verdict: Verdict) -> BackupFile:
    __tracebackhide__ = True
    listing = folder.listing()
    nightly = [backup for backup in listing.backups if backup.kind == "nightly"]
    if listing.ignored:
        verdict.record(ignored=ignored_evidence(listing.ignored))
    if not nightly:
        verdict.fail(
            f"no nightly backup (backup_YYYYMMDD*.sql or .sql.gz) in {folder.path}"
            f"{ignored_note(listing.ignored)}; run the backup job by hand and check "
            "its cron entry"
        )
    newest = nightly[-1]
    verdict.record(file=str(newest.path))
    return newest


@check(
    id="backup.exists_today",
    title="A backup named for today is in the backup folder",
    suites=("daily",),
    runbook=RUNBOOK_VERIFICATION,
    per="folder",
    description=(
        "Looks for backup_YYYYMMDD*.sql or backup_YYYYMMDD*.sql.gz with today's date, "
        "today counted in backups.timezone, as the runbook's "
        "'ls backup_$(date +%Y%m%d)*.sql' does on a host set to that zone."
    ),
    remediation="backup-database",
)
def test_backup_exists_today(backup_folder: BackupFolder, verdict: Verdict) -> None:
    today = backup_folder.today()
    listing = backup_folder.listing()
    nightly = [backup for backup in listing.backups if backup.kind == "nightly"]
    todays = [backup for backup in nightly if backup.named_date == today]
    verdict.record(
        folder=str(backup_folder.path),
        today=today.isoformat(),
        timezone=backup_folder.settings.timezone,
        found=[_describe(backup) for backup in todays],
    )
    if listing.ignored:
        verdict.record(ignored=ignored_evidence(listing.ignored))

    if not todays:
        newest = nightly[-1] if nightly else None
        latest = (
            f"the newest is {newest.name}, written {newest.modified:%Y-%m-%d %H:%M %Z}"
            if newest is not None
            else "the folder holds no nightly backup at all"
        )
        if newest is not None:
            verdict.record(newest=_describe(newest))
        verdict.fail(
            f"no backup for today ({today.isoformat()} in {backup_folder.settings.timezone}) "
            f"in {backup_folder.path}: no file named backup_{today:%Y%m%d}*.sql or .sql.gz, "
            f"and {latest}{ignored_note(listing.ignored)}; run the backup job by hand"
        )

    names = ", ".join(backup.name for backup in todays)
    verdict.passed(f"today's backup is in {backup_folder.path}: {names}")


@check(
    id="backup.size",
    title="The newest backup is not suspiciously small",
    suites=("daily",),
    runbook=f"{RUNBOOK_VERIFICATION}; {RUNBOOK_AUTOMATED}",
    per="folder",
    description=(
        "Reads the size on disk of the newest nightly backup. The runbook expects more "
        "than 1 MB and investigates the backup script below 100 KB."
    ),
    levels=Levels(
        warning=1024 * 1024, critical=100 * 1024, direction="below", unit="bytes"
    ),
    remediation="backup-database",
)
def test_backup_size(backup_folder: BackupFolder, verdict: Verdict) -> None:
    newest = _newest_or_fail(backup_folder, verdict)
    verdict.judge(
        newest.size,
        subject=f"newest backup {newest.name}",
        name="bytes",
        shown=format_size(newest.size),
    )


@check(
    id="backup.integrity",
    title="The newest backup decompresses fully and is a complete pg_dump",
    suites=("daily",),
    runbook=RUNBOOK_VERIFICATION,
    per="folder",
    description=(
        "Reads the whole newest nightly backup as a stream, without holding it: the "
        "gzip stream must decompress to its trailer (CRC and length checked), the SQL "
        "must start with pg_dump's '-- PostgreSQL database dump' header and contain "
        "its '-- PostgreSQL database dump complete' line near the end. A gzip of empty "
        "output or of an error message, as 'pg_dump | gzip' leaves without pipefail, "
        "fails with its own message."
    ),
    remediation="backup-database",
    default_timeout_s=600.0,
)
def test_backup_integrity(backup_folder: BackupFolder, verdict: Verdict) -> None:
    newest = _newest_or_fail(backup_folder, verdict)
    report = verify_backup(newest.path)
    verdict.record(**report.evidence())

    if report.problem == "unreadable":
        verdict.error(report.message)
    if report.problem is not None:
        verdict.fail(report.message)
    if report.trailing_bytes:
        verdict.warn(
            f"backup {newest.name} is a complete pg_dump, but {report.trailing_bytes} "
            "bytes that are not gzip follow its gzip stream; check what else writes "
            "to the file"
        )
    verdict.passed(report.message)


@check(
    id="backup.recent",
    title="A backup younger than 24 hours exists before a deploy",
    suites=("deploy_gate",),
    runbook="Deployment Procedures > Pre-Deployment Checklist (database backup, last 24h)",
    per="folder",
    description=(
        "Finds the most recently written backup of any kind (nightly backup_*, "
        "pre-deploy-* from the deploy script, backup_manual_*) and holds its age, in "
        "hours since it was last written, against the level."
    ),
    levels=Levels(critical=24),
    remediation="backup-database",
    phases=("pre",),
)
def test_backup_recent(backup_folder: BackupFolder, verdict: Verdict) -> None:
    newest = backup_folder.newest(kinds=("nightly", "pre-deploy", "manual"))
    if newest is None:
        verdict.fail(
            f"no backup at all in {backup_folder.path}; take one before deploying "
            "(deploy-production.sh step 1)"
        )

    age_hours = round(newest.age_s(backup_folder.now()) / 3600, 2)
    verdict.record(file=str(newest.path), newest=_describe(newest))
    levels = verdict.levels
    assert levels is not None
    verdict.record(age_hours=age_hours, **levels.evidence())
    if levels.judge(age_hours) == "critical":
        verdict.fail(
            f"newest backup {newest.name} was written {age_hours:.1f} hours ago, more "
            f"than {levels.format(levels.critical or 0)} hours; take a backup before "
            "deploying"
        )
    verdict.passed(
        f"newest backup {newest.name} was written {age_hours:.1f} hours ago "
        f"(critical above {levels.format(levels.critical or 0)} hours)"
    )


@check(
    id="backup.retention",
    title="Old backups are cleaned up and no recent day is missing",
    suites=("weekly",),
    runbook=RUNBOOK_AUTOMATED,
    per="folder",
    description=(
        "Warns when a nightly backup dated more than backups.retention_days days "
        "before today is still in the folder (the job's 'find -mtime' cleanup did not "
        "run), and when one of the days before today has no nightly backup. Dates are "
        "taken from the file names."
    ),
    options={"days_without_gap": 7},
    remediation="prune-old-backups",
)
def test_backup_retention(
    backup_folder: BackupFolder, opscheck_config: Config, verdict: Verdict
) -> None:
    retention = opscheck_config.backups.retention_days
    days = int(verdict.option("days_without_gap"))
    expired = backup_folder.expired(retention)
    missing = backup_folder.missing_days(days)
    verdict.record(
        folder=str(backup_folder.path),
        today=backup_folder.today().isoformat(),
        retention_days=retention,
        expired=[backup.name for backup in expired],
        days_checked=days,
        missing_days=[day.isoformat() for day in missing],
    )

    if expired:
        oldest = expired[0]
        verdict.warn(
            f"{len(expired)} backups older than {retention} days are still in "
            f"{backup_folder.path} (oldest {oldest.name}); the cleanup step of the "
            "backup job did not run"
        )
    if missing:
        shown = ", ".join(day.isoformat() for day in missing)
        verdict.warn(
            f"no nightly backup for {len(missing)} of the last {days} days before "
            f"today in {backup_folder.path}: {shown}; check the backup job's log"
        )
    verdict.passed(
        f"no backup older than {retention} days, and a nightly backup for each of the "
        f"last {days} days in {backup_folder.path}"
    )
