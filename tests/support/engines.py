"""Real engines for the tests: a Docker engine and a PostgreSQL 15 cluster.

Both are session fixtures that start their own server process, so the tests never
touch the host's Docker engine or a PostgreSQL cluster that was already running:

- ``docker_engine``: a dockerd of the test session with its own socket, data root and
  exec root, created without a bridge network or iptables rules, so containers run
  with host networking only. With ``OPSCHECK_TEST_DOCKER_HOST`` set (for example
  ``unix:///var/run/docker.sock``), the tests use that engine instead.
- ``pg_cluster``: a cluster made by ``initdb`` in a temporary folder, listening on
  127.0.0.1 and a free port, with ``pg_stat_statements`` preloaded.

dockerd needs root. initdb rejects root, so under root it runs as the ``postgres`` user
through ``runuser``.
"""

from __future__ import annotations

import contextlib
import io
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors
import psycopg
import pytest
from psycopg import sql

DOCKERD_START_TIMEOUT_S = 30.0
DOCKERD_STOP_TIMEOUT_S = 20.0
BUSYBOX_BINARY = Path("/usr/bin/busybox")
DEFAULT_BUSYBOX_IMAGE = "opscheck-busybox:latest"
PG_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
PG_MAX_CONNECTIONS = 20
# An estimate of what the test images and containers take: busybox images are about
# 2 MB, an image with PostgreSQL about 110 MB.
MIN_FREE_BYTES = 1 << 30


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that no socket is bound to right now.

    The port is free when this returns; another process may still take it before the
    caller binds it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _scratch_parent() -> Path:
    """Return /var/tmp or /tmp, whichever has more free space, for engine data."""
    __tracebackhide__ = True
    candidates = [Path("/var/tmp"), Path("/tmp")]
    free = {path: shutil.disk_usage(path).free for path in candidates if path.is_dir()}
    best = max(free, key=lambda path: free[path])
    if free[best] < MIN_FREE_BYTES:
        pytest.fail(
            f"only {free[best] // (1 << 20)} MiB free in {best}; the test engines need "
            f"at least {MIN_FREE_BYTES >> 20} MiB for images and data"
        )
    return best


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(cannot read {path}: {error})"
    return "\n".join(text.splitlines()[-lines:])


def _unescape_mount_path(field: str) -> str:
    """Decode the octal escapes (``\\040`` for a space) of a /proc/self/mounts field."""
    return field.encode().decode("unicode_escape")


def _mounts_under(root: Path) -> list[str]:
    """Return the mount points at or below ``root``, deepest first."""
    prefix = str(root).rstrip("/") + "/"
    found = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            mount_point = _unescape_mount_path(line.split()[1])
            if mount_point == str(root) or mount_point.startswith(prefix):
                found.append(mount_point)
    return sorted(found, key=len, reverse=True)


def _unmount_all_under(root: Path) -> list[str]:
    """Unmount every mount below ``root`` and return the ones that stayed mounted."""
    for mount_point in _mounts_under(root):
        result = subprocess.run(
            ["umount", mount_point], capture_output=True, check=False
        )
        if result.returncode != 0:
            subprocess.run(
                ["umount", "-l", mount_point], capture_output=True, check=False
            )
    return _mounts_under(root)


def _remove_tree(root: Path) -> None:
    """Remove a scratch folder unless something is still mounted inside it.

    shutil.rmtree crosses mount points, so a leftover bind mount of a host folder would
    have its files deleted: such a folder is left in place with a warning instead.
    """
    if not root.exists():
        return
    remaining = _unmount_all_under(root)
    if remaining:
        warnings.warn(
            f"left {root} in place because these mounts could not be unmounted: "
            f"{', '.join(remaining)}",
            stacklevel=2,
        )
        return
    try:
        shutil.rmtree(root)
    except OSError as error:
        warnings.warn(f"could not remove {root}: {error}", stacklevel=2)


