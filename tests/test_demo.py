"""Tests of the demo stack against a real Docker engine, docker-compose and PostgreSQL."""

from __future__ import annotations

import gzip
import json
import re
import socket
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docker
import httpx
import psycopg
import pytest
import yaml
from click.testing import CliRunner

from opscheck.config import loader
from opscheck.config.model import Config
from opscheck.demo import backups, faults
from opscheck.demo.cli import demo
from opscheck.errors import DemoError
from tests.support.demo import DemoHandle

pytestmark = pytest.mark.slow

MIB = 1 << 20


def _client(handle: DemoHandle) -> docker.DockerClient:
    return docker.DockerClient(base_url=handle.host, timeout=30)


def _container(handle: DemoHandle, service: str) -> docker.models.containers.Container:
    labels = [
        "com.docker.compose.project=taskmanagement",
        f"com.docker.compose.service={service}",
    ]
    found = _client(handle).containers.list(all=True, filters={"label": labels})
    assert len(found) == 1, (
        f"expected one container of service {service}, found {found}"
    )
    return found[0]


def _health_url(handle: DemoHandle, service: str) -> str:
    return f"http://127.0.0.1:{handle.ports[service]}/api/health"


def _password(handle: DemoHandle) -> str:
    for line in (handle.directory / ".env").read_text().splitlines():
        if line.startswith("POSTGRES_PASSWORD="):
            return line.split("=", 1)[1]
    raise AssertionError("no POSTGRES_PASSWORD in the demo .env")


def _connect(handle: DemoHandle) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host="127.0.0.1",
        port=handle.ports["db"],
        dbname="taskdb",
        user="taskuser",
        password=_password(handle),
        connect_timeout=5,
        autocommit=True,
    )


def _todays_backups(handle: DemoHandle) -> list[Path]:
    return backups.todays(handle.directory / "backups" / "database")


def _assert_healthy(handle: DemoHandle) -> None:
    for service in ("backend", "frontend", "nginx", "db"):
        container = _container(handle, service)
        assert container.status == "running", f"{service} is {container.status}"
        assert container.attrs["State"]["Health"]["Status"] == "healthy", service


def test_up_services_healthy(demo_stack: DemoHandle) -> None:
    _assert_healthy(demo_stack)
    assert _container(demo_stack, "backend").name == "taskmanagement_backend"
    assert _container(demo_stack, "db").name == "taskmanagement_postgres"
    assert (
        _container(demo_stack, "backend").attrs["HostConfig"]["NetworkMode"] == "host"
    )


def test_up_health_endpoints(demo_stack: DemoHandle) -> None:
    for service in ("backend", "frontend", "nginx"):
        response = httpx.get(_health_url(demo_stack, service), timeout=5)
        assert response.status_code == 200, service
        assert response.headers["content-type"] == "application/json", service
        assert response.json() == {"status": "healthy"}, service


def test_up_writes_valid_config(demo_stack: DemoHandle) -> None:
    data = yaml.safe_load(demo_stack.config_path.read_text())
    config = Config.model_validate(data)

    assert config.compose.project == "taskmanagement"
    assert config.docker.host == demo_stack.host
    assert config.endpoints["backend"].url == _health_url(demo_stack, "backend")
    assert config.database.port == demo_stack.ports["db"]
    assert data["database"]["password"] == "${POSTGRES_PASSWORD}"
    base = demo_stack.config_path.parent
    assert (base / config.backups.path).is_dir()
    assert (base / config.secrets.env_file).is_file()


def test_up_env_file_private(demo_stack: DemoHandle) -> None:
    env_file = demo_stack.directory / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    keys = [line.split("=", 1)[0] for line in env_file.read_text().splitlines()]
    assert keys == ["POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "SECRET_KEY"]


def test_up_backups_real_dumps(demo_stack: DemoHandle) -> None:
    folder = demo_stack.directory / "backups" / "database"
    names = sorted(path.name for path in folder.glob("backup_*.sql.gz"))
    today = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0)
    expected = [
        backups.backup_name(today - timedelta(days=days)) for days in range(8, -1, -1)
    ]
    assert names == expected

    newest = folder / expected[-1]
    assert newest.stat().st_size > 1.2 * MIB
    text = gzip.decompress(newest.read_bytes()).decode()
    assert text.startswith("--\n-- PostgreSQL database dump")
    assert "PostgreSQL database dump complete" in text[-500:]
    assert "CREATE TABLE public.tasks" in text

    oldest = min(path.stat().st_mtime for path in folder.iterdir())
    assert time.time() - oldest < 30 * 86400


def test_up_no_slow_queries(demo_stack: DemoHandle) -> None:
    query = "SELECT query FROM pg_stat_statements WHERE mean_exec_time > 100"
    with _connect(demo_stack) as connection:
        assert connection.execute(query).fetchall() == []


