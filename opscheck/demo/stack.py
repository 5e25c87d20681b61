"""The demo stack as a whole: bring it up with faults, report its status, take it down.

Example::

    stack = DemoStack(Path("opscheck-demo"))
    stack.up(faults=["truncated-backup"])
    print(stack.status())
    stack.down()
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import docker
import psycopg

from opscheck import redaction
from opscheck.demo import backups, configfile, faults, images, ownership, tls
from opscheck.demo.compose import DB_READY, SERVICES, Compose, render
from opscheck.demo.conflicts import holds_its_ports, service_of, taken_port_message
from opscheck.demo.containers import (
    health,
    require_container,
    service_container,
    wait_for,
)
from opscheck.demo.engine import connect
from opscheck.demo.freshlogs import noisy_logs
from opscheck.demo.layout import DB_NAME, DB_USER, DEFAULT_DIR, PROJECT, DemoDir, State
from opscheck.demo.ports import choose_ports, free_port, is_free
from opscheck.errors import DemoError
from opscheck.log import logger

HEALTHY_TIMEOUT_S = 90


@dataclass(frozen=True)
class ServiceStatus:
    """The state of one service's container."""

    service: str
    container: str | None
    state: str
    health: str | None


@dataclass(frozen=True)
class UpResult:
    """What ``DemoStack.up`` did."""

    config_path: Path
    ports: dict[str, int]
    faults: list[str]
    imported_images: list[str]
    duration_s: float
    # One line for each port moved and each container replaced, for the user.
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FaultRecord:
    """The active faults, as the state file of the folder that started the stack has them."""

    folder: Path
    # None when that state file cannot be read; ``problem`` then says why.
    faults: list[str] | None
    problem: str


