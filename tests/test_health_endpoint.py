"""health.endpoint against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers import run_suite, write_config
from tests.support.engines import free_port
from tests.support.servers import HANG


def endpoint_config(tmp_path: Path, url: str, **extra: Any) -> Path:
    return write_config(
        tmp_path,
        {
            "compose": {"services": []},
            "endpoints": {"backend": {"url": url, "service": "backend", **extra}},
        },
    )


def check(opscheck_cli: Any, tmp_path: Path, url: str, **extra: Any) -> dict[str, Any]:
    config = endpoint_config(tmp_path, url, **extra)
    _, _, results = run_suite(opscheck_cli, tmp_path, config, "-k", "health.endpoint")
    return results[("health.endpoint", "backend")]


def test_healthy_endpoint_passes(
    opscheck_cli: Any, http_server: Any, tmp_path: Path
) -> None:
    server = http_server({"/api/health": (200, {"status": "healthy"})})
    result = check(opscheck_cli, tmp_path, server.url("/api/health"))
    assert result["outcome"] == "passed"
    assert "reports status 'healthy'" in result["message"]
    assert result["evidence"]["status_code"] == 200


def test_http_503_fails(opscheck_cli: Any, http_server: Any, tmp_path: Path) -> None:
    server = http_server({"/api/health": (503, {"status": "unhealthy"})})
    result = check(opscheck_cli, tmp_path, server.url("/api/health"))
    assert result["outcome"] == "failed"
    assert "answered HTTP 503, expected 200" in result["message"]
    assert "unhealthy" in result["message"]


def test_html_body_fails(opscheck_cli: Any, http_server: Any, tmp_path: Path) -> None:
    server = http_server({"/api/health": (200, "<html><body>OK</body></html>")})
    result = check(opscheck_cli, tmp_path, server.url("/api/health"))
    assert result["outcome"] == "failed"
    assert "body is not JSON" in result["message"]


def test_wrong_status_value_fails(
    opscheck_cli: Any, http_server: Any, tmp_path: Path
) -> None:
    server = http_server({"/api/health": (200, {"status": "degraded"})})
    result = check(opscheck_cli, tmp_path, server.url("/api/health"))
    assert result["outcome"] == "failed"
    assert "reports status 'degraded', expected 'healthy'" in result["message"]


def test_json_without_status_fails(
    opscheck_cli: Any, http_server: Any, tmp_path: Path
) -> None:
    server = http_server({"/api/health": (200, ["healthy"])})
    result = check(opscheck_cli, tmp_path, server.url("/api/health"))
    assert result["outcome"] == "failed"
    assert "without a 'status' field" in result["message"]


def test_custom_healthy_value(
    opscheck_cli: Any, http_server: Any, tmp_path: Path
) -> None:
    server = http_server({"/health": (200, {"status": "ok"})})
    result = check(opscheck_cli, tmp_path, server.url("/health"), healthy_status="ok")
    assert result["outcome"] == "passed"


def test_refused_connection_is_error(opscheck_cli: Any, tmp_path: Path) -> None:
    result = check(opscheck_cli, tmp_path, f"http://127.0.0.1:{free_port()}/api/health")
    assert result["outcome"] == "error"
    assert "was refused; is the backend service running?" in result["message"]


def test_hung_endpoint_errors_within_timeout(
    opscheck_cli: Any, http_server: Any, tmp_path: Path
) -> None:
    server = http_server({"/api/health": HANG})
    result = check(opscheck_cli, tmp_path, server.url("/api/health"), timeout_s=1)
    assert result["outcome"] == "error"
    assert "did not answer within 1 s" in result["message"]
    assert result["duration_s"] < 10


def test_deeply_nested_json_fails_cleanly(
    opscheck_cli: Any, http_server: Any, tmp_path: Path
) -> None:
    server = http_server({"/api/health": (200, "[" * 100000 + "]" * 100000)})
    result = check(opscheck_cli, tmp_path, server.url("/api/health"))
    assert result["outcome"] == "failed"
    assert "body is not JSON" in result["message"]


def test_trickled_body_is_error_within_timeout(
    opscheck_cli: Any, tmp_path: Path
) -> None:
    import socket
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        connection.recv(4096)
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        for _ in range(60):
            if stop.is_set():
                break
            try:
                connection.sendall(b" ")
            except OSError:
                break
            time.sleep(0.5)
        connection.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/api/health"
        result = check(opscheck_cli, tmp_path, url, timeout_s=2)
    finally:
        stop.set()
        listener.close()
    assert result["outcome"] == "error"
    assert "did not finish its answer within 2 s" in result["message"]
    assert result["duration_s"] < 10