def test_up_database_setup(demo_stack: DemoHandle) -> None:
    with _connect(demo_stack) as connection:
        extension = connection.execute(
            "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
        ).fetchone()
        roles = connection.execute(
            "SELECT rolcreatedb, pg_has_role('taskuser', 'pg_read_all_stats', 'member')"
            " FROM pg_roles WHERE rolname = 'taskuser'"
        ).fetchone()
        tasks = connection.execute("SELECT count(*) FROM tasks").fetchone()
    assert extension == (1,)
    assert roles == (True, True)
    assert tasks is not None
    assert int(str(tasks[0])) >= 10000


_LOG_PROBLEM = re.compile(r"error|fatal|exception|timeout|failed", re.IGNORECASE)


def _log_problems(handle: DemoHandle, service: str) -> list[str]:
    log = _container(handle, service).logs().decode(errors="replace")
    return [line for line in log.splitlines() if _LOG_PROBLEM.search(line)]


def test_up_logs_clean(demo_stack: DemoHandle) -> None:
    demo_stack.heal()
    for service in ("backend", "frontend", "nginx", "db"):
        assert _log_problems(demo_stack, service) == [], service


def test_up_replaces_noisy_containers(demo_stack: DemoHandle) -> None:
    demo_stack.break_("stopped-backend")
    # nginx logs "connect() failed ... while connecting to upstream" for each request
    # it cannot pass to the stopped backend.
    httpx.get(f"http://127.0.0.1:{demo_stack.ports['nginx']}/api/tasks", timeout=5)
    deadline = time.monotonic() + 10
    while not _log_problems(demo_stack, "nginx"):
        assert time.monotonic() < deadline, "nginx logged no upstream error"
        time.sleep(0.2)

    result = demo_stack.heal()

    replaced = [note for note in result.notes if "of nginx:" in note]
    assert len(replaced) == 1, result.notes
    assert re.match(
        r"^replaced container taskmanagement_nginx_1 of nginx: its log has \d+ lines "
        r"matching error\|fatal\|exception\|timeout\|failed, such as '.*failed.*'$",
        replaced[0],
    ), replaced[0]
    for service in ("backend", "frontend", "nginx", "db"):
        assert _log_problems(demo_stack, service) == [], service
    _assert_healthy(demo_stack)


