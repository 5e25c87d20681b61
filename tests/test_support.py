"""Tests of the test support fixtures: engines, servers and the CLI runner."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import time
from collections.abc import Callable

import docker
import psycopg
import pytest

from tests.support.cli import Result, clean_environment
from tests.support.engines import DockerEngine, PgCluster, free_port
from tests.support.servers import (
    CLOSE,
    HANG,
    RESET,
    HttpServer,
    Route,
    SilentPort,
    to_route,
)


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes, dict[str, str]]:
    host_port = url.split("/")[2]
    path = "/" + url.split("/", 3)[3]
    host, port = host_port.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


# free_port ------------------------------------------------------------------------


def test_free_port_can_be_bound() -> None:
    port = free_port()

    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen(1)


def test_free_port_nothing_listening() -> None:
    port = free_port()

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# http_server ----------------------------------------------------------------------


def test_http_server_routes(http_server: Callable[..., HttpServer]) -> None:
    server = http_server(
        {
            "/api/health": (200, {"status": "healthy"}),
            "/text": (503, "down", {"Retry-After": "5"}),
            "/raw": Route(201, b"\x00\x01"),
        }
    )

    status, body, headers = _get(server.url("/api/health"))
    assert status == 200
    assert body == b'{"status": "healthy"}'
    assert headers["Content-Type"] == "application/json"

    status, body, headers = _get(server.url("/text"))
    assert status == 503
    assert body == b"down"
    assert headers["Retry-After"] == "5"

    status, body, _ = _get(server.url("/raw"))
    assert status == 201
    assert body == b"\x00\x01"

    status, _, _ = _get(server.url("/missing"))
    assert status == 404


def test_http_server_query_string(http_server: Callable[..., HttpServer]) -> None:
    server = http_server({"/api/health": (200, "ok")})

    status, body, _ = _get(server.url("/api/health?verbose=1"))

    assert status == 200
    assert body == b"ok"


def test_http_server_set_while_running(http_server: Callable[..., HttpServer]) -> None:
    server = http_server({"/api/health": (200, "ok")})
    assert _get(server.url("/api/health"))[0] == 200

    server.set("/api/health", 500, "broken")

    status, body, _ = _get(server.url("/api/health"))
    assert status == 500
    assert body == b"broken"


def test_http_server_records_requests(http_server: Callable[..., HttpServer]) -> None:
    server = http_server({"/a": (200, "a")})

    _get(server.url("/a"))
    _get(server.url("/a"))
    _get(server.url("/b"))

    assert server.count() == 3
    assert server.count("/a") == 2
    assert [request.path for request in server.requests] == ["/a", "/a", "/b"]
    assert server.requests[0].method == "GET"


def test_http_server_delay(http_server: Callable[..., HttpServer]) -> None:
    server = http_server()
    server.set("/slow", 200, "late", delay=0.5)

    started = time.monotonic()
    status, body, _ = _get(server.url("/slow"))
    elapsed = time.monotonic() - started

    assert status == 200
    assert body == b"late"
    assert elapsed >= 0.5


def test_http_server_hang_times_out(http_server: Callable[..., HttpServer]) -> None:
    server = http_server({"/stuck": HANG})

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        _get(server.url("/stuck"), timeout=0.5)
    elapsed = time.monotonic() - started

    assert 0.4 <= elapsed < 5
    assert server.count("/stuck") == 1


def test_http_server_hang_released_at_stop(
    http_server: Callable[..., HttpServer],
) -> None:
    server = http_server({"/stuck": HANG})
    with pytest.raises(TimeoutError):
        _get(server.url("/stuck"), timeout=0.3)

    started = time.monotonic()
    server.stop()

    assert time.monotonic() - started < 5
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_http_server_close(http_server: Callable[..., HttpServer]) -> None:
    server = http_server({"/gone": CLOSE})

    with pytest.raises(http.client.RemoteDisconnected):
        _get(server.url("/gone"))


def test_http_server_reset(http_server: Callable[..., HttpServer]) -> None:
    server = http_server({"/reset": RESET})

    with pytest.raises(ConnectionResetError):
        _get(server.url("/reset"))


def test_route_invalid_spec() -> None:
    with pytest.raises(ValueError, match="invalid route 'teapot'"):
        to_route("teapot")  # type: ignore[arg-type]


def test_silent_port_never_responds(silent_port: SilentPort) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        _get(silent_port.url("/api/health"), timeout=0.5)

    assert time.monotonic() - started < 5
    assert silent_port.host == "127.0.0.1"


# opscheck_cli ---------------------------------------------------------------------


def test_clean_environment_drops_and_adds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-x")
    monkeypatch.setenv("OPSCHECK_CONFIG", "/etc/opscheck.yaml")
    monkeypatch.setenv("PYTHONPATH", "/work/main")
    monkeypatch.setenv("LANG", "C.UTF-8")

    environment = clean_environment({"PGPASSWORD": "pw", "LANG": None})

    assert "PYTEST_ADDOPTS" not in environment
    assert "OPSCHECK_CONFIG" not in environment
    assert "PYTHONPATH" not in environment
    assert "LANG" not in environment
    assert environment["PGPASSWORD"] == "pw"


def test_opscheck_cli_help(opscheck_cli: Callable[..., Result]) -> None:
    result = opscheck_cli("--help")

    assert result.exit_code == 0, result.stderr
    assert "Usage" in result.stdout


# docker_engine --------------------------------------------------------------------


@pytest.mark.slow
def test_docker_engine_has_no_bridge(docker_engine: DockerEngine) -> None:
    names = sorted(network.name for network in docker_engine.client.networks.list())

    assert names == ["host", "none"]

    listed = subprocess.run(
        ["docker", "network", "ls", "--format", "{{.Name}}"],
        env=docker_engine.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert sorted(listed.stdout.split()) == ["host", "none"]


@pytest.mark.slow
def test_docker_engine_is_own_daemon(docker_engine: DockerEngine) -> None:
    assert docker_engine.host.startswith("unix://")
    assert docker_engine.env()["DOCKER_HOST"] == docker_engine.host

    info = docker_engine.client.info()
    if docker_engine.host != "unix:///var/run/docker.sock":
        assert info["DockerRootDir"] != "/var/lib/docker"


@pytest.mark.slow
def test_docker_engine_env_sets_host(docker_engine_env: DockerEngine) -> None:
    assert os.environ["DOCKER_HOST"] == docker_engine_env.host

    client = docker.from_env()
    try:
        assert client.info()["ID"] == docker_engine_env.client.info()["ID"]
    finally:
        client.close()


@pytest.mark.slow
def test_busybox_container_host_network(docker_engine: DockerEngine) -> None:
    image = docker_engine.busybox_image("opscheck-test-busybox:support")

    output = docker_engine.client.containers.run(
        image,
        ["sh", "-c", "id -un; echo $PATH; ls /bin/wget"],
        network_mode="host",
        init=True,
        remove=True,
    )

    assert output.decode().split() == ["root", "/bin", "/bin/wget"]


@pytest.mark.slow
def test_busybox_image_cached(docker_engine: DockerEngine) -> None:
    first = docker_engine.busybox_image("opscheck-test-busybox:cached")
    image_id = docker_engine.client.images.get(first).id

    second = docker_engine.busybox_image("opscheck-test-busybox:cached")

    assert second == first
    assert docker_engine.client.images.get(second).id == image_id
    assert docker_engine.busybox_image("opscheck-test-busybox") == (
        "opscheck-test-busybox:latest"
    )


@pytest.mark.slow
def test_busybox_httpd_on_loopback(docker_engine: DockerEngine) -> None:
    image = docker_engine.busybox_image()
    port = free_port()
    container = docker_engine.client.containers.run(
        image,
        [
            "sh", "-c",
            f"mkdir -p /www && echo hello > /www/index.html && "
            f"exec httpd -f -p 127.0.0.1:{port} -h /www",
        ],
        network_mode="host",
        init=True,
        detach=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                status, body, _ = _get(f"http://127.0.0.1:{port}/index.html")
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        container.remove(force=True)

    assert status == 200
    assert body == b"hello\n"


# pg_cluster -----------------------------------------------------------------------


@pytest.mark.slow
def test_pg_cluster_superuser_connects(pg_cluster: PgCluster) -> None:
    with pg_cluster.superuser_connect() as connection:
        row = connection.execute(
            "SELECT current_setting('server_version_num')::int,"
            " current_setting('shared_preload_libraries'),"
            " current_setting('max_connections')::int,"
            " current_setting('listen_addresses')"
        ).fetchone()

    assert row is not None
    assert 150000 <= row[0] < 160000
    assert "pg_stat_statements" in row[1]
    assert row[2] == pg_cluster.max_connections
    assert row[3] == "127.0.0.1"
    assert pg_cluster.host == "127.0.0.1"


@pytest.mark.slow
def test_pg_cluster_role_and_database(pg_cluster: PgCluster) -> None:
    pg_cluster.create_role("support_user", "s3cret", grant=["pg_read_all_stats"])
    pg_cluster.create_database(
        "support_db", "support_user", extensions=["pg_stat_statements"]
    )

    with pg_cluster.connect("support_db", "support_user", "s3cret") as connection:
        user, database = connection.execute(
            "SELECT current_user, current_database()"
        ).fetchone() or ("", "")
        rows = connection.execute("SELECT count(*) FROM pg_stat_statements").fetchone()
        is_superuser = connection.execute("SHOW is_superuser").fetchone()

    assert (user, database) == ("support_user", "support_db")
    assert rows is not None
    assert is_superuser == ("off",)


@pytest.mark.slow
def test_pg_cluster_wrong_password(pg_cluster: PgCluster) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication"):
        pg_cluster.connect("postgres", "postgres", "wrong")


@pytest.mark.slow
def test_pg_cluster_refuses_when_stopped(pg_cluster: PgCluster) -> None:
    with pg_cluster.stopped():
        assert not pg_cluster.is_running
        with pytest.raises(psycopg.OperationalError, match="refused"):
            psycopg.connect(pg_cluster.superuser_dsn(), connect_timeout=5)

    assert pg_cluster.is_running
    with pg_cluster.superuser_connect() as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.slow
def test_pg_cluster_too_many_clients(pg_cluster: PgCluster) -> None:
    connections = []
    error: psycopg.OperationalError | None = None
    try:
        for _ in range(pg_cluster.max_connections + 1):
            try:
                connections.append(pg_cluster.superuser_connect())
            except psycopg.OperationalError as raised:
                error = raised
                break
    finally:
        for connection in connections:
            connection.close()

    assert error is not None
    assert "too many clients already" in str(error)
    assert len(connections) == pg_cluster.max_connections
