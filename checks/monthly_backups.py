"""Maintenance Windows, Monthly Maintenance: the backup restoration test.

The newest nightly backup is restored into a scratch database, as the runbook's
restore-database.sh restores into taskdb, but never into the live database. Its
tables must exist and hold rows; the scratch database is dropped afterwards, after a
failed restore too.
"""

from __future__ import annotations

from opscheck.fixtures.backups import BackupFolder, ScratchRestore

from opscheck.backupcheck import verify_backup
from opscheck.backupcheck.psql import PsqlUnavailable
from opscheck.backupcheck.restore import RestoreFailed
from opscheck.declaration import check
from opscheck.plugin.verdict import Verdict


@check(
    id="backup.restore_test",
    title="The newest backup restores into a scratch database",
    suites=("monthly",),
    runbook=(
        "Maintenance Windows > Monthly Maintenance (backup restoration test); "
        "Backup & Recovery > Full Database Restore"
    ),
    per="folder",
    description=(
        "Checks the newest nightly backup's integrity, creates the scratch database "
        "(backups.restore.database, default <database>_restore_test), streams the "
        "SQL into psql -v ON_ERROR_STOP=1 on the host or through docker exec, counts "
        "the rows of every table, and drops the scratch database. Fails when psql "
        "stops at an error, when a table of the dump is missing, or when no table "
        "holds a row."
    ),
    default_timeout_s=2400.0,
)
def test_backup_restore_test(
    backup_folder: BackupFolder, scratch_restore: ScratchRestore, verdict: Verdict
) -> None:
    newest = backup_folder.newest()
    if newest is None:
        verdict.fail(
            f"no nightly backup in {backup_folder.path} to restore"
            f"{backup_folder.ignored_note()}; run the backup job"
        )
    verdict.record(
        file=str(newest.path),
        scratch_database=scratch_restore.scratch,
        method=scratch_restore.channel.method,
        role=scratch_restore.channel.user,
    )

    integrity = verify_backup(newest.path)
    if integrity.problem == "unreadable":
        verdict.error(integrity.message)
    if integrity.problem is not None:
        verdict.fail(f"{integrity.message}, so it cannot be restored")

    try:
        result = scratch_restore.restore(newest.path)
    except PsqlUnavailable as exc:
        verdict.error(str(exc))
    except RestoreFailed as exc:
        verdict.record(step=exc.kind, psql_errors=exc.errors[-2000:])
        message = f"restoring {newest.name} into {scratch_restore.scratch} failed: {exc.message}"
        if exc.kind in ("connect", "timeout"):
            verdict.error(message)
        verdict.fail(message)

    verdict.record(
        rows=result.rows,
        dumped_tables=result.dumped_tables,
        sql_bytes=result.sql_bytes,
        restore_s=round(result.duration_s, 2),
        scratch_dropped=result.dropped,
    )
    if not result.rows:
        verdict.fail(
            f"{newest.name} restored into {scratch_restore.scratch} without error, but "
            "the scratch database has no table; check that the backup job dumps the "
            "right database"
        )
    if result.missing_tables:
        verdict.fail(
            f"{newest.name} creates tables that are missing after the restore: "
            f"{', '.join(result.missing_tables)}"
        )
    holding = len(result.rows) - len(result.empty_tables)
    if holding == 0:
        verdict.fail(
            f"{newest.name} restored {len(result.rows)} tables into "
            f"{scratch_restore.scratch}, but none holds a row"
        )
    if not result.dropped:
        verdict.warn(
            f"{newest.name} restored, but the scratch database "
            f"{scratch_restore.scratch} could not be dropped; drop it by hand"
        )
    empty = f"; empty: {', '.join(result.empty_tables)}" if result.empty_tables else ""
    total = sum(result.rows.values())
    verdict.passed(
        f"{newest.name} restored into {scratch_restore.scratch} in "
        f"{result.duration_s:.1f} s: {holding} of {len(result.rows)} tables hold rows "
        f"({total} rows){empty}; the scratch database was dropped"
    )