def _stop_process(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Send SIGTERM, wait up to ``timeout_s``, then SIGKILL."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _kill_pid_from_file(pidfile: Path, expected_name: str) -> None:
    """SIGKILL the process named in ``pidfile`` if it is still an ``expected_name``."""
    try:
        pid = int(pidfile.read_text().strip())
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return
    if name == expected_name:
        os.kill(pid, signal.SIGKILL)


# Docker ----------------------------------------------------------------------------


class DockerEngine:
    """A Docker engine the tests may use: its address, an SDK client and images.

    ``host`` is the engine's ``unix://`` URL and ``client`` a docker SDK client for it.
    Pass ``env()`` to subprocesses (docker CLI, docker-compose) so that they use this
    engine rather than the host's; in-process clients get it from ``docker_engine_env``.
    """

    def __init__(self, host: str, client: docker.DockerClient) -> None:
        self.host = host
        self.client = client
        self._images: dict[str, str] = {}

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Return a copy of ``os.environ`` that points Docker clients at this engine."""
        environment = dict(os.environ)
        # These would send the docker CLI to another engine or make it expect TLS.
        for name in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
            environment.pop(name, None)
        environment["DOCKER_HOST"] = self.host
        environment.update(extra or {})
        return environment

    def busybox_image(self, reference: str = DEFAULT_BUSYBOX_IMAGE) -> str:
        """Import a busybox image as ``reference`` (``NAME[:TAG]``) and return it.

        No registry can be reached, so the image is made from the host's static
        busybox: /bin/busybox, a symlink in /bin for every applet, /etc/passwd and
        /etc/group, ``PATH=/bin`` and ``/bin/sh`` as its command. Each reference is
        imported once per session.
        """
        __tracebackhide__ = True
        if ":" not in reference.rsplit("/", 1)[-1]:
            reference = f"{reference}:latest"
        if reference in self._images:
            return reference

        repository, tag = reference.rsplit(":", 1)
        self.client.api.import_image_from_data(
            busybox_rootfs_tar(),
            repository=repository,
            tag=tag,
            changes=["ENV PATH=/bin", 'CMD ["/bin/sh"]'],
        )
        self._images[reference] = self.client.images.get(reference).id
        return reference


def busybox_rootfs_tar(extra_files: dict[str, bytes] | None = None) -> bytes:
    """Build a tar of a busybox root file system, with ``extra_files`` added.

    ``extra_files`` maps a path inside the image (``etc/motd``) to its content.
    """
    __tracebackhide__ = True
    if not BUSYBOX_BINARY.is_file():
        pytest.fail(
            f"{BUSYBOX_BINARY} not found; install it with "
            "`apt-get install busybox-static` or run scripts/setup.sh"
        )
    applets = subprocess.run(
        [str(BUSYBOX_BINARY), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()

    files = {
        "etc/passwd": (
            b"root:x:0:0:root:/root:/bin/sh\n"
            b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
        ),
        "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
    }
    files.update(extra_files or {})

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for folder, mode in [
            ("bin", 0o755),
            ("etc", 0o755),
            ("root", 0o700),
            ("tmp", 0o1777),
            ("var", 0o755),
            ("proc", 0o755),
            ("sys", 0o755),
            ("dev", 0o755),
        ]:
            entry = tarfile.TarInfo(folder)
            entry.type = tarfile.DIRTYPE
            entry.mode = mode
            archive.addfile(entry)

        archive.add(str(BUSYBOX_BINARY), arcname="bin/busybox")
        for applet in applets:
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            archive.addfile(link)

        for name, content in files.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(content)
            entry.mode = 0o644
            archive.addfile(entry, io.BytesIO(content))
    return buffer.getvalue()


def _connect_docker(host: str, timeout_s: float) -> docker.DockerClient:
    """Return a client for ``host`` once the engine responds to a ping."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client = docker.DockerClient(base_url=host, timeout=30)
            client.ping()
        except (docker.errors.DockerException, OSError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
        else:
            return client


class _OwnDockerd:
    """A dockerd process started for the test session, beside the host's engine."""

    def __init__(self) -> None:
        self.root = Path(
            tempfile.mkdtemp(prefix="opscheck-dockerd-", dir=_scratch_parent())
        )
        self.socket = self.root / "docker.sock"
        self.exec_root = self.root / "exec"
        self.data_root = self.root / "data"
        self.pidfile = self.root / "docker.pid"
        self.log_file = self.root / "dockerd.log"
        self.host = f"unix://{self.socket}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> docker.DockerClient:
        __tracebackhide__ = True
        # dockerd is in /usr/sbin, which the PATH of a non-login shell may lack.
        dockerd = shutil.which("dockerd") or shutil.which("dockerd", path="/usr/sbin")
        if dockerd is None:
            pytest.fail(
                "dockerd not found; install it with `apt-get install docker.io` "
                "or run scripts/setup.sh"
            )
        if os.geteuid() != 0:
            pytest.fail(
                "the docker_engine fixture starts dockerd, which needs root; run the "
                "tests as root or set OPSCHECK_TEST_DOCKER_HOST to a running engine"
            )

        # An empty config file keeps /etc/docker/daemon.json, written for the host's
        # engine, from adding its own hosts or roots to this one.
        config_file = self.root / "daemon.json"
        config_file.write_text("{}\n")
        # containerd rejects a namespace with two separators in a row, and mkdtemp's
        # random suffix may start with '_' right after the prefix's '-'.
        namespace = "opscheck-" + "".join(ch for ch in self.root.name.lower() if ch.isalnum())
        command = [
            dockerd,
            "-H", self.host,
            "--config-file", str(config_file),
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.pidfile),
            "--containerd-namespace", namespace,
            "--containerd-plugins-namespace", f"{namespace}-plugins",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--ip6tables=false",
        ]  # fmt: skip
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        deadline = time.monotonic() + DOCKERD_START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"dockerd exited with status {self.process.returncode} before it "
                    f"responded on {self.host}; last lines of {self.log_file}:\n"
                    f"{_tail(self.log_file)}"
                )
            try:
                return _connect_docker(self.host, timeout_s=0)
            except (docker.errors.DockerException, OSError):
                pass
            if time.monotonic() >= deadline:
                pytest.fail(
                    f"dockerd did not respond on {self.host} within "
                    f"{DOCKERD_START_TIMEOUT_S:.0f} s; last lines of {self.log_file}:\n"
                    f"{_tail(self.log_file)}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop dockerd by its pid, then remove its mounts and its folder."""
        if self.process is not None:
            _stop_process(self.process, DOCKERD_STOP_TIMEOUT_S)
            # dockerd stops its own containerd when it exits, but not after SIGKILL.
            _kill_pid_from_file(
                self.exec_root / "containerd" / "containerd.pid", "containerd"
            )
        _remove_tree(self.root)


def _remove_containers(client: docker.DockerClient, keep: Iterable[str]) -> None:
    """Force-remove every container except those whose id is in ``keep``."""
    kept = set(keep)
    for container in client.containers.list(all=True, ignore_removed=True):
        if container.id in kept:
            continue
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """Start the test session's own Docker engine, or use $OPSCHECK_TEST_DOCKER_HOST.

    Every container left at the end is removed. On an engine given by
    $OPSCHECK_TEST_DOCKER_HOST only the containers that appeared during the session are
    removed.
    """
    __tracebackhide__ = True
    external_host = os.environ.get("OPSCHECK_TEST_DOCKER_HOST")
    if external_host:
        try:
            client = _connect_docker(external_host, timeout_s=5)
        except (docker.errors.DockerException, OSError) as error:
            pytest.fail(
                f"the Docker engine at OPSCHECK_TEST_DOCKER_HOST={external_host} does "
                f"not respond: {error}"
            )
        # NOTE: containers that someone else creates on a shared engine during the
        # session are removed at the end as well.
        existing = [container.id for container in client.containers.list(all=True)]
        try:
            yield DockerEngine(external_host, client)
        finally:
            _remove_containers(client, keep=existing)
            client.close()
        return

    daemon = _OwnDockerd()
    try:
        client = daemon.start()
    except BaseException:
        daemon.stop()
        raise
    try:
        yield DockerEngine(daemon.host, client)
    finally:
        try:
            _remove_containers(client, keep=())
            client.close()
        finally:
            daemon.stop()


@pytest.fixture
def docker_engine_env(
    docker_engine: DockerEngine, monkeypatch: pytest.MonkeyPatch
) -> DockerEngine:
    """Set DOCKER_HOST to the test engine for one test, for in-process clients.

    pytest-testinfra's ``docker://`` backend and ``docker.from_env()`` read
    ``os.environ``; the variable is restored when the test ends.
    """
    for name in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    return docker_engine


# PostgreSQL ------------------------------------------------------------------------


class PgCluster:
    """A PostgreSQL 15 cluster owned by the test session.

    ``host`` and ``port`` are where it listens. Connections over TCP need a password
    (scram-sha-256); the superuser is ``postgres`` with ``superuser_password``.
    ``max_connections`` is small, so a test can use up every slot and get "too many
    clients" from the server.
    """

    superuser = "postgres"

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.host = "127.0.0.1"
        self.port = port
        self.max_connections = PG_MAX_CONNECTIONS
        self.data_dir = root / "data"
        self.socket_dir = root / "socket"
        self.log_file = root / "postgresql.log"
        self.superuser_password = secrets.token_urlsafe(18)

    # Connection strings and connections.

    def dsn(self, dbname: str, user: str, password: str) -> str:
        """Return a libpq connection string for ``user`` on ``dbname`` over TCP."""
        return psycopg.conninfo.make_conninfo(
            host=self.host, port=self.port, dbname=dbname, user=user, password=password
        )

    def superuser_dsn(self, dbname: str = "postgres") -> str:
        """Return a connection string for the ``postgres`` superuser."""
        return self.dsn(dbname, self.superuser, self.superuser_password)

    def connect(
        self, dbname: str, user: str, password: str, *, autocommit: bool = True
    ) -> psycopg.Connection[Any]:
        """Open a psycopg connection over TCP, by default in autocommit mode."""
        return psycopg.connect(
            self.dsn(dbname, user, password), autocommit=autocommit, connect_timeout=10
        )

    def superuser_connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        """Open an autocommit connection as the ``postgres`` superuser."""
        return self.connect(dbname, self.superuser, self.superuser_password)

    # Roles and databases.

    def create_role(
        self,
        name: str,
        password: str,
        *,
        superuser: bool = False,
        grant: Sequence[str] = (),
    ) -> None:
        """Create a login role, and grant it the roles in ``grant``.

        ``grant`` names roles such as ``pg_read_all_stats``, which a non-superuser
        needs to see the queries of other sessions.
        """
        statement = sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD {}").format(
            sql.Identifier(name),
            sql.SQL("SUPERUSER" if superuser else "NOSUPERUSER"),
            sql.Literal(password),
        )
        with self.superuser_connect() as connection:
            connection.execute(statement)
            for granted in grant:
                connection.execute(
                    sql.SQL("GRANT {} TO {}").format(
                        sql.Identifier(granted), sql.Identifier(name)
                    )
                )

    def create_database(
        self, name: str, owner: str, *, extensions: Sequence[str] = ()
    ) -> None:
        """Create a database owned by ``owner``, with ``extensions`` created in it.

        The extensions are created by the superuser, because a database owner may not
        create ``pg_stat_statements``.
        """
        with self.superuser_connect() as connection:
            connection.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(owner)
                )
            )
        if not extensions:
            return
        with self.superuser_connect(name) as connection:
            for extension in extensions:
                connection.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(
                        sql.Identifier(extension)
                    )
                )

    # Server process.

    def _pg_ctl(self, action: str, *options: str) -> subprocess.CompletedProcess[str]:
        command = [str(PG_BIN_DIR / "pg_ctl"), action, "-D", str(self.data_dir)]
        return _run_as_postgres([*command, *options], check=False)

    @property
    def is_running(self) -> bool:
        """True while the server runs, as reported by ``pg_ctl status``."""
        return self._pg_ctl("status").returncode == 0

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        __tracebackhide__ = True
        result = self._pg_ctl("start", "-l", str(self.log_file), "-w", "-t", "30")
        if result.returncode != 0:
            pytest.fail(
                f"pg_ctl start failed (exit {result.returncode}): {result.stdout}\n"
                f"last lines of {self.log_file}:\n{_tail(self.log_file)}"
            )

    def stop(self) -> None:
        """Stop the server (fast shutdown), so connections to its port are refused."""
        __tracebackhide__ = True
        result = self._pg_ctl("stop", "-m", "fast", "-w", "-t", "30")
        if result.returncode != 0:
            pytest.fail(
                f"pg_ctl stop failed (exit {result.returncode}): {result.stdout}"
            )

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """Stop the server for the ``with`` block and start it again afterwards.

        Prefer this to ``stop()``/``start()``: the later tests of the session find the
        server running even when the block fails.
        """
        self.stop()
        try:
            yield
        finally:
            self.start()


