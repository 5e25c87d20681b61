"""Faults that ``opscheck demo up --break NAME`` injects into the demo stack.

Each fault is registered by name with a function that applies it and waits until it
is visible, and a function that clears it. ``demo up`` clears every fault that is
not named, so a clear function must be safe to run when its fault is not active.
Faults that change the compose file (image version, a crashing service) do so
through ``Variant``; ``demo up`` recreates the changed containers.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import docker
import httpx
import psycopg

from opscheck.demo import backups, images
from opscheck.demo.compose import Compose, Variant
from opscheck.demo.containers import exec_command, health, require_container, wait_for
from opscheck.demo.layout import DB_NAME, DB_USER, DemoDir
from opscheck.errors import DemoError
from opscheck.log import logger

VISIBLE_TIMEOUT_S = 60
SLOW_QUERY_S = 0.2
SLOW_QUERY_RUNS = 3
SLOW_BACKEND_S = 0.4
OLD_BACKUP_AGE = timedelta(hours=30)
# The busy loop reaches about 100 % of its one-core limit on an idle host. Waiting
# for 60 %, above the daily critical level of 50 %, leaves room for a busy host.
CPU_HOG_VISIBLE_PERCENT = 60


@dataclass
class FaultContext:
    """The targets of a fault: the engine, the demo folder, its ports and secrets."""

    client: docker.DockerClient
    demo: DemoDir
    compose: Compose
    ports: dict[str, int]
    password: str


@dataclass(frozen=True)
class Fault:
    """A named fault with what it breaks and how to apply and clear it."""

    name: str
    help: str
    apply: Callable[[FaultContext], None] = lambda context: None
    clear: Callable[[FaultContext], None] = lambda context: None
    variant: Callable[[Variant], Variant] | None = None
    conflicts: frozenset[str] = field(default_factory=frozenset)


REGISTRY: dict[str, Fault] = {}


def register(fault: Fault) -> Fault:
    """Add a fault to the registry under its name."""
    REGISTRY[fault.name] = fault
    return fault


def validate(names: list[str]) -> list[str]:
    """Check fault names and combinations; return them without repeats, in order."""
    unique = list(dict.fromkeys(names))
    for name in unique:
        if name not in REGISTRY:
            raise DemoError(
                f"unknown fault {name!r}; choose from {', '.join(sorted(REGISTRY))}"
            )
    for name in unique:
        clash = REGISTRY[name].conflicts.intersection(unique)
        if clash:
            raise DemoError(
                f"fault {name} cannot be combined with {', '.join(sorted(clash))}, "
                "because both change the same container or file"
            )
    return unique


def variant_for(names: list[str]) -> Variant:
    """Return the compose-level choices that the named faults make."""
    variant = Variant()
    for name in names:
        change = REGISTRY[name].variant
        if change is not None:
            variant = change(variant)
    return variant


# Flag files in the web containers' /tmp/faults, read by their health CGI and logger.


def _set_flag(service: str, flag: str) -> Callable[[FaultContext], None]:
    def apply(context: FaultContext) -> None:
        container = require_container(context.client, service)
        exec_command(container, ["touch", f"/tmp/faults/{flag}"])

    return apply


def _clear_flag(service: str, flag: str) -> Callable[[FaultContext], None]:
    def clear(context: FaultContext) -> None:
        container = require_container(context.client, service)
        container.reload()
        if container.status == "running":
            exec_command(container, ["rm", "-f", f"/tmp/faults/{flag}"])

    return clear


def _apply_unhealthy_frontend(context: FaultContext) -> None:
    _set_flag("frontend", "unhealthy")(context)
    container = require_container(context.client, "frontend")
    wait_for(
        lambda: health(container) == "unhealthy",
        what="Docker reports the frontend unhealthy",
        timeout_s=VISIBLE_TIMEOUT_S,
    )


def _stop_service(service: str) -> Callable[[FaultContext], None]:
    def apply(context: FaultContext) -> None:
        container = require_container(context.client, service)
        logger.info("stopping container %s", container.name)
        container.stop(timeout=10)
        wait_for(
            lambda: health(container) == "exited",
            what=f"the {service} container is stopped",
            timeout_s=VISIBLE_TIMEOUT_S,
        )

    return apply


def _cpu_percent(container: docker.models.containers.Container) -> float:
    stats = container.stats(stream=False)
    cpu, previous = stats["cpu_stats"], stats["precpu_stats"]
    cpu_delta = cpu["cpu_usage"]["total_usage"] - previous["cpu_usage"]["total_usage"]
    system_delta = cpu.get("system_cpu_usage", 0) - previous.get("system_cpu_usage", 0)
    cores = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or [1])
    if system_delta <= 0:
        return 0.0
    return float(cpu_delta / system_delta * cores * 100)


def _apply_cpu_hog(context: FaultContext) -> None:
    container = require_container(context.client, "backend")
    exec_command(container, ["/app/hog.sh"], detach=True)
    wait_for(
        lambda: _cpu_percent(container) >= CPU_HOG_VISIBLE_PERCENT,
        what=f"the backend uses at least {CPU_HOG_VISIBLE_PERCENT} % of a CPU core",
        timeout_s=VISIBLE_TIMEOUT_S,
    )


def _apply_log_errors(context: FaultContext) -> None:
    _set_flag("backend", "log-errors")(context)
    container = require_container(context.client, "backend")
    wait_for(
        lambda: b" ERROR " in container.logs(tail=50),
        what="the backend log has an ERROR line",
        timeout_s=VISIBLE_TIMEOUT_S,
    )


def _clear_log_errors(context: FaultContext) -> None:
    _clear_flag("backend", "log-errors")(context)

    # Lines already written stay in the container's log, so the container is
    # replaced by a new one with an empty log.
    container = require_container(context.client, "backend")
    if b" ERROR " in container.logs():
        context.compose.run("up", "-d", "--no-deps", "--force-recreate", "backend")


def _apply_slow_backend(context: FaultContext) -> None:
    _set_flag("backend", "slow")(context)
    url = f"http://127.0.0.1:{context.ports['backend']}/api/health"

    def is_slow() -> bool:
        started = time.monotonic()
        httpx.get(url, timeout=5)
        return time.monotonic() - started >= SLOW_BACKEND_S

    wait_for(is_slow, what=f"{url} answers after 400 ms", timeout_s=VISIBLE_TIMEOUT_S)


def _connect(context: FaultContext) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host="127.0.0.1",
        port=context.ports["db"],
        dbname=DB_NAME,
        user=DB_USER,
        password=context.password,
        connect_timeout=5,
        autocommit=True,
    )


_SLOW_STATEMENTS = "SELECT count(*) FROM pg_stat_statements WHERE mean_exec_time > 100"


def _reset_statements(context: FaultContext) -> None:
    # pg_stat_statements_reset() is granted to superusers only.
    container = require_container(context.client, "db")
    command = ["psql", "-q", "-U", "postgres", "-d", DB_NAME, "-c"]
    exec_command(container, [*command, "SELECT pg_stat_statements_reset()"])


def _apply_slow_query(context: FaultContext) -> None:
    # The backups' COPY statements are slow too; only pg_sleep is meant to show.
    _reset_statements(context)
    with _connect(context) as connection:
        for _ in range(SLOW_QUERY_RUNS):
            connection.execute("SELECT pg_sleep(%s)", (SLOW_QUERY_S,))
        row = connection.execute(_SLOW_STATEMENTS).fetchone()
    if not row or not row[0]:
        raise DemoError("pg_stat_statements shows no statement slower than 100 ms")


def _clear_slow_query(context: FaultContext) -> None:
    with _connect(context) as connection:
        row = connection.execute(_SLOW_STATEMENTS).fetchone()
    if row and row[0]:
        _reset_statements(context)


def _apply_restart_loop(context: FaultContext) -> None:
    container = require_container(context.client, "frontend")

    def restarted() -> bool:
        container.reload()
        return int(container.attrs["RestartCount"]) >= 2

    wait_for(
        restarted, what="the frontend restarted twice", timeout_s=VISIBLE_TIMEOUT_S
    )


def _apply_bad_image(context: FaultContext) -> None:
    container = require_container(context.client, "backend")
    expected = images.web_image("backend", images.WEB_PREVIOUS_VERSION)
    if container.attrs["Config"]["Image"] != expected:
        raise DemoError(
            f"backend runs {container.attrs['Config']['Image']}, not {expected}"
        )


def _todays_newest(context: FaultContext) -> Path:
    found = backups.todays(context.demo.backups)
    if not found:
        raise DemoError(f"no backup of today in {context.demo.backups}")
    return found[0]


def _remove_today(context: FaultContext) -> None:
    for path in backups.todays(context.demo.backups):
        path.unlink()


def _empty_backup(context: FaultContext) -> None:
    path = _todays_newest(context)
    stat = path.stat()
    path.write_bytes(gzip.compress(b""))
    backups.set_time(path, backups.now().fromtimestamp(stat.st_mtime, backups.TIMEZONE))


def _truncate_backup(context: FaultContext) -> None:
    path = _todays_newest(context)
    stat = path.stat()
    with path.open("r+b") as handle:
        handle.truncate(stat.st_size // 2)
    backups.set_time(path, backups.now().fromtimestamp(stat.st_mtime, backups.TIMEZONE))


def _old_backup(context: FaultContext) -> None:
    source = _todays_newest(context)
    moment = backups.now() - OLD_BACKUP_AGE
    old = context.demo.backups / backups.backup_name(moment)
    source.replace(old)
    backups.set_time(old, moment)
    for path in context.demo.backups.glob(backups.PATTERN):
        if path.stat().st_mtime > moment.timestamp():
            path.unlink()


_BACKUP_FAULTS = frozenset(
    {"no-backup-today", "empty-backup", "truncated-backup", "old-backup"}
)
_BACKEND_FAULTS = frozenset(
    {"stopped-backend", "cpu-hog", "log-errors", "slow-backend", "bad-image-version"}
)

register(
    Fault(
        "unhealthy-frontend",
        'frontend health answers 503 {"status":"unhealthy"} and Docker reports '
        "it unhealthy",
        apply=_apply_unhealthy_frontend,
        clear=_clear_flag("frontend", "unhealthy"),
        conflicts=frozenset({"restart-loop"}),
    )
)
register(
    Fault(
        "stopped-backend",
        "the backend container is stopped",
        apply=_stop_service("backend"),
        conflicts=_BACKEND_FAULTS - {"stopped-backend"},
    )
)
register(
    Fault(
        "cpu-hog",
        "a busy loop in the backend keeps one CPU core near 100 %",
        apply=_apply_cpu_hog,
        clear=_clear_flag("backend", "cpu-hog.pid"),
        conflicts=frozenset({"stopped-backend"}),
    )
)
register(
    Fault(
        "log-errors",
        "the backend writes ERROR lines and exception tracebacks to its log",
        apply=_apply_log_errors,
        clear=_clear_log_errors,
        conflicts=frozenset({"stopped-backend"}),
    )
)
register(
    Fault(
        "slow-backend",
        "the backend health endpoint answers after 400 ms",
        apply=_apply_slow_backend,
        clear=_clear_flag("backend", "slow"),
        conflicts=frozenset({"stopped-backend"}),
    )
)
register(
    Fault(
        "bad-image-version",
        f"the backend runs the previous image {images.WEB_PREVIOUS_VERSION} instead of "
        f"{images.WEB_VERSION}",
        apply=_apply_bad_image,
        variant=lambda variant: replace(
            variant, backend_version=images.WEB_PREVIOUS_VERSION
        ),
        conflicts=frozenset({"stopped-backend"}),
    )
)
register(
    Fault(
        "restart-loop",
        "the frontend's main process exits every second, so its restart count grows",
        apply=_apply_restart_loop,
        variant=lambda variant: replace(variant, restart_loop="frontend"),
        conflicts=frozenset({"unhealthy-frontend"}),
    )
)
register(
    Fault(
        "slow-query",
        "pg_stat_statements shows SELECT pg_sleep(0.2), run 3 times as taskuser",
        apply=_apply_slow_query,
        clear=_clear_slow_query,
        conflicts=frozenset({"db-down"}),
    )
)
register(
    Fault(
        "no-backup-today",
        "today's backups are removed",
        apply=_remove_today,
        conflicts=_BACKUP_FAULTS - {"no-backup-today"},
    )
)
register(
    Fault(
        "empty-backup",
        "today's backup is a gzip of empty output, as pg_dump | gzip leaves when "
        "pg_dump fails",
        apply=_empty_backup,
        conflicts=_BACKUP_FAULTS - {"empty-backup"},
    )
)
register(
    Fault(
        "truncated-backup",
        "today's backup is cut short in the middle of its gzip stream",
        apply=_truncate_backup,
        conflicts=_BACKUP_FAULTS - {"truncated-backup"},
    )
)
register(
    Fault(
        "old-backup",
        "the newest backup is 30 hours old",
        apply=_old_backup,
        conflicts=_BACKUP_FAULTS - {"old-backup"},
    )
)
register(
    Fault(
        "db-down",
        "the database container is stopped",
        apply=_stop_service("db"),
        conflicts=frozenset({"slow-query"}),
    )
)


def _open_env_file(context: FaultContext) -> None:
    context.demo.env_file.chmod(0o644)


def _close_env_file(context: FaultContext) -> None:
    context.demo.env_file.chmod(0o600)


def _apply_privileged(context: FaultContext) -> None:
    container = require_container(context.client, "backend")
    container.reload()
    if not container.attrs["HostConfig"].get("Privileged"):
        raise DemoError(f"container {container.name} is not privileged")


register(
    Fault(
        "env-world-readable",
        "the .env file has mode 0644, so every user on the host can read the secrets",
        apply=_open_env_file,
        clear=_close_env_file,
    )
)
register(
    Fault(
        "privileged-container",
        "the backend container runs privileged",
        apply=_apply_privileged,
        variant=lambda variant: replace(variant, privileged="backend"),
        conflicts=frozenset({"stopped-backend"}),
    )
)


# Idle sessions held open inside the db container, so they outlive 'demo up'. Each
# psql reads its standard input from one FIFO, whose only writer is a sleep: killing
# the sleep gives every psql an end of file, and it disconnects as a client does.
# Terminating the sessions from the server side instead would log a FATAL line per
# session, which the log checks of the healed stack would report.
HELD_CONNECTIONS = 75
HOLDER_APPLICATION = "opscheck-demo-many-connections"
_HOLDER_FIFO = "/tmp/many-connections.fifo"
_HOLDER_PID = "/tmp/many-connections.pid"
_HELD = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"


def _held_sessions(context: FaultContext) -> int:
    with _connect(context) as connection:
        row = connection.execute(_HELD, (HOLDER_APPLICATION,)).fetchone()
    return int(str(row[0])) if row else 0


def _apply_many_connections(context: FaultContext) -> None:
    container = require_container(context.client, "db")
    session = (
        f"PGAPPNAME={HOLDER_APPLICATION} psql -X -q -U {DB_USER} -d {DB_NAME} "
        f"< {_HOLDER_FIFO} > /dev/null 2>&1 &"
    )
    script = (
        f"rm -f {_HOLDER_FIFO}; mkfifo {_HOLDER_FIFO}; i=0; "
        f"while [ $i -lt {HELD_CONNECTIONS} ]; do {session} i=$((i+1)); done; "
        f"echo $$ > {_HOLDER_PID}; exec sleep 86400 > {_HOLDER_FIFO}"
    )
    exec_command(container, ["sh", "-c", script], detach=True)
    wait_for(
        lambda: _held_sessions(context) >= HELD_CONNECTIONS,
        what=f"{HELD_CONNECTIONS} sessions are connected to the database",
        timeout_s=VISIBLE_TIMEOUT_S,
    )


def _clear_many_connections(context: FaultContext) -> None:
    container = require_container(context.client, "db")
    container.reload()
    if container.status != "running":
        return
    release = (
        f"if [ -s {_HOLDER_PID} ]; then kill $(cat {_HOLDER_PID}) 2>/dev/null; "
        f"rm -f {_HOLDER_PID}; fi; true"
    )
    exec_command(container, ["sh", "-c", release])
    wait_for(
        lambda: _held_sessions(context) == 0,
        what="the held sessions have disconnected from the database",
        timeout_s=VISIBLE_TIMEOUT_S,
    )


register(
    Fault(
        "many-connections",
        f"{HELD_CONNECTIONS} idle sessions are connected to the database, above the "
        "alert level of 70 connections",
        apply=_apply_many_connections,
        clear=_clear_many_connections,
        conflicts=frozenset({"db-down"}),
    )
)
