"""Each remediation against real components: PostgreSQL, Docker, files and the demo.

Every remediation runs through ``opscheck remediate`` as a user would run it, so the
installed executables, the argument building and the audit log are all covered.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors
import psycopg
import pytest
import yaml

PG_BIN = Path("/usr/lib/postgresql/15/bin")
APP_PASSWORD = "app-secret-9f3k2"


def write_config(folder: Path, **sections: Any) -> Path:
    remediation = {
        "audit_log": str(folder / "audit.jsonl"),
        "lock_file": str(folder / "remediation.lock"),
        **sections.pop("remediation", {}),
    }
    data = {"reports": {"dir": str(folder / "reports")}, "remediation": remediation}
    data.update(sections)
    path = folder / "opscheck.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def audit_entries(folder: Path) -> list[dict[str, Any]]:
    text = (folder / "audit.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


# PostgreSQL -----------------------------------------------------------------------


@dataclass
class AppDatabase:
    """A database on the test cluster owned by its own role, like taskdb."""

    name: str
    user: str
    cluster: Any

    def section(self, **extra: Any) -> dict[str, Any]:
        return {
            "host": self.cluster.host,
            "port": self.cluster.port,
            "name": self.name,
            "user": self.user,
            "password": "${APP_PASSWORD}",
            "sslmode": "disable",
            **extra,
        }

    def connect(self) -> psycopg.Connection[Any]:
        return self.cluster.connect(self.name, self.user, APP_PASSWORD)


_counter = iter(range(1000))


@pytest.fixture
def app_database(pg_cluster: Any) -> AppDatabase:
    number = next(_counter)
    user = f"app{os.getpid()}_{number}"
    name = f"appdb{os.getpid()}_{number}"
    pg_cluster.create_role(
        user, APP_PASSWORD, grant=["pg_read_all_stats", "pg_signal_backend"]
    )
    pg_cluster.create_database(name, user)
    database = AppDatabase(name, user, pg_cluster)
    with database.connect() as connection:
        connection.execute("CREATE TABLE tasks (id serial PRIMARY KEY, title text)")
        connection.execute(
            "INSERT INTO tasks (title) SELECT 'task ' || n FROM generate_series(1, 500) n"
        )
    return database


ENV = {"APP_PASSWORD": APP_PASSWORD}


@pytest.mark.slow
def test_backup_restores(
    app_database: AppDatabase, tmp_path: Path, opscheck_cli: Any
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    config = write_config(
        tmp_path,
        database=app_database.section(),
        backups={"path": str(backups)},
        remediation={"backup_method": "dsn"},
    )

    result = opscheck_cli("remediate", "backup-database", "--config", config, env=ENV)

    assert result.exit_code == 0, result.stdout + result.stderr
    files = sorted(path.name for path in backups.iterdir())
    assert len(files) == 1
    assert files[0].startswith("backup_")
    assert files[0].endswith(".sql.gz")
    assert "verified complete" in result.stdout
    assert APP_PASSWORD not in result.stdout
    assert APP_PASSWORD not in (tmp_path / "audit.jsonl").read_text()

    cluster = app_database.cluster
    scratch = f"restore_{app_database.name}"
    with cluster.superuser_connect() as connection:
        connection.execute(f'CREATE DATABASE "{scratch}"')
    try:
        sql = gzip.decompress((backups / files[0]).read_bytes())
        restored = subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                cluster.superuser_dsn(scratch),
            ],
            input=sql,
            capture_output=True,
            check=False,
        )
        assert restored.returncode == 0, restored.stderr.decode()
        with cluster.superuser_connect(scratch) as connection:
            row = connection.execute("SELECT count(*) FROM tasks").fetchone()
        assert row == (500,)
    finally:
        with cluster.superuser_connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{scratch}"')


@pytest.mark.slow
def test_backup_database_down(
    app_database: AppDatabase, tmp_path: Path, opscheck_cli: Any
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    config = write_config(
        tmp_path,
        database=app_database.section(),
        backups={"path": str(backups)},
        remediation={"backup_method": "dsn"},
    )

    with app_database.cluster.stopped():
        result = opscheck_cli(
            "remediate", "backup-database", "--config", config, env=ENV
        )

    assert result.exit_code == 1
    assert "pg_dump failed with exit status 1" in result.stdout
    assert "no backup was written" in result.stdout
    assert list(backups.iterdir()) == []
    assert audit_entries(tmp_path)[-1]["exit_status"] == 1


def _sleep_in_thread(
    connect: Any, seconds: int
) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            with connect() as connection:
                connection.execute("SELECT pg_sleep(%s)", (seconds,))
            outcome["result"] = "finished"
        except psycopg.Error as exc:
            outcome["result"] = type(exc).__name__

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, outcome


def _active_sleeps(cluster: Any, database: str) -> list[tuple[str, str]]:
    with cluster.superuser_connect() as connection:
        rows = connection.execute(
            "SELECT usename, query FROM pg_stat_activity WHERE datname = %s "
            "AND state = 'active' AND query LIKE 'SELECT pg_sleep%%'",
            (database,),
        ).fetchall()
    return [(str(user), str(query)) for user, query in rows]


def _wait_for_sleeps(cluster: Any, database: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(_active_sleeps(cluster, database)) < count:
        assert time.monotonic() < deadline, "the sleeping queries did not start"
        time.sleep(0.1)


@pytest.mark.slow
def test_terminate_long_queries(
    app_database: AppDatabase, tmp_path: Path, opscheck_cli: Any
) -> None:
    cluster = app_database.cluster
    protected = f"reporting_{app_database.name}"
    cluster.create_role(protected, APP_PASSWORD)
    with cluster.superuser_connect() as connection:
        connection.execute(
            f'GRANT CONNECT ON DATABASE "{app_database.name}" TO "{protected}"'
        )
    config = write_config(
        tmp_path,
        database=app_database.section(),
        # The threshold leaves the short query, started just before the command,
        # several seconds of the CLI's start-up to stay below it.
        remediation={"long_query_s": 8, "protected_roles": [protected]},
    )

    long_thread, long_outcome = _sleep_in_thread(app_database.connect, 600)
    _, protected_outcome = _sleep_in_thread(
        lambda: cluster.connect(app_database.name, protected, APP_PASSWORD), 600
    )
    _wait_for_sleeps(cluster, app_database.name, 2)
    time.sleep(8.5)
    _, short_outcome = _sleep_in_thread(app_database.connect, 20)
    _wait_for_sleeps(cluster, app_database.name, 3)
    try:
        result = opscheck_cli(
            "remediate", "terminate-long-queries", "--config", config, env=ENV
        )

        assert result.exit_code == 0, result.stdout + result.stderr
        long_thread.join(timeout=10)
        assert long_outcome["result"] == "AdminShutdown"
        assert result.stdout.count("ended pid") == 1
        assert f"of role {app_database.user}" in result.stdout
        remaining = _active_sleeps(cluster, app_database.name)
        assert (protected, "SELECT pg_sleep($1)") in remaining
        assert (app_database.user, "SELECT pg_sleep($1)") in remaining
        assert "result" not in short_outcome
        assert "result" not in protected_outcome
    finally:
        with cluster.superuser_connect() as connection:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid()",
                (app_database.name,),
            )


@pytest.mark.slow
def test_no_long_queries(
    app_database: AppDatabase, tmp_path: Path, opscheck_cli: Any
) -> None:
    config = write_config(tmp_path, database=app_database.section())

    result = opscheck_cli(
        "remediate", "terminate-long-queries", "--config", config, env=ENV
    )

    assert result.exit_code == 0
    assert "has been active for more than 300 s" in result.stdout


def _last_vacuum(database: AppDatabase) -> Any:
    with database.connect() as connection:
        return connection.execute(
            "SELECT last_vacuum, last_analyze FROM pg_stat_user_tables WHERE relname = 'tasks'"
        ).fetchone()


@pytest.mark.slow
def test_vacuum_analyze_table(
    app_database: AppDatabase, tmp_path: Path, opscheck_cli: Any
) -> None:
    config = write_config(tmp_path, database=app_database.section())
    assert _last_vacuum(app_database) == (None, None)

    result = opscheck_cli(
        "remediate", "vacuum-analyze", "--target", "tasks", "--config", config, env=ENV
    )

    assert result.exit_code == 0, result.stdout + result.stderr
    assert 'ran VACUUM (ANALYZE) "tasks"' in result.stdout
    assert "FULL" not in result.stdout
    deadline = time.monotonic() + 10
    while _last_vacuum(app_database)[0] is None:
        assert time.monotonic() < deadline, "last_vacuum did not move"
        time.sleep(0.2)
    assert _last_vacuum(app_database)[1] is not None


@pytest.mark.slow
def test_vacuum_full_only_when_asked(
    app_database: AppDatabase, tmp_path: Path, opscheck_cli: Any
) -> None:
    config = write_config(
        tmp_path, database=app_database.section(), remediation={"vacuum_full": True}
    )

    result = opscheck_cli("remediate", "vacuum-analyze", "--config", config, env=ENV)

    assert result.exit_code == 0, result.stdout + result.stderr
    assert "ran VACUUM (FULL, ANALYZE) on database" in result.stdout


# Files --------------------------------------------------------------------------

DAY = 86400


def _backup(folder: Path, days_old: float) -> Path:
    moment = time.time() - days_old * DAY
    name = time.strftime("backup_%Y%m%d_%H%M%S.sql.gz", time.gmtime(moment))
    path = folder / name
    path.write_bytes(gzip.compress(b"-- PostgreSQL database dump\n"))
    os.utime(path, (moment, moment))
    return path


def test_prune_keeps_newest(tmp_path: Path, opscheck_cli: Any) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    # Ten backups 31 to 40 days old: all past the retention, but the newest
    # seven stay whatever their age.
    old = [_backup(folder, 31 + n) for n in range(10)]
    outside = tmp_path / "precious.sql.gz"
    outside.write_bytes(b"not a backup of this folder")
    os.utime(outside, (time.time() - 90 * DAY,) * 2)
    link = folder / "backup_20200101_000000.sql.gz"
    link.symlink_to(outside)
    notes = folder / "notes.txt"
    notes.write_text("keep me")
    os.utime(notes, (time.time() - 90 * DAY,) * 2)
    predeploy = folder / "pre-deploy-20200101_000000.sql"
    predeploy.write_text("-- dump")
    os.utime(predeploy, (time.time() - 90 * DAY,) * 2)
    config = write_config(tmp_path, backups={"path": str(folder)})

    result = opscheck_cli("remediate", "prune-old-backups", "--config", config)

    assert result.exit_code == 0, result.stdout + result.stderr
    remaining = {path.name for path in folder.iterdir()}
    assert {path.name for path in old[:7]} <= remaining
    assert not {path.name for path in old[7:]} & remaining
    assert link.is_symlink()
    assert outside.read_bytes() == b"not a backup of this folder"
    assert notes.exists()
    assert predeploy.exists()
    assert (
        "skipped backup_20200101_000000.sql.gz: it is a symbolic link" in result.stdout
    )
    assert "removed 3 backups older than 30 days" in result.stdout


def test_prune_keeps_recent(tmp_path: Path, opscheck_cli: Any) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    recent = [_backup(folder, n + 0.5) for n in range(12)]
    config = write_config(tmp_path, backups={"path": str(folder)})

    result = opscheck_cli("remediate", "prune-old-backups", "--config", config)

    assert result.exit_code == 0
    assert {path.name for path in folder.iterdir()} == {path.name for path in recent}


def test_prune_refuses_linked_folder(tmp_path: Path, opscheck_cli: Any) -> None:
    real = tmp_path / "real"
    real.mkdir()
    old = _backup(real, 60)
    linked = tmp_path / "linked"
    linked.symlink_to(real)
    config = write_config(tmp_path, backups={"path": str(linked), "keep_newest": 1})

    result = opscheck_cli("remediate", "prune-old-backups", "--config", config)

    assert result.exit_code == 1
    assert "it must be a real folder, not a symbolic link" in result.stdout
    assert old.exists()


def test_prune_rejects_target(tmp_path: Path, opscheck_cli: Any) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    old = _backup(folder, 60)
    other = tmp_path / "other"
    other.mkdir()
    config = write_config(tmp_path, backups={"path": str(folder), "keep_newest": 1})

    result = opscheck_cli(
        "remediate", "prune-old-backups", "--target", other, "--config", config
    )

    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr == (
        f"opscheck: remediation prune-old-backups takes no --target (got '{other}'): "
        "it acts on the backup folder backups.path, which the config sets; "
        "remove --target\n"
    )
    assert result.stdout == ""
    assert old.exists()
    assert not (tmp_path / "audit.jsonl").exists()


# Docker -------------------------------------------------------------------------

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


@pytest.fixture
def docker_names(docker_engine: Any) -> Iterator[list[str]]:
    """Names of volumes and containers a test creates; removed afterwards."""
    names: list[str] = []
    yield names
    client = docker_engine.client
    # Containers first: a volume cannot be removed while a container uses it.
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            client.containers.get(name).remove(force=True)
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(name).remove(force=True)


@pytest.mark.slow
def test_docker_cleanup(
    docker_engine: Any, docker_names: list[str], tmp_path: Path, opscheck_cli: Any
) -> None:
    client = docker_engine.client
    image = docker_engine.busybox_image()
    suffix = f"{os.getpid()}_{next(_counter)}"
    listed = f"scratch_{suffix}"
    unlisted = f"keep_{suffix}"
    owned = f"pgdata_{suffix}"
    used = f"used_{suffix}"
    docker_names.extend([listed, unlisted, owned, used])
    client.volumes.create(listed)
    client.volumes.create(unlisted)
    client.volumes.create(owned, labels={PROJECT_LABEL: "taskmanagement"})
    client.volumes.create(used)

    loose = f"loose_{suffix}"
    stack = f"stack_{suffix}"
    docker_names.extend([loose, stack])
    client.containers.run(image, ["true"], name=loose, network_mode="host")
    client.containers.run(
        image,
        ["true"],
        name=stack,
        network_mode="host",
        labels={PROJECT_LABEL: "taskmanagement", SERVICE_LABEL: "worker"},
        volumes={used: {"bind": "/data", "mode": "rw"}},
    )
    for name in (loose, stack):
        client.containers.get(name).wait(timeout=30)

    config = write_config(
        tmp_path,
        docker={"host": docker_engine.host},
        remediation={"prune_volumes": [listed, owned, used]},
    )

    result = opscheck_cli("remediate", "docker-cleanup", "--config", config)

    assert result.exit_code == 0, result.stdout + result.stderr
    volumes = {volume.name for volume in client.volumes.list()}
    assert listed not in volumes
    assert unlisted in volumes
    assert owned in volumes
    assert used in volumes
    containers = {c.name for c in client.containers.list(all=True)}
    assert loose not in containers
    assert stack in containers
    assert (
        f"kept volume {owned}: compose project taskmanagement owns it" in result.stdout
    )
    assert f"kept volume {used}: a container uses it" in result.stdout


def _service_container(
    docker_engine: Any,
    names: list[str],
    service: str,
    environment: dict[str, str],
    command: list[str],
    healthcheck: dict[str, Any] | None = None,
) -> Any:
    name = f"{service}_{os.getpid()}_{next(_counter)}"
    names.append(name)
    return docker_engine.client.containers.run(
        docker_engine.busybox_image(),
        command,
        name=name,
        detach=True,
        init=True,
        network_mode="host",
        environment=environment,
        labels={PROJECT_LABEL: "evidence", SERVICE_LABEL: service},
        healthcheck=healthcheck,
    )


@pytest.mark.slow
def test_capture_evidence_redacts(
    docker_engine: Any, docker_names: list[str], tmp_path: Path, opscheck_cli: Any
) -> None:
    secret = "s3cr3t-token-value-77"
    api_key = "plain-looking-value-88"
    env_file = tmp_path / ".env"
    env_file.write_text(f"SECRET_KEY={secret}\n")
    container = _service_container(
        docker_engine,
        docker_names,
        "backend",
        {"SECRET_KEY": secret, "UPSTREAM": api_key},
        ["sh", "-c", 'echo "boot with $SECRET_KEY and $UPSTREAM"; sleep 600'],
    )
    deadline = time.monotonic() + 10
    while b"boot with" not in container.logs():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    output = tmp_path / "evidence"
    config = write_config(
        tmp_path,
        docker={"host": docker_engine.host},
        compose={"project": "evidence", "services": ["backend"]},
        secrets={"env_file": str(env_file)},
        remediation={"evidence_dir": str(output)},
    )

    result = opscheck_cli("remediate", "capture-evidence", "--config", config)

    assert result.exit_code == 0, result.stdout + result.stderr
    archives = list(output.glob("evidence_evidence_*.tar.gz"))
    assert len(archives) == 1
    with tarfile.open(archives[0]) as archive:
        members = {
            m.name: archive.extractfile(m).read()
            for m in archive.getmembers()
            if m.isfile()
        }  # type: ignore[union-attr]
    folder = f"backend/{container.name}"
    assert set(members) == {
        f"{folder}/inspect.json",
        f"{folder}/state.json",
        f"{folder}/logs.txt",
    }
    for name, data in members.items():
        assert secret.encode() not in data, name
        assert api_key.encode() not in data, name
    inspect = json.loads(members[f"{folder}/inspect.json"])
    assert "SECRET_KEY=***" in inspect["Config"]["Env"]
    assert b"boot with *** and ***" in members[f"{folder}/logs.txt"]


@pytest.mark.slow
def test_restart_service_unhealthy_times_out(
    docker_engine: Any, docker_names: list[str], tmp_path: Path, opscheck_cli: Any
) -> None:
    never_healthy = {"test": ["CMD", "false"], "interval": 500_000_000, "retries": 1}
    target = _service_container(
        docker_engine, docker_names, "frontend", {}, ["sleep", "600"], never_healthy
    )
    other = _service_container(
        docker_engine, docker_names, "backend", {}, ["sleep", "600"]
    )
    other.reload()
    other_started = other.attrs["State"]["StartedAt"]
    target.reload()
    target_started = target.attrs["State"]["StartedAt"]
    config = write_config(
        tmp_path,
        docker={"host": docker_engine.host},
        compose={"project": "evidence", "services": ["frontend", "backend"]},
        remediation={"healthy_timeout_s": 3},
    )

    result = opscheck_cli(
        "remediate", "restart-service", "--target", "frontend", "--config", config
    )

    assert result.exit_code == 1
    assert "service frontend is not healthy 3 s after the restart" in result.stdout
    target.reload()
    other.reload()
    assert target.attrs["State"]["StartedAt"] != target_started
    assert other.attrs["State"]["StartedAt"] == other_started


# The demo stack -------------------------------------------------------------------


@pytest.mark.slow
def test_restart_heals_demo_frontend(demo_stack: Any, opscheck_cli: Any) -> None:
    env = {"DOCKER_HOST": demo_stack.host}
    config = demo_stack.config_path
    demo_stack.break_("unhealthy-frontend")
    try:
        before = opscheck_cli(
            "daily", "--config", config, "-k", "services.healthy and frontend", env=env
        )
        assert before.exit_code == 1, before.stdout + before.stderr

        result = opscheck_cli(
            "remediate",
            "restart-service",
            "--target",
            "frontend",
            "--config",
            config,
            env=env,
        )

        assert result.exit_code == 0, result.stdout + result.stderr
        assert "is healthy" in result.stdout
        after = opscheck_cli(
            "daily", "--config", config, "-k", "services.healthy and frontend", env=env
        )
        assert after.exit_code == 0, after.stdout + after.stderr
    finally:
        demo_stack.heal()


@pytest.mark.slow
def test_backup_by_docker_exec(
    demo_stack: Any, opscheck_cli: Any, tmp_path: Path
) -> None:
    env = {"DOCKER_HOST": demo_stack.host}
    backups = demo_stack.directory / "backups" / "database"
    before = set(backups.iterdir())

    result = opscheck_cli(
        "remediate", "backup-database", "--config", demo_stack.config_path, env=env
    )

    assert result.exit_code == 0, result.stdout + result.stderr
    added = set(backups.iterdir()) - before
    assert len(added) == 1
    written = added.pop()
    assert written.name.startswith("backup_")
    assert b"-- PostgreSQL database dump complete" in gzip.decompress(
        written.read_bytes()
    )
    written.unlink()


@pytest.mark.slow
def test_daily_auto_heals_frontend(
    demo_stack: Any, opscheck_cli: Any, tmp_path: Path
) -> None:
    env = {"DOCKER_HOST": demo_stack.host}
    demo_stack.heal()
    demo_stack.break_("unhealthy-frontend")
    try:
        result = opscheck_cli(
            "daily", "--remediate", "auto", "--config", demo_stack.config_path, env=env
        )

        assert result.exit_code == 0, result.stdout + result.stderr
        report = result.json("reports/daily-latest.json")
        remediated = [
            r for r in report["results"] if (r["remediation"] or {}).get("taken")
        ]
        assert [r["id"] for r in remediated] == ["services.healthy"]
        entry = remediated[0]["remediation"]
        assert entry["before"] == "failed"
        assert entry["after"] == "passed"
        assert entry["taken"]["name"] == "restart-service"
        assert entry["taken"]["exit_status"] == 0
        assert "restart-service for services.healthy[frontend]" in result.stdout
        junit = (tmp_path / "reports" / "daily-latest.xml").read_text()
        assert 'name="remediation_taken"' in junit
        html = (tmp_path / "reports" / "daily-latest.html").read_text()
        assert "Remediation taken" in html
        # The audit log's default is relative, so it is kept next to the config file.
        audit_log = (
            demo_stack.config_path.parent / "reports" / "remediation-audit.jsonl"
        )
        assert entry["taken"]["audit_log"] == str(audit_log)
        taken_id = entry["taken"]["id"]
        events = [
            (line["event"], line.get("outcome"))
            for line in map(json.loads, audit_log.read_text().splitlines())
            if taken_id in (line.get("id"), line.get("remediation_id"))
        ]
        assert events == [("remediation", None), ("recheck", "passed")]
        assert not (tmp_path / "reports" / "remediation-audit.jsonl").exists()
    finally:
        demo_stack.heal()
