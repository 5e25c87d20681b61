"""Backup verification: streaming integrity of pg_dump files, and restore into a scratch database."""

from opscheck.backupcheck.inflate import (
    Engine,
    GzipDamaged,
    choose_engine,
    isal_available,
)
from opscheck.backupcheck.verify import IntegrityReport, Problem, verify_backup

__all__ = [
    "Engine",
    "GzipDamaged",
    "IntegrityReport",
    "Problem",
    "choose_engine",
    "isal_available",
    "verify_backup",
]