def _postgres_account() -> pwd.struct_passwd | None:
    """Return the ``postgres`` account when running as root, else None."""
    __tracebackhide__ = True
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail(
            "user postgres not found; install PostgreSQL with "
            "`apt-get install postgresql-15`, which creates it"
        )


def _run_as_postgres(
    command: list[str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as the postgres user (as the current user when not root)."""
    __tracebackhide__ = True
    program = Path(command[0]).name
    if _postgres_account() is not None:
        command = ["runuser", "-u", "postgres", "--", *command]
    result = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{program} failed (exit {result.returncode}): {' '.join(command)}\n"
            f"{result.stdout}"
        )
    return result


def _init_cluster(root: Path, port: int) -> PgCluster:
    """Run initdb in ``root`` and write the server settings the tests rely on."""
    __tracebackhide__ = True
    if not (PG_BIN_DIR / "initdb").is_file():
        pytest.fail(
            f"{PG_BIN_DIR / 'initdb'} not found; install PostgreSQL 15 with "
            "`apt-get install postgresql-15` or run scripts/setup.sh"
        )
    cluster = PgCluster(root, port)

    # initdb wants an empty data folder that only its owner can enter.
    account = _postgres_account()
    cluster.socket_dir.mkdir(mode=0o700)
    password_file = root / "superuser-password"
    password_file.write_text(cluster.superuser_password + "\n")
    password_file.chmod(0o600)
    if account is not None:
        for path in (root, cluster.socket_dir, password_file):
            os.chown(path, account.pw_uid, account.pw_gid)

    _run_as_postgres(
        [
            str(PG_BIN_DIR / "initdb"),
            "-D", str(cluster.data_dir),
            "-U", cluster.superuser,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
        ]
    )  # fmt: skip
    password_file.unlink()

    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{cluster.socket_dir}'",
        "shared_preload_libraries": "'pg_stat_statements'",
        "max_connections": str(PG_MAX_CONNECTIONS),
        # Test data need not survive a crash of the machine, and syncing it is slow.
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    }
    lines = "".join(f"{name} = {value}\n" for name, value in settings.items())
    with open(cluster.data_dir / "postgresql.conf", "a") as conf:
        conf.write("\n# Settings of the opscheck test session\n" + lines)
    return cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """Start a PostgreSQL 15 cluster for the session, and delete it at the end."""
    __tracebackhide__ = True
    root = Path(tempfile.mkdtemp(prefix="opscheck-pg-", dir=_scratch_parent()))
    root.chmod(0o755)
    try:
        cluster = _init_cluster(root, free_port())
        cluster.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        yield cluster
    finally:
        try:
            if cluster.is_running:
                cluster.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


__all__ = [
    "DEFAULT_BUSYBOX_IMAGE",
    "DockerEngine",
    "PgCluster",
    "busybox_rootfs_tar",
    "docker_engine",
    "docker_engine_env",
    "free_port",
    "pg_cluster",
]
