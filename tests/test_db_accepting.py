"""db.accepting_connections against a real PostgreSQL 15 cluster."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import run_suite, write_config

pytestmark = pytest.mark.slow

PASSWORD = "pw-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def taskdb(pg_cluster: Any) -> Any:
    pg_cluster.create_role("taskuser", PASSWORD)
    pg_cluster.create_database("taskdb", "taskuser")
    return pg_cluster


def db_config(
    tmp_path: Path, port: int, password: str = PASSWORD, timeout: float = 5
) -> Path:
    (tmp_path / ".env").write_text(f"POSTGRES_PASSWORD={password}\n")
    return write_config(
        tmp_path,
        {
            "compose": {"services": []},
            "database": {
                "host": "127.0.0.1",
                "port": port,
                "password": "${POSTGRES_PASSWORD}",
                "connect_timeout_s": timeout,
            },
        },
    )


def check(
    opscheck_cli: Any, tmp_path: Path, config: Path
) -> tuple[Any, dict[str, Any]]:
    outcome, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "db.accepting_connections"
    )
    return outcome, results[("db.accepting_connections", "taskdb")]


def test_healthy_database_passes(
    opscheck_cli: Any, taskdb: Any, tmp_path: Path
) -> None:
    outcome, result = check(opscheck_cli, tmp_path, db_config(tmp_path, taskdb.port))
    assert result["outcome"] == "passed"
    assert "accepts connections as taskuser" in result["message"]
    assert outcome.exit_code == 0


def test_wrong_password_fails_without_leaking(
    opscheck_cli: Any, taskdb: Any, tmp_path: Path
) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    outcome, result = check(
        opscheck_cli, tmp_path, db_config(tmp_path, taskdb.port, password=wrong)
    )
    assert result["outcome"] == "failed"
    assert (
        "rejected the credentials of role taskuser (authentication failed)"
        in result["message"]
    )
    for text in (
        outcome.stdout,
        outcome.stderr,
        *(p.read_text() for p in (tmp_path / "reports").glob("daily-2*")),
    ):
        assert wrong not in text


def test_stopped_server_is_refused(
    opscheck_cli: Any, taskdb: Any, tmp_path: Path
) -> None:
    config = db_config(tmp_path, taskdb.port)
    with taskdb.stopped():
        _, result = check(opscheck_cli, tmp_path, config)
    assert result["outcome"] == "error"
    assert "was refused: no server listens there" in result["message"]


def test_silent_server_times_out(
    opscheck_cli: Any, silent_port: Any, tmp_path: Path
) -> None:
    _, result = check(
        opscheck_cli, tmp_path, db_config(tmp_path, silent_port.port, timeout=2)
    )
    assert result["outcome"] == "error"
    assert "timed out after 2 s" in result["message"]
    assert result["duration_s"] < 15


@contextlib.contextmanager
def all_slots_taken(cluster: Any) -> Iterator[int]:
    cluster.create_role("filler", "filler-pw")
    held: list[psycopg.Connection[Any]] = []
    try:
        while len(held) < 100:
            try:
                held.append(cluster.connect("postgres", "filler", "filler-pw"))
            except psycopg.OperationalError:
                break
        yield len(held)
    finally:
        for connection in held:
            connection.close()


def test_too_many_clients_fails(opscheck_cli: Any, taskdb: Any, tmp_path: Path) -> None:
    config = db_config(tmp_path, taskdb.port)
    with all_slots_taken(taskdb) as count:
        assert count > 0
        _, result = check(opscheck_cli, tmp_path, config)
    assert result["outcome"] == "failed"
    assert "too many clients already" in result["message"]


def test_missing_database_fails(opscheck_cli: Any, taskdb: Any, tmp_path: Path) -> None:
    config = db_config(tmp_path, taskdb.port)
    data = __import__("yaml").safe_load(config.read_text())
    data["database"]["name"] = "nosuchdb"
    config.write_text(__import__("yaml").safe_dump(data))
    outcome, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "db.accepting_connections"
    )
    result = results[("db.accepting_connections", "nosuchdb")]
    assert result["outcome"] == "failed"
    assert "database nosuchdb does not exist" in result["message"]
    assert outcome.exit_code == 1
