"""Connection, statement, activity, size and maintenance checks on real PostgreSQL 15."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import run_suite, write_config
from tests.support.engines import _init_cluster, free_port

pytestmark = pytest.mark.slow

PASSWORD = "pw-" + uuid.uuid4().hex


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def db_config(
    tmp_path: Path, cluster: Any, name: str, user: str, checks: Any = None
) -> Path:
    (tmp_path / ".env").write_text(f"POSTGRES_PASSWORD={PASSWORD}\n")
    return write_config(
        tmp_path,
        {
            "compose": {"services": []},
            "endpoints": {},
            "database": {
                "host": "127.0.0.1",
                "port": cluster.port,
                "name": name,
                "user": user,
                "password": "${POSTGRES_PASSWORD}",
            },
            "checks": checks or {},
        },
    )


def run_check(
    opscheck_cli: Any,
    tmp_path: Path,
    config: Path,
    check_id: str,
    suite: str,
) -> dict[str, Any]:
    _, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", check_id, suite=suite
    )
    matching = [value for key, value in results.items() if key[0] == check_id]
    assert len(matching) == 1, results
    return matching[0]


@pytest.fixture(scope="module")
def stats_db(pg_cluster: Any) -> tuple[str, str]:
    """A database with pg_stat_statements and a role that may read all statistics."""
    user, name = unique("statsuser"), unique("statsdb")
    pg_cluster.create_role(user, PASSWORD, grant=["pg_read_all_stats"])
    pg_cluster.create_database(name, user, extensions=["pg_stat_statements"])
    return name, user


# db.connections ---------------------------------------------------------------------


def test_connections_healthy(
    opscheck_cli: Any, pg_cluster: Any, stats_db: tuple[str, str], tmp_path: Path
) -> None:
    name, user = stats_db
    config = db_config(tmp_path, pg_cluster, name, user)
    result = run_check(opscheck_cli, tmp_path, config, "db.connections", "daily")
    assert result["outcome"] == "passed", result
    assert result["evidence"]["max_connections"] == pg_cluster.max_connections
    assert result["evidence"]["client_connections"] >= 1


@contextlib.contextmanager
def open_connections(cluster: Any, name: str, user: str, count: int) -> Iterator[None]:
    connections = [cluster.connect(name, user, PASSWORD) for _ in range(count)]
    try:
        yield
    finally:
        for connection in connections:
            connection.close()


def test_connections_too_many(
    opscheck_cli: Any, pg_cluster: Any, stats_db: tuple[str, str], tmp_path: Path
) -> None:
    name, user = stats_db
    # Absolute levels are lowered, because the test cluster allows 20 connections.
    config = db_config(
        tmp_path,
        pg_cluster,
        name,
        user,
        checks={"db.connections": {"warning": 5, "critical": 9}},
    )
    with open_connections(pg_cluster, name, user, 10):
        result = run_check(opscheck_cli, tmp_path, config, "db.connections", "daily")
    assert result["outcome"] == "failed", result
    assert result["message"].startswith(
        f"client connections to PostgreSQL at 127.0.0.1:{pg_cluster.port} is "
    )
    assert "of max_connections 20, above the critical level 9" in result["message"]


def test_connections_share_of_max(
    opscheck_cli: Any, pg_cluster: Any, stats_db: tuple[str, str], tmp_path: Path
) -> None:
    name, user = stats_db
    config = db_config(
        tmp_path,
        pg_cluster,
        name,
        user,
        checks={"db.connections": {"warning_percent": 30.0}},
    )
    with open_connections(pg_cluster, name, user, 8):
        result = run_check(opscheck_cli, tmp_path, config, "db.connections", "monitor")
    assert result["outcome"] == "warning", result
    assert "as a share of max_connections is" in result["message"]
    assert "above the warning level 30.0 %" in result["message"]
    assert result["evidence"]["percent_of_max"] > 30


# db.slow_queries and db.very_slow_queries -------------------------------------------


def test_slow_queries_none(opscheck_cli: Any, pg_cluster: Any, tmp_path: Path) -> None:
    user, name = unique("fastuser"), unique("fastdb")
    pg_cluster.create_role(user, PASSWORD, grant=["pg_read_all_stats"])
    pg_cluster.create_database(name, user, extensions=["pg_stat_statements"])
    config = db_config(tmp_path, pg_cluster, name, user)
    result = run_check(opscheck_cli, tmp_path, config, "db.slow_queries", "daily")
    assert result["outcome"] == "passed", result
    assert result["evidence"]["mean_column"] == "mean_exec_time"
    assert result["evidence"]["slowest"] == []


def test_slow_query_warns(
    opscheck_cli: Any, pg_cluster: Any, stats_db: tuple[str, str], tmp_path: Path
) -> None:
    name, user = stats_db
    with pg_cluster.connect(name, user, PASSWORD) as connection:
        connection.execute("SELECT pg_sleep(0.2)")
    config = db_config(tmp_path, pg_cluster, name, user)
    result = run_check(opscheck_cli, tmp_path, config, "db.slow_queries", "daily")
    assert result["outcome"] == "warning", result
    assert result["message"].startswith(
        f"the slowest mean statement time in database {name} is "
    )
    assert "above the warning level 100 ms" in result["message"]
    queries = [item["query"] for item in result["evidence"]["slowest"]]
    assert "SELECT pg_sleep($1)" in queries


def test_very_slow_query_fails(
    opscheck_cli: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    user, name = unique("slowuser"), unique("slowdb")
    pg_cluster.create_role(user, PASSWORD, grant=["pg_read_all_stats"])
    pg_cluster.create_database(name, user, extensions=["pg_stat_statements"])
    config = db_config(tmp_path, pg_cluster, name, user)

    healthy = run_check(
        opscheck_cli, tmp_path, config, "db.very_slow_queries", "monitor"
    )
    assert healthy["outcome"] == "passed", healthy

    with pg_cluster.connect(name, user, PASSWORD) as connection:
        connection.execute("SELECT pg_sleep(1.05)")
    result = run_check(
        opscheck_cli, tmp_path, config, "db.very_slow_queries", "monitor"
    )
    assert result["outcome"] == "failed", result
    assert "above the critical level 1000 ms" in result["message"]


def test_statements_hidden_is_error(
    opscheck_cli: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    user, name = unique("plainuser"), unique("plaindb")
    pg_cluster.create_role(user, PASSWORD)
    pg_cluster.create_database(name, user, extensions=["pg_stat_statements"])
    with pg_cluster.superuser_connect(name) as connection:
        connection.execute("SELECT count(*) FROM pg_class")
    config = db_config(tmp_path, pg_cluster, name, user)
    result = run_check(opscheck_cli, tmp_path, config, "db.slow_queries", "daily")
    assert result["outcome"] == "error", result
    assert f"role {user} sees" in result["message"]
    assert f"GRANT pg_read_all_stats TO {user}" in result["message"]


def test_extension_missing_is_skipped(
    opscheck_cli: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    user, name = unique("noextuser"), unique("noextdb")
    pg_cluster.create_role(user, PASSWORD, grant=["pg_read_all_stats"])
    pg_cluster.create_database(name, user)
    config = db_config(tmp_path, pg_cluster, name, user)

    result = run_check(opscheck_cli, tmp_path, config, "db.slow_queries", "daily")
    assert result["outcome"] == "skipped", result
    assert f"not created in database {name}" in result["message"]
    assert "shared_preload_libraries" in result["message"]

    # The other database checks still run on the same database.
    other = run_check(opscheck_cli, tmp_path, config, "db.connections", "daily")
    assert other["outcome"] == "passed", other


@pytest.fixture(scope="module")
def unloaded_cluster() -> Iterator[Any]:
    """A second small cluster without pg_stat_statements in shared_preload_libraries."""
    root = Path(tempfile.mkdtemp(prefix="opscheck-pg-unloaded-", dir="/var/tmp"))
    root.chmod(0o755)
    cluster = _init_cluster(root, free_port())
    with open(cluster.data_dir / "postgresql.conf", "a") as conf:
        conf.write("shared_preload_libraries = ''\n")
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(BaseException):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_extension_not_preloaded_is_skipped(
    opscheck_cli: Any, unloaded_cluster: Any, tmp_path: Path
) -> None:
    user, name = unique("unloaded"), unique("unloadeddb")
    unloaded_cluster.create_role(user, PASSWORD, grant=["pg_read_all_stats"])
    unloaded_cluster.create_database(name, user, extensions=["pg_stat_statements"])
    config = db_config(tmp_path, unloaded_cluster, name, user)
    result = run_check(opscheck_cli, tmp_path, config, "db.slow_queries", "daily")
    assert result["outcome"] == "skipped", result
    assert "created but the server did not preload it" in result["message"]
    assert "must be loaded via shared_preload_libraries" in result["message"]


# db.long_running --------------------------------------------------------------------


def test_long_running_query_warns(
    opscheck_cli: Any, pg_cluster: Any, stats_db: tuple[str, str], tmp_path: Path
) -> None:
    name, user = stats_db
    config = db_config(
        tmp_path, pg_cluster, name, user, checks={"db.long_running": {"warning": 1}}
    )
    healthy = run_check(opscheck_cli, tmp_path, config, "db.long_running", "monitor")
    assert healthy["outcome"] == "passed", healthy

    sleeper = pg_cluster.connect(name, user, PASSWORD)
    pid = sleeper.info.backend_pid
    thread = threading.Thread(target=_sleep, args=(sleeper,), daemon=True)
    thread.start()
    try:
        time.sleep(1.5)
        result = run_check(opscheck_cli, tmp_path, config, "db.long_running", "monitor")
    finally:
        with pg_cluster.superuser_connect() as admin:
            admin.execute("SELECT pg_cancel_backend(%s)", (pid,))
        thread.join(timeout=10)
        sleeper.close()
    assert result["outcome"] == "warning", result
    assert f"(pid {pid} of {user};" in result["message"]
    assert "above the warning level 1.0 s" in result["message"]
    queries = result["evidence"]["queries"]
    assert [query["pid"] for query in queries] == [pid]
    assert "pg_sleep(30)" in queries[0]["query"]


def _sleep(connection: Any) -> None:
    with contextlib.suppress(psycopg.Error):
        connection.execute("SELECT pg_sleep(30)")


# db.size ----------------------------------------------------------------------------


def test_size_levels_and_monthly_growth(
    opscheck_cli: Any, pg_cluster: Any, stats_db: tuple[str, str], tmp_path: Path
) -> None:
    name, user = stats_db
    config = db_config(tmp_path, pg_cluster, name, user)
    healthy = run_check(opscheck_cli, tmp_path, config, "db.size", "monitor")
    assert healthy["outcome"] == "passed", healthy

    small = db_config(
        tmp_path, pg_cluster, name, user, checks={"db.size": {"warning": "1MiB"}}
    )
    first = run_check(opscheck_cli, tmp_path, small, "db.size", "monthly")
    assert first["outcome"] == "warning", first
    assert first["message"].startswith(f"size of database {name} is ")
    assert first["evidence"]["growth_note"] == "no earlier monthly run recorded"

    with pg_cluster.connect(name, user, PASSWORD) as connection:
        connection.execute(
            "CREATE TABLE growth AS SELECT repeat('x', 1000) AS pad "
            "FROM generate_series(1, 2000)"
        )
    second = run_check(opscheck_cli, tmp_path, small, "db.size", "monthly")
    assert second["evidence"]["growth_bytes"] > 1_000_000
    assert "since the monthly run of" in second["message"]
    history = tmp_path / "reports" / "history" / "db-size.jsonl"
    assert len(history.read_text().splitlines()) == 2


# db.maintenance ---------------------------------------------------------------------


def wait_dead_tuples(cluster: Any, name: str, table: str) -> None:
    deadline = time.monotonic() + 15
    with cluster.superuser_connect(name) as connection:
        while time.monotonic() < deadline:
            row = connection.execute(
                "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = %s",
                (table,),
            ).fetchone()
            if row and row[0] > 0:
                return
            time.sleep(0.3)
    raise AssertionError(f"table {table} shows no dead tuples")


def test_maintenance_dead_tuples(
    opscheck_cli: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    user, name = unique("maintuser"), unique("maintdb")
    pg_cluster.create_role(user, PASSWORD, grant=["pg_read_all_stats"])
    pg_cluster.create_database(name, user)
    with pg_cluster.connect(name, user, PASSWORD) as connection:
        connection.execute(
            "CREATE TABLE items WITH (autovacuum_enabled = false) AS "
            "SELECT i AS id FROM generate_series(1, 1000) AS i"
        )
        connection.execute("VACUUM ANALYZE items")
        connection.execute("DELETE FROM items WHERE id <= 500")
    wait_dead_tuples(pg_cluster, name, "items")
    config = db_config(tmp_path, pg_cluster, name, user)

    result = run_check(opscheck_cli, tmp_path, config, "db.maintenance", "weekly")
    assert result["outcome"] == "warning", result
    # n_live_tup is an estimate, so the share is only known to be well above 20 %.
    assert result["message"].startswith("the dead tuple share of table public.items")
    assert "above the warning level 20.0 %" in result["message"]
    assert result["evidence"]["max_dead_percent"] > 20

    with pg_cluster.connect(name, user, PASSWORD) as connection:
        connection.execute("VACUUM ANALYZE items")
    healthy = run_check(opscheck_cli, tmp_path, config, "db.maintenance", "weekly")
    assert healthy["outcome"] == "passed", healthy


def test_maintenance_stale_vacuum(
    opscheck_cli: Any, pg_cluster: Any, tmp_path: Path
) -> None:
    user, name = unique("staleuser"), unique("staledb")
    pg_cluster.create_role(user, PASSWORD, grant=["pg_read_all_stats"])
    pg_cluster.create_database(name, user)
    with pg_cluster.connect(name, user, PASSWORD) as connection:
        connection.execute(
            "CREATE TABLE items WITH (autovacuum_enabled = false) AS "
            "SELECT i AS id FROM generate_series(1, 100) AS i"
        )
        connection.execute("VACUUM ANALYZE items")
    time.sleep(1.2)
    # A maximum age of a fraction of a day makes the vacuum of a second ago stale.
    config = db_config(
        tmp_path,
        pg_cluster,
        name,
        user,
        checks={"db.maintenance": {"max_age_days": 0.00001}},
    )
    result = run_check(opscheck_cli, tmp_path, config, "db.maintenance", "weekly")
    assert result["outcome"] == "warning", result
    assert result["message"].startswith(
        f"1 tables of database {name} need VACUUM ANALYZE: public.items (last vacuumed"
    )


# The demo stack ---------------------------------------------------------------------


def test_demo_database_checks(
    opscheck_cli: Any, demo_stack: Any, tmp_path: Path
) -> None:
    demo_stack.heal()
    expression = "db.connections or db.slow_queries or db.size or db.long_running"
    _, _, daily = run_suite(
        opscheck_cli, tmp_path, demo_stack.config_path, "-k", expression
    )
    for key, result in daily.items():
        assert result["outcome"] == "passed", (key, result)

    demo_stack.break_("many-connections")
    try:
        _, _, monitor = run_suite(
            opscheck_cli,
            tmp_path,
            demo_stack.config_path,
            "-k",
            "db.connections",
            suite="monitor",
        )
    finally:
        demo_stack.heal()
    (result,) = monitor.values()
    assert result["outcome"] == "warning", result
    assert "above the warning level 70" in result["message"]
    assert result["evidence"]["client_connections"] >= 75


def test_demo_maintenance(opscheck_cli: Any, demo_stack: Any, tmp_path: Path) -> None:
    demo_stack.heal()
    _, _, weekly = run_suite(
        opscheck_cli,
        tmp_path,
        demo_stack.config_path,
        "-k",
        "db.maintenance",
        suite="weekly",
    )
    (result,) = weekly.values()
    assert result["outcome"] == "passed", result
    assert result["evidence"]["tables"] >= 4