def test_up_taken_db_port(
    demo_stack: DemoHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = demo_stack.stack
    old = demo_stack.ports["db"]
    _container(demo_stack, "db").stop(timeout=10)
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", old))
    holder.listen()
    try:
        # As when another process takes the port right after 'up' has checked it:
        # the recorded ports are used unchecked.
        recorded = dict(demo_stack.ports)
        monkeypatch.setattr(stack, "_ports", lambda: (recorded, []))
        started = time.monotonic()
        with pytest.raises(DemoError) as raised:
            stack.up()
        assert time.monotonic() - started < 60
        root = demo_stack.directory
        assert raised.value.message == (
            f"port 127.0.0.1:{old} of db is taken by another process (the db "
            f"container logged 'Address already in use'); run 'opscheck demo down "
            f"--dir {root}' then 'opscheck demo up --dir {root}', which chooses "
            "another port"
        )

        monkeypatch.undo()
        result = stack.up()
    finally:
        holder.close()

    new = result.ports["db"]
    assert new != old
    assert result.notes[0] == (
        f"port {old} of db on 127.0.0.1 is taken by another process; "
        f"db now uses port {new}"
    )
    assert demo_stack.ports["db"] == new
    assert loader.load(demo_stack.config_path).config.database.port == new
    _assert_healthy(demo_stack)
    with _connect(demo_stack) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


def test_up_every_service_limited(demo_stack: DemoHandle) -> None:
    for service in ("backend", "frontend", "nginx", "db"):
        host_config = _container(demo_stack, service).attrs["HostConfig"]
        assert host_config["Memory"] >= 128 * MIB, service
        assert host_config["NanoCpus"] == 1_000_000_000, service


def test_up_new_env_password_reaches_cluster(demo_stack: DemoHandle) -> None:
    # The cluster in the volume keeps the role's old password; only the .env
    # changes, as when another folder's .env meets the same volume.
    env_file = demo_stack.directory / ".env"
    old = _password(demo_stack)
    text = env_file.read_text().replace(
        f"POSTGRES_PASSWORD={old}\n", "POSTGRES_PASSWORD=changed-password-1\n"
    )
    env_file.write_text(text)
    volume_before = _container(demo_stack, "db").attrs["Mounts"][0]["Name"]

    demo_stack.heal()

    assert _password(demo_stack) == "changed-password-1"
    with _connect(demo_stack) as connection:
        assert connection.execute("SELECT count(*) FROM users").fetchone() == (500,)
    assert _container(demo_stack, "db").attrs["Mounts"][0]["Name"] == volume_before
    assert _log_problems(demo_stack, "db") == []


def test_up_database_rejects_wrong_password(demo_stack: DemoHandle) -> None:
    try:
        with pytest.raises(
            psycopg.OperationalError, match="password authentication failed"
        ):
            psycopg.connect(
                host="127.0.0.1",
                port=demo_stack.ports["db"],
                dbname="taskdb",
                user="taskuser",
                password="wrong",
                connect_timeout=5,
            )
    finally:
        # The rejected login is a FATAL line in the db log, which later tests' log
        # checks would count: a new container starts with an empty log.
        _container(demo_stack, "db").remove(force=True)
        demo_stack.heal()


def test_backend_log_lines(demo_stack: DemoHandle) -> None:
    httpx.get(_health_url(demo_stack, "backend"), timeout=5)
    lines = _container(demo_stack, "backend").logs(tail=200).decode().splitlines()
    request = re.compile(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ INFO backend GET /api/health 200 \d+ms$"
    )
    assert any(request.match(line) for line in lines), lines[-5:]
    assert not any(" ERROR " in line for line in lines)


def test_nginx_access_log(demo_stack: DemoHandle) -> None:
    httpx.get(_health_url(demo_stack, "nginx"), timeout=5)
    access_log = demo_stack.directory / "logs" / "nginx" / "access.log"
    last = access_log.read_text().splitlines()[-1]
    assert re.match(
        r'^127\.0\.0\.1 - - \[.+\] "GET /api/health HTTP/1\.1" 200 \d+ "-" ".+"$', last
    )


def test_fault_unhealthy_frontend(demo_stack: DemoHandle) -> None:
    demo_stack.break_("unhealthy-frontend")
    response = httpx.get(_health_url(demo_stack, "frontend"), timeout=5)
    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy"}
    assert (
        _container(demo_stack, "frontend").attrs["State"]["Health"]["Status"]
        == "unhealthy"
    )

    demo_stack.heal()
    _assert_healthy(demo_stack)
    assert httpx.get(_health_url(demo_stack, "frontend"), timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("fault", "service"), [("stopped-backend", "backend"), ("db-down", "db")]
)
def test_fault_stopped_service(
    demo_stack: DemoHandle, fault: str, service: str
) -> None:
    demo_stack.break_(fault)
    assert _container(demo_stack, service).status == "exited"

    demo_stack.heal()
    _assert_healthy(demo_stack)


def _busiest_cpu_percent(handle: DemoHandle, samples: int = 3) -> float:
    # Each sample spans about a second; a loaded test host lowers single samples.
    container = _container(handle, "backend")
    return max(faults._cpu_percent(container) for _ in range(samples))


def test_fault_cpu_hog(demo_stack: DemoHandle) -> None:
    demo_stack.break_("cpu-hog")
    assert _busiest_cpu_percent(demo_stack) >= 60

    demo_stack.heal()
    time.sleep(1)
    assert faults._cpu_percent(_container(demo_stack, "backend")) < 30


def test_fault_log_errors(demo_stack: DemoHandle) -> None:
    demo_stack.break_("log-errors")
    log = _container(demo_stack, "backend").logs().decode()
    assert " ERROR backend " in log
    assert "Traceback (most recent call last):" in log

    demo_stack.heal()
    assert " ERROR " not in _container(demo_stack, "backend").logs().decode()


def test_fault_slow_backend(demo_stack: DemoHandle) -> None:
    demo_stack.break_("slow-backend")
    started = time.monotonic()
    httpx.get(_health_url(demo_stack, "backend"), timeout=5)
    assert time.monotonic() - started >= 0.4

    demo_stack.heal()
    started = time.monotonic()
    httpx.get(_health_url(demo_stack, "backend"), timeout=5)
    assert time.monotonic() - started < 0.3


def test_fault_slow_query(demo_stack: DemoHandle) -> None:
    query = "SELECT query FROM pg_stat_statements WHERE mean_exec_time > 100"
    demo_stack.break_("slow-query")
    with _connect(demo_stack) as connection:
        assert connection.execute(query).fetchall() == [("SELECT pg_sleep($1)",)]

    demo_stack.heal()
    with _connect(demo_stack) as connection:
        assert connection.execute(query).fetchall() == []


def test_fault_restart_loop(demo_stack: DemoHandle) -> None:
    demo_stack.break_("restart-loop")
    assert _container(demo_stack, "frontend").attrs["RestartCount"] >= 2

    demo_stack.heal()
    _assert_healthy(demo_stack)
    assert _container(demo_stack, "frontend").attrs["RestartCount"] == 0


def test_fault_bad_image_version(demo_stack: DemoHandle) -> None:
    demo_stack.break_("bad-image-version")
    assert (
        _container(demo_stack, "backend").attrs["Config"]["Image"]
        == "opscheck-demo/backend:1.4.1"
    )

    demo_stack.heal()
    assert (
        _container(demo_stack, "backend").attrs["Config"]["Image"]
        == "opscheck-demo/backend:1.4.2"
    )


def test_fault_no_backup_today(demo_stack: DemoHandle) -> None:
    demo_stack.break_("no-backup-today")
    assert _todays_backups(demo_stack) == []

    demo_stack.heal()
    assert len(_todays_backups(demo_stack)) == 1


def test_fault_empty_backup(demo_stack: DemoHandle) -> None:
    demo_stack.break_("empty-backup")
    [path] = _todays_backups(demo_stack)
    assert gzip.decompress(path.read_bytes()) == b""


def test_fault_truncated_backup(demo_stack: DemoHandle) -> None:
    demo_stack.break_("truncated-backup")
    [path] = _todays_backups(demo_stack)
    assert path.stat().st_size > MIB / 2
    with pytest.raises(EOFError):
        gzip.decompress(path.read_bytes())

    demo_stack.heal()
    [path] = _todays_backups(demo_stack)
    assert gzip.decompress(path.read_bytes()).endswith(b"\n")


def test_fault_old_backup(demo_stack: DemoHandle) -> None:
    demo_stack.break_("old-backup")
    newest = backups.newest(demo_stack.directory / "backups" / "database")
    assert newest is not None
    age_h = (time.time() - newest.stat().st_mtime) / 3600
    assert 29.9 < age_h < 30.1
    assert _todays_backups(demo_stack) == []
    demo_stack.heal()


def test_faults_conflicting_rejected(demo_stack: DemoHandle) -> None:
    with pytest.raises(DemoError, match="cannot be combined with truncated-backup"):
        demo_stack.break_("empty-backup", "truncated-backup")


def test_fault_unknown_rejected(demo_stack: DemoHandle) -> None:
    with pytest.raises(DemoError, match="unknown fault 'melt'; choose from"):
        demo_stack.break_("melt")


def test_cli_status_and_up(demo_stack: DemoHandle) -> None:
    runner = CliRunner(env={"DOCKER_HOST": demo_stack.host})
    arguments = ["--dir", str(demo_stack.directory)]

    up = runner.invoke(
        demo,
        [
            "up",
            *arguments,
            "--config-out",
            str(demo_stack.config_path),
            "--break",
            "empty-backup",
        ],
    )
    assert up.exit_code == 0, up.output
    assert "faults applied: empty-backup" in up.output
    assert f"opscheck daily --config {demo_stack.config_path}" in up.output
    assert _password(demo_stack) not in up.output

    status = runner.invoke(demo, ["status", *arguments])
    assert status.exit_code == 0, status.output
    assert "taskmanagement_backend       running (healthy)" in status.output
    assert "faults: empty-backup" in status.output
    # From another folder, the faults come from the folder that started the stack.
    elsewhere = runner.invoke(
        demo, ["status", "--dir", str(demo_stack.directory.parent / "elsewhere")]
    )
    assert elsewhere.exit_code == 0, elsewhere.output
    assert f"started from {demo_stack.directory}\n" in elsewhere.output
    assert "faults: empty-backup" in elsewhere.output

    demo_stack.heal()
    status = runner.invoke(demo, ["status", *arguments])
    assert "faults: none" in status.output


def test_down_removes_containers_and_volume(demo_stack: DemoHandle) -> None:
    client = _client(demo_stack)
    demo_stack.stack.down()
    labels = ["com.docker.compose.project=taskmanagement"]
    assert client.containers.list(all=True, filters={"label": labels}) == []
    assert client.volumes.list(filters={"label": labels}) == []
    assert client.images.get("opscheck-demo/backend:1.4.2")

    demo_stack.heal()
    _assert_healthy(demo_stack)


@pytest.mark.parametrize("command", [[], ["up"], ["down"], ["status"]])
def test_cli_without_engine(tmp_path: Path, command: list[str]) -> None:
    socket = tmp_path / "missing.sock"
    runner = CliRunner(env={"DOCKER_HOST": f"unix://{socket}"})
    started = time.monotonic()
    result = runner.invoke(demo, [*command, "--dir", str(tmp_path / "demo")])

    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert result.output == (
        f"Error: no Docker engine answers at unix://{socket} (the socket does not "
        "exist); start one with 'dockerd --bridge=none --iptables=false "
        "--ip-masq=false &' or scripts/setup.sh, or point DOCKER_HOST at a running "
        "engine\n"
    )
    assert "Traceback" not in result.output


def test_state_file_records_ports(demo_stack: DemoHandle) -> None:
    state = json.loads((demo_stack.directory / "state.json").read_text())
    assert state["ports"]["db"] == demo_stack.ports["db"]
    assert state["faults"] == []
