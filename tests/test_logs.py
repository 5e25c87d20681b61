"""The container log checks against busybox containers on a test-owned Docker engine."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_suite, write_config

pytestmark = pytest.mark.slow

# Written by the container: a colour-coded ERROR, an exception, invalid UTF-8, a
# 200 KB line with an error at its start, and a line to tell the script has finished.
NOISY = (
    "echo 'INFO started'; "
    "printf '\\033[31mERROR\\033[0m request 17 failed: database query error\\n'; "
    "printf '\\033[31mERROR\\033[0m request 18 failed: database query error\\n'; "
    "echo 'sqlalchemy.exc.OperationalError: connection to server was lost'; "
    "printf 'bad bytes \\377\\376 then Fatal\\n'; "
    "printf 'Error '; head -c 200000 /dev/zero | tr '\\0' a; echo; "
    "echo 'INFO done'; sleep 3600"
)
QUIET = "echo 'INFO started'; echo 'INFO serving on 127.0.0.1'; echo 'INFO done'; sleep 3600"


@pytest.fixture
def project(docker_engine: Any) -> Iterator[str]:
    name = f"oclogs{uuid.uuid4().hex[:8]}"
    yield name
    for container in docker_engine.client.containers.list(
        all=True, filters={"label": f"com.docker.compose.project={name}"}
    ):
        container.remove(force=True)


def start(docker_engine: Any, project: str, service: str, script: str) -> Any:
    container = docker_engine.client.containers.run(
        docker_engine.busybox_image(),
        ["sh", "-c", script],
        name=f"{project}_{service}_1",
        labels={
            "com.docker.compose.project": project,
            "com.docker.compose.service": service,
        },
        network_mode="host",
        init=True,
        detach=True,
    )
    deadline = time.monotonic() + 20
    while b"INFO done" not in container.logs():
        assert time.monotonic() < deadline, f"{container.name} did not log 'INFO done'"
        time.sleep(0.1)
    return container


def config(
    tmp_path: Path,
    docker_engine: Any,
    project: str,
    services: list[str],
    ignore: list[str] | None = None,
    **checks: Any,
) -> Path:
    return write_config(
        tmp_path,
        {
            "docker": {"host": docker_engine.host},
            "compose": {"project": project, "services": services},
            "endpoints": {},
            "logs": {"ignore": ignore or [], "max_line_bytes": 65536},
            "checks": checks,
        },
    )


@pytest.mark.parametrize("engine", ["hyperscan", "python"])
def test_critical_errors_fail_on_noisy_log(
    tmp_path: Path,
    docker_engine: Any,
    project: str,
    opscheck_cli: Callable[..., Any],
    engine: str,
) -> None:
    start(docker_engine, project, "backend", NOISY)
    path = config(tmp_path, docker_engine, project, ["backend"])
    _, _, results = run_suite(
        opscheck_cli,
        tmp_path,
        path,
        "-k",
        "logs.critical_errors",
        env={"OPSCHECK_LOGSCAN_ENGINE": engine},
    )
    result = results[("logs.critical_errors", "backend")]
    evidence = result["evidence"]
    assert result["outcome"] == "failed"
    assert result["message"].startswith(
        "service backend logged 5 lines matching error|fatal|exception in the last 24 h: "
        "2× ERROR request <n> failed: database query error; "
    )
    assert result["message"].endswith("(above the critical level 0)")
    assert evidence["engine"] == engine
    assert evidence["long_lines"] == 1
    # The json-file log driver stores the invalid bytes as U+FFFD, so the line
    # arrives as valid UTF-8.
    assert evidence["invalid_utf8_lines"] == 0
    assert evidence["lines_read"] == 7
    lines = [entry["line"] for entry in evidence["last_lines"]]
    assert lines[0] == "ERROR request 17 failed: database query error"
    assert lines[3] == "bad bytes \ufffd\ufffd then Fatal"
    assert lines[4].startswith("Error aaaa")
    assert " characters left out) … " in lines[4]
    assert lines[4].endswith("aaaa")
    assert len(lines[4]) <= 300
    assert all(
        entry["source"] == f"{project}_backend_1" for entry in evidence["last_lines"]
    )
    assert all(entry["time"].endswith("+00:00") for entry in evidence["last_lines"])


def test_critical_errors_pass_on_quiet_and_ignored(
    tmp_path: Path, docker_engine: Any, project: str, opscheck_cli: Callable[..., Any]
) -> None:
    start(docker_engine, project, "frontend", QUIET)
    start(docker_engine, project, "backend", NOISY)
    ignore = ["database query error", "OperationalError", "Fatal$", "^Error a+"]
    path = config(tmp_path, docker_engine, project, ["frontend", "backend"], ignore)
    _, _, results = run_suite(
        opscheck_cli, tmp_path, path, "-k", "logs.critical_errors"
    )
    quiet = results[("logs.critical_errors", "frontend")]
    ignored = results[("logs.critical_errors", "backend")]
    assert quiet["outcome"] == "passed"
    assert quiet["message"] == (
        "service frontend logged no line matching error|fatal|exception in the last 24 h "
        "(3 lines read, 0 ignored)"
    )
    assert ignored["outcome"] == "passed"
    assert ignored["evidence"]["ignored_lines"] == 5


def test_window_is_counted_in_utc_in_a_far_zone(
    tmp_path: Path, docker_engine: Any, project: str, opscheck_cli: Callable[..., Any]
) -> None:
    # In UTC-12 a naive UTC "one hour ago" read as local time lies 11 hours ahead,
    # so a wrongly built window would find none of the lines just written.
    start(docker_engine, project, "backend", NOISY)
    path = config(
        tmp_path,
        docker_engine,
        project,
        ["backend"],
        **{"logs.critical_errors": {"window_hours": 1}},
    )
    _, _, results = run_suite(
        opscheck_cli,
        tmp_path,
        path,
        "-k",
        "logs.critical_errors",
        env={"TZ": "Etc/GMT+12"},
    )
    result = results[("logs.critical_errors", "backend")]
    assert result["outcome"] == "failed"
    assert result["evidence"]["error_lines"] == 5
    assert result["evidence"]["since"].endswith("+00:00")


def test_review_warns_and_groups(
    tmp_path: Path, docker_engine: Any, project: str, opscheck_cli: Callable[..., Any]
) -> None:
    script = (
        'for i in 1 2 3; do echo "request $i timeout after 30s"; done; '
        "echo 'INFO done'; sleep 3600"
    )
    start(docker_engine, project, "backend", script)
    path = config(tmp_path, docker_engine, project, ["backend"])
    _, _, results = run_suite(opscheck_cli, tmp_path, path, "-k", "logs.review")
    result = results[("logs.review", "backend")]
    assert result["outcome"] == "warning"
    assert result["message"] == (
        "service backend logged 3 lines matching error|exception|timeout|failed in the "
        "last 24 h, 1 distinct messages: 3× request <n> timeout after <n>s "
        "(above the warning level 0)"
    )


def test_recent_errors_reads_last_50_lines(
    tmp_path: Path, docker_engine: Any, project: str, opscheck_cli: Callable[..., Any]
) -> None:
    old_error = (
        "echo 'ERROR before the deploy'; for i in $(seq 60); do echo INFO $i; done"
    )
    start(
        docker_engine, project, "backend", f"{old_error}; echo 'INFO done'; sleep 3600"
    )
    start(
        docker_engine,
        project,
        "frontend",
        f"{old_error}; echo 'exception after the deploy'; echo 'INFO done'; sleep 3600",
    )
    start(
        docker_engine,
        project,
        "nginx",
        "echo '[error] connect() failed'; echo 'INFO done'; sleep 3600",
    )
    path = config(tmp_path, docker_engine, project, ["backend", "frontend", "nginx"])
    _, _, results = run_suite(
        opscheck_cli, tmp_path, path, "-k", "logs.recent_errors", suite="deploy_gate"
    )
    backend = results[("logs.recent_errors", "backend")]
    frontend = results[("logs.recent_errors", "frontend")]
    nginx = results[("logs.recent_errors", "nginx")]
    assert nginx["outcome"] == "skipped"
    assert "not one of the deployed services (backend, frontend)" in nginx["message"]
    assert backend["outcome"] == "passed"
    assert frontend["outcome"] == "failed"
    assert frontend["message"] == (
        "service frontend has 1 lines matching error|fatal|exception in its last 50 log "
        "lines: 1× exception after the deploy (above the critical level 0)"
    )


def test_failed_logins_per_source(
    tmp_path: Path, docker_engine: Any, project: str, opscheck_cli: Callable[..., Any]
) -> None:
    script = (
        'for i in $(seq 12); do echo "WARNING failed login for admin from 203.0.113.5"; done; '
        "echo 'Login failed for user bob ip=198.51.100.2'; "
        "echo 'INFO done'; sleep 3600"
    )
    start(docker_engine, project, "backend", script)
    start(docker_engine, project, "db", QUIET)
    path = config(tmp_path, docker_engine, project, ["backend", "db"])
    _, _, results = run_suite(
        opscheck_cli, tmp_path, path, "-k", "security.failed_logins", suite="security"
    )
    backend = results[("security.failed_logins", "backend")]
    assert backend["outcome"] == "warning"
    assert backend["message"].startswith(
        "service backend logged 12 failed logins from 203.0.113.5 between "
    )
    assert backend["message"].endswith(
        "UTC, 13 from 2 sources in the last 7 days (above the warning level 10)"
    )
    sources = {
        row["address"]: row["failed_logins"] for row in backend["evidence"]["sources"]
    }
    assert sources == {"203.0.113.5": 12, "198.51.100.2": 1}
    assert results[("security.failed_logins", "db")]["outcome"] == "skipped"


def test_missing_service_log_is_error(
    tmp_path: Path, docker_engine: Any, project: str, opscheck_cli: Callable[..., Any]
) -> None:
    path = config(tmp_path, docker_engine, project, ["backend"])
    _, _, results = run_suite(
        opscheck_cli, tmp_path, path, "-k", "logs.critical_errors"
    )
    result = results[("logs.critical_errors", "backend")]
    assert result["outcome"] == "error"
    assert result["message"] == (
        f"service backend has no container in compose project {project}, so its log "
        "cannot be read; start it with 'docker-compose up -d backend'"
    )
