"""The restore test: real dumps restored into a scratch database on pg_cluster."""

from __future__ import annotations

import gzip
import secrets
from pathlib import Path
from typing import Any

import pytest
from opscheck.fixtures.backups import ScratchRestore

from opscheck.backupcheck.restore import RestoreFailed
from opscheck.config.loader import _build
from opscheck.config.model import Config
from opscheck.errors import ConfigError
from tests.backup_data import SEED, pg_dump

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(pg_cluster: Any) -> dict[str, str]:
    """A database with rows and pg_stat_statements, owned by a non-superuser."""
    name = f"live_{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    pg_cluster.create_role(name, password, grant=())
    with pg_cluster.superuser_connect() as connection:
        connection.execute(f'ALTER ROLE "{name}" CREATEDB')
    pg_cluster.create_database(name, name, extensions=["pg_stat_statements"])
    with pg_cluster.connect(name, name, password) as connection:
        connection.execute(SEED)
    return {"name": name, "password": password}


def config_for(pg_cluster: Any, source: dict[str, str], **restore: Any) -> Config:
    data = {
        "database": {
            "host": pg_cluster.host,
            "port": pg_cluster.port,
            "name": source["name"],
            "user": source["name"],
            "password": source["password"],
        },
        "backups": {"restore": restore},
    }
    return _build(data, None, b"", Path.cwd()).config


def superuser(pg_cluster: Any, source: dict[str, str]) -> Config:
    return config_for(
        pg_cluster, source, user="postgres", password=pg_cluster.superuser_password
    )


def databases(pg_cluster: Any) -> set[str]:
    with pg_cluster.superuser_connect() as connection:
        rows = connection.execute("SELECT datname FROM pg_database").fetchall()
    return {row[0] for row in rows}


def test_good_backup_restores(
    pg_cluster: Any, source: dict[str, str], tmp_path: Path
) -> None:
    backup = tmp_path / "backup_20260101_020000.sql.gz"
    backup.write_bytes(gzip.compress(pg_dump(pg_cluster, source["name"])))
    restore = ScratchRestore(superuser(pg_cluster, source))

    result = restore.restore(backup)

    assert result.rows == {"public.tasks": 3000, "public.users": 300}
    assert sorted(result.dumped_tables) == ["public.tasks", "public.users"]
    assert result.dropped
    assert restore.scratch == f"{source['name']}_restore_test"
    assert restore.scratch not in databases(pg_cluster)


def test_sql_error_midfile_fails(
    pg_cluster: Any, source: dict[str, str], tmp_path: Path
) -> None:
    dump = pg_dump(pg_cluster, source["name"])
    marker = b"COPY public.users"
    broken = dump.replace(marker, b"SELECT * FROM no_such_table;\n" + marker, 1)
    backup = tmp_path / "backup_20260101_020000.sql"
    backup.write_bytes(broken)
    restore = ScratchRestore(superuser(pg_cluster, source))

    with pytest.raises(RestoreFailed) as caught:
        restore.restore(backup)

    assert caught.value.kind == "restore"
    assert 'ERROR: relation "no_such_table" does not exist' in caught.value.message
    assert "at line" in caught.value.message
    assert restore.scratch not in databases(pg_cluster)


def test_extension_needs_superuser(
    pg_cluster: Any, source: dict[str, str], tmp_path: Path
) -> None:
    backup = tmp_path / "backup_20260101_020000.sql.gz"
    backup.write_bytes(gzip.compress(pg_dump(pg_cluster, source["name"])))
    restore = ScratchRestore(config_for(pg_cluster, source))

    with pytest.raises(RestoreFailed) as caught:
        restore.restore(backup)

    assert caught.value.message.startswith(
        "permission denied to create extension pg_stat_statements: restore as a "
        "superuser (set backups.restore.user;"
    )
    assert "dump with -n public" in caught.value.message
    assert restore.scratch not in databases(pg_cluster)


def test_dump_of_public_restores_as_owner(
    pg_cluster: Any, source: dict[str, str], tmp_path: Path
) -> None:
    backup = tmp_path / "backup_20260101_020000.sql.gz"
    backup.write_bytes(
        gzip.compress(pg_dump(pg_cluster, source["name"], "-n", "public"))
    )
    result = ScratchRestore(config_for(pg_cluster, source)).restore(backup)
    assert result.rows["public.users"] == 300


def test_wrong_password_is_connect_failure(
    pg_cluster: Any, source: dict[str, str], tmp_path: Path
) -> None:
    backup = tmp_path / "backup_20260101_020000.sql"
    backup.write_bytes(b"SELECT 1;\n")
    config = config_for(pg_cluster, source, password="not-the-password")
    with pytest.raises(RestoreFailed) as caught:
        ScratchRestore(config).restore(backup)
    assert caught.value.kind == "connect"
    assert "rejected the credentials" in caught.value.message
    assert "not-the-password" not in caught.value.message


def test_scratch_equal_to_live_rejected() -> None:
    with pytest.raises(ConfigError) as caught:
        _build({"backups": {"restore": {"database": "taskdb"}}}, None, b"", Path.cwd())
    assert "backups: restore.database 'taskdb' is the live database" in str(
        caught.value
    )
    assert "backups.restore.database" in str(caught.value)


def test_scratch_system_database_rejected() -> None:
    with pytest.raises(ConfigError, match=r"restore\.database 'postgres'"):
        _build(
            {"backups": {"restore": {"database": "postgres"}}}, None, b"", Path.cwd()
        )


def test_monthly_check_via_cli(
    pg_cluster: Any, source: dict[str, str], tmp_path: Path, opscheck_cli: Any
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    good = pg_dump(pg_cluster, source["name"])
    (folder / "backup_20260101_020000.sql.gz").write_bytes(gzip.compress(good))
    config = tmp_path / "opscheck.yaml"
    config.write_text(
        f"database: {{host: {pg_cluster.host}, port: {pg_cluster.port}, "
        f"name: {source['name']}, user: {source['name']}, password: '${{PGPW}}'}}\n"
        f"backups:\n  path: {folder}\n  restore: {{user: postgres, password: '${{SUPW}}'}}\n"
    )
    env = {"PGPW": source["password"], "SUPW": pg_cluster.superuser_password}

    passed = opscheck_cli(
        "monthly", "--config", config, "-k", "restore_test", "--json", "r.json", env=env
    )
    results = passed.json("r.json")["results"]
    assert passed.exit_code == 0, passed.stdout
    assert results[0]["outcome"] == "passed"
    assert "2 of 2 tables hold rows (3300 rows)" in results[0]["message"]
    assert (
        pg_cluster.superuser_password
        not in passed.stdout + (tmp_path / "r.json").read_text()
    )

    (folder / "backup_20260102_020000.sql.gz").write_bytes(
        gzip.compress(good[: len(good) // 2])
    )
    failed = opscheck_cli(
        "monthly", "--config", config, "-k", "restore_test", "--json", "f.json", env=env
    )
    result = failed.json("f.json")["results"][0]
    assert failed.exit_code == 1
    assert result["outcome"] == "failed"
    assert "stops before pg_dump's completion line" in result["message"]
    assert "so it cannot be restored" in result["message"]