class DemoStack:
    """The demo compose project in one folder, on one Docker engine."""

    def __init__(
        self,
        directory: Path = DEFAULT_DIR,
        *,
        docker_host: str | None = None,
        config_path: Path = configfile.DEFAULT_PATH,
    ) -> None:
        self.demo = DemoDir(directory)
        self.docker_host = docker_host or os.environ.get("DOCKER_HOST") or None
        self.config_path = config_path.resolve()
        self._client: docker.DockerClient | None = None
        # When the last 'compose up' started; earlier log lines are not its failures.
        self._since = datetime.now(UTC)

    @property
    def client(self) -> docker.DockerClient:
        """The Docker client, connected on first use."""
        if self._client is None:
            self._client = connect(self.docker_host)
        return self._client

    def up(self, faults_to_apply: Sequence[str] = ()) -> UpResult:
        """Start the stack healthy, clear other faults, then apply the named ones."""
        started = time.monotonic()
        names = faults.validate(list(faults_to_apply))
        client = self.client
        ownership.require_own(client, self.demo.root, "start")
        imported = images.ensure_images(client)

        self.demo.create(images.APP_UID)
        tls.ensure(self.demo.root / "tls", images.APP_UID)
        env = self.demo.ensure_env()
        redaction.register_secrets(
            value
            for key, value in env.items()
            if key not in ("POSTGRES_USER", "POSTGRES_DB")
        )
        ports, notes = self._ports()
        self.demo.write_state(State(ports=ports, faults=[]))

        compose = Compose(self.demo, self.docker_host)
        self.demo.compose_file.write_text(
            render(self.demo, ports, faults.variant_for(names))
        )
        self._since = datetime.now(UTC)
        compose.run("up", "-d", "--remove-orphans")

        context = faults.FaultContext(
            client, self.demo, compose, ports, env["POSTGRES_PASSWORD"]
        )
        self._wait_for_database(ports, env["POSTGRES_PASSWORD"])
        backups.write_set(client, self.demo.backups)

        # After the backups, because pg_dump's COPY statements take more than 100 ms
        # and clearing slow-query resets pg_stat_statements when it shows any.
        for fault in faults.REGISTRY.values():
            if fault.name not in names:
                fault.clear(context)

        crashing = faults.variant_for(names).restart_loop
        steady = [s for s in SERVICES if s != crashing]
        self._wait_healthy(steady, ports)

        # Before the faults are applied, so only the traces of cleared faults go.
        noisy = noisy_logs(client, steady)
        if noisy:
            for item in noisy:
                logger.info("%s", item.describe())
                require_container(client, item.service).remove(force=True)
            notes += [item.describe() for item in noisy]
            compose.run("up", "-d", "--remove-orphans")
            self._wait_for_database(ports, env["POSTGRES_PASSWORD"])
            self._wait_healthy(steady, ports)

        for fault in faults.REGISTRY.values():
            if fault.name in names:
                logger.info("applying fault %s", fault.name)
                fault.apply(context)

        self.demo.write_state(State(ports=ports, faults=names))
        config_path = configfile.write(
            self.config_path, self.demo, ports, self.docker_host
        )
        return UpResult(
            config_path, ports, names, imported, time.monotonic() - started, notes
        )

    def down(self) -> None:
        """Stop and remove the containers and volumes; keep images and files."""
        client = self.client
        ownership.require_own(client, self.demo.root, "take down")
        if self.demo.compose_file.exists():
            Compose(self.demo, self.docker_host).run(
                "down", "--volumes", "--remove-orphans"
            )
        elif any(service_container(client, service) for service in SERVICES):
            raise DemoError(
                f"containers of project {PROJECT} exist but {self.demo.compose_file} "
                "does not; run 'opscheck demo up' with the same --dir, then 'demo down'"
            )
        state = self.demo.read_state()
        if state is not None:
            self.demo.write_state(State(ports=state.ports, faults=[]))

    def status(self) -> list[ServiceStatus]:
        """Return the state and health of each service's container."""
        result = []
        for service in SERVICES:
            container = service_container(self.client, service)
            if container is None:
                result.append(ServiceStatus(service, None, "missing", None))
                continue
            container.reload()
            health_status = container.attrs["State"].get("Health", {}).get("Status")
            result.append(
                ServiceStatus(service, container.name, container.status, health_status)
            )
        return result

    def active_faults(self) -> list[str]:
        """Return the faults that the last ``up`` applied, in the folder that ran it."""
        return self.fault_record().faults or []

    def fault_record(self) -> FaultRecord:
        """Return the folder that started the running stack and the faults it records.

        The faults are kept in the state file of the folder that ran ``demo up``,
        which docker-compose names in a label of every container; this folder is
        used when no container exists.
        """
        started_from = ownership.owner(self.client)
        folder = DemoDir(started_from) if started_from is not None else self.demo
        try:
            state = folder.read_state()
        except DemoError as exc:
            return FaultRecord(folder.root, None, exc.message)
        except OSError as exc:
            return FaultRecord(
                folder.root, None, f"{folder.state_file} cannot be read: {exc.strerror}"
            )
        return FaultRecord(folder.root, state.faults if state else [], "")

    def _ports(self) -> tuple[dict[str, int], list[str]]:
        """Return the recorded ports, each taken one of a stopped service replaced.

        A running service holds its own ports. The port of a service that is stopped,
        in a restart loop or without a container must be free, or it cannot bind it.
        """
        state = self.demo.read_state()
        if state is None or not set(state.ports) >= set(choose_ports_keys()):
            return choose_ports(), []

        ports = dict(state.ports)
        notes = []
        for name, port in state.ports.items():
            if is_free(port):
                continue
            if holds_its_ports(service_container(self.client, service_of(name))):
                continue
            ports[name] = free_port(set(ports.values()))
            notes.append(
                f"port {port} of {name} on 127.0.0.1 is taken by another process; "
                f"{name} now uses port {ports[name]}"
            )
            logger.info("%s", notes[-1])
        return ports, notes

    def _raise_if_port_taken(self, services: list[str], ports: dict[str, int]) -> None:
        message = taken_port_message(
            self.client, services, ports, since=self._since, root=self.demo.root
        )
        if message is not None:
            raise DemoError(message)

    def _wait_for_database(self, ports: dict[str, int], password: str) -> None:
        port = ports["db"]

        # Ask the container first, because a client that connects while the server
        # is starting leaves a FATAL line in the database log.
        def ready() -> bool:
            container = require_container(self.client, "db")
            container.reload()
            if container.status == "running" and (
                container.exec_run([DB_READY]).exit_code == 0
            ):
                return True
            self._raise_if_port_taken(["db"], ports)
            return False

        wait_for(
            ready,
            what="the database server in the db container has started",
            timeout_s=HEALTHY_TIMEOUT_S,
        )

        def accepts() -> bool:
            try:
                with psycopg.connect(
                    host="127.0.0.1",
                    port=port,
                    dbname=DB_NAME,
                    user=DB_USER,
                    password=password,
                    connect_timeout=2,
                ) as connection:
                    connection.execute("SELECT 1")
            except psycopg.OperationalError as exc:
                if "password authentication failed" in str(exc):
                    # Trying again only fills the database log with the same failure.
                    raise DemoError(
                        f"the database on 127.0.0.1:{port} rejected the password of "
                        f"{DB_USER} in {self.demo.env_file}; run 'opscheck demo down "
                        f"--dir {self.demo.root}' and 'demo up' again"
                    ) from None
                return False
            return True

        wait_for(
            accepts,
            what=f"the database accepts connections on 127.0.0.1:{port}",
            timeout_s=HEALTHY_TIMEOUT_S,
        )

    def _wait_healthy(self, services: list[str], ports: dict[str, int]) -> None:
        def all_healthy() -> bool:
            waiting = [
                service
                for service in services
                if (container := service_container(self.client, service)) is None
                or health(container) != "healthy"
            ]
            if waiting:
                self._raise_if_port_taken(waiting, ports)
            return not waiting

        try:
            wait_for(
                all_healthy,
                what="every service is healthy",
                timeout_s=HEALTHY_TIMEOUT_S,
            )
        except DemoError as exc:
            states = ", ".join(
                f"{s.service}: {s.health or s.state}" for s in self.status()
            )
            raise DemoError(f"{exc.message} ({states})") from exc


def choose_ports_keys() -> list[str]:
    """Return the names of every port that the stack needs."""
    from opscheck.demo.ports import INTERNAL, PREFERRED

    return [*PREFERRED, *INTERNAL]
