"""tls.certificate_expiry against real TLS servers on 127.0.0.1 and real certificate files.

Every certificate is made here with ``cryptography``: a root CA, an intermediate CA
and leaves signed by the intermediate. Each server is Python's ``ssl`` in a thread.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from opscheck.demo.tls import issue, key_pem, pem
from tests.support.engines import free_port
from tests.support.servers import SilentPort

CHECK = "tls.certificate_expiry"

Issuer = tuple[x509.Name, ec.EllipticCurvePrivateKey]


class TlsServer:
    """A TLS server on 127.0.0.1 that completes handshakes and closes each connection."""

    def __init__(self, certfile: Path, keyfile: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certfile, keyfile)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = int(self.listener.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(5)
            try:
                with self.context.wrap_socket(connection, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                # A client that rejects the certificate aborts the handshake.
                connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.listener.close()


class Pki:
    """A root CA and an intermediate CA in a folder, issuing leaves for 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        now = datetime.now(UTC)
        self.root, self.root_key = issue(
            "test root CA",
            None,
            not_before=now - timedelta(days=1),
            not_after=now + timedelta(days=3650),
            is_ca=True,
        )
        self.intermediate, self.intermediate_key = issue(
            "test intermediate CA",
            (self.root.subject, self.root_key),
            not_before=now - timedelta(days=1),
            not_after=now + timedelta(days=3650),
            is_ca=True,
        )
        self.ca_file = folder / "ca.pem"
        self.ca_file.write_bytes(pem(self.root))

    def leaf(
        self,
        name: str,
        *,
        days_left: float,
        with_intermediate: bool = True,
        lifetime_days: float = 365,
    ) -> tuple[Path, Path]:
        """Write a leaf for localhost and 127.0.0.1; return (chain file, key file)."""
        now = datetime.now(UTC)
        not_after = now + timedelta(days=days_left)
        leaf, key = issue(
            "localhost",
            (self.intermediate.subject, self.intermediate_key),
            not_before=not_after - timedelta(days=lifetime_days),
            not_after=not_after,
            is_ca=False,
            names=("localhost", "127.0.0.1"),
        )
        chain = self.folder / f"{name}.pem"
        keyfile = self.folder / f"{name}.key"
        certificates = [leaf, self.intermediate] if with_intermediate else [leaf]
        chain.write_bytes(pem(*certificates))
        keyfile.write_bytes(key_pem(key))
        return chain, keyfile


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
def tls_server() -> Iterator[Callable[[Path, Path], TlsServer]]:
    started: list[TlsServer] = []

    def start(certfile: Path, keyfile: Path) -> TlsServer:
        server = TlsServer(certfile, keyfile)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _run(
    opscheck_cli: Any, tmp_path: Path, entries: list[dict[str, Any]], **options: Any
) -> tuple[Any, dict[str, dict[str, Any]]]:
    config = {
        "tls": entries,
        "checks": {CHECK: {"connect_timeout_s": 2.0, **options}},
    }
    config_path = tmp_path / "opscheck.yaml"
    config_path.write_text(yaml.safe_dump(config))
    result = opscheck_cli(
        "monthly",
        "--config",
        config_path,
        "-k",
        CHECK,
        "--json",
        tmp_path / "report.json",
        timeout=120,
    )
    report = result.json(tmp_path / "report.json")
    by_target = {item["target"]: item for item in report["results"]}
    return result, by_target


def _endpoint(
    port: int, ca_file: Path, server_name: str = "localhost"
) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "server_name": server_name,
        "ca_file": str(ca_file),
    }


def test_endpoints_by_expiry_and_chain(
    opscheck_cli: Any, tmp_path: Path, pki: Pki, tls_server: Any
) -> None:
    valid = tls_server(*pki.leaf("valid", days_left=200))
    soon = tls_server(*pki.leaf("soon", days_left=10))
    very_soon = tls_server(*pki.leaf("very-soon", days_left=3))
    expired = tls_server(*pki.leaf("expired", days_left=-5))
    no_intermediate = tls_server(
        *pki.leaf("no-intermediate", days_left=200, with_intermediate=False)
    )
    entries = [
        _endpoint(valid.port, pki.ca_file),
        _endpoint(soon.port, pki.ca_file),
        _endpoint(very_soon.port, pki.ca_file),
        _endpoint(expired.port, pki.ca_file),
        _endpoint(no_intermediate.port, pki.ca_file),
    ]

    result, found = _run(opscheck_cli, tmp_path, entries)

    def outcome(server: TlsServer) -> dict[str, Any]:
        return found[f"127.0.0.1:{server.port}"]

    assert outcome(valid)["outcome"] == "passed", outcome(valid)["message"]
    assert outcome(valid)["evidence"]["days_left"] > 199
    assert outcome(soon)["outcome"] == "warning", outcome(soon)["message"]
    assert "below the warning level 30.0 days" in outcome(soon)["message"]
    assert outcome(very_soon)["outcome"] == "failed"
    assert "below the critical level 7.0 days" in outcome(very_soon)["message"]

    expired_day = (datetime.now(UTC) - timedelta(days=5)).strftime("%Y-%m-%d")
    assert outcome(expired)["outcome"] == "failed"
    assert f"expired on {expired_day}" in outcome(expired)["message"]
    assert "5 days ago" in outcome(expired)["message"]

    assert outcome(no_intermediate)["outcome"] == "failed"
    message = outcome(no_intermediate)["message"]
    assert "CN=test intermediate CA" in message
    assert "sends no intermediate certificate" in message
    assert result.exit_code == 1


def test_host_name_mismatch_fails(
    opscheck_cli: Any, tmp_path: Path, pki: Pki, tls_server: Any
) -> None:
    server = tls_server(*pki.leaf("valid", days_left=200))

    _, found = _run(
        opscheck_cli,
        tmp_path,
        [_endpoint(server.port, pki.ca_file, server_name="www.example.test")],
    )

    result = found[f"127.0.0.1:{server.port}"]
    assert result["outcome"] == "failed"
    assert "does not match host name www.example.test" in result["message"]


def test_untrusted_root_fails(
    opscheck_cli: Any, tmp_path: Path, pki: Pki, tls_server: Any
) -> None:
    server = tls_server(*pki.leaf("valid", days_left=200))
    (tmp_path / "other").mkdir()
    other = Pki(tmp_path / "other")

    _, found = _run(opscheck_cli, tmp_path, [_endpoint(server.port, other.ca_file)])

    result = found[f"127.0.0.1:{server.port}"]
    assert result["outcome"] == "failed"
    assert "is not trusted" in result["message"]


def test_refused_and_hung_end_in_error(
    opscheck_cli: Any, tmp_path: Path, pki: Pki, silent_port: SilentPort
) -> None:
    refused_port = free_port()
    started = time.monotonic()

    _, found = _run(
        opscheck_cli,
        tmp_path,
        [
            _endpoint(refused_port, pki.ca_file),
            _endpoint(silent_port.port, pki.ca_file),
        ],
    )

    elapsed = time.monotonic() - started
    refused = found[f"127.0.0.1:{refused_port}"]
    hung = found[f"127.0.0.1:{silent_port.port}"]
    assert refused["outcome"] == "error"
    assert "refused the connection" in refused["message"]
    assert hung["outcome"] == "error"
    assert "did not complete a handshake within 2 s" in hung["message"]
    assert elapsed < 30


def test_certificate_files(opscheck_cli: Any, tmp_path: Path, pki: Pki) -> None:
    valid, _ = pki.leaf("file-valid", days_left=100)
    expired, _ = pki.leaf("file-expired", days_left=-40)
    leaf_only, _ = pki.leaf("file-leaf-only", days_left=100, with_intermediate=False)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("this is not a certificate\n")
    missing = tmp_path / "missing.pem"

    entries = [
        {"file": str(path), "ca_file": str(pki.ca_file), "server_name": "localhost"}
        for path in (valid, expired, leaf_only, garbage, missing)
    ]
    _, found = _run(opscheck_cli, tmp_path, entries)

    assert found[str(valid)]["outcome"] == "passed", found[str(valid)]["message"]
    assert found[str(expired)]["outcome"] == "failed"
    assert "expired on" in found[str(expired)]["message"]
    assert found[str(leaf_only)]["outcome"] == "failed"
    assert "CN=test intermediate CA" in found[str(leaf_only)]["message"]
    assert found[str(garbage)]["outcome"] == "failed"
    assert "has no certificate" in found[str(garbage)]["message"]
    assert found[str(missing)]["outcome"] == "error"
    assert "cannot be read" in found[str(missing)]["message"]


def test_unreadable_trust_store_is_error(
    opscheck_cli: Any, tmp_path: Path, pki: Pki, tls_server: Any
) -> None:
    server = tls_server(*pki.leaf("valid", days_left=200))
    bad_store = tmp_path / "store.pem"
    bad_store.write_text("no certificates here\n")

    _, found = _run(opscheck_cli, tmp_path, [_endpoint(server.port, bad_store)])

    result = found[f"127.0.0.1:{server.port}"]
    assert result["outcome"] == "error"
    assert f"trust store {bad_store} contains no PEM certificate" in result["message"]


def test_special_certificate_files_are_not_read(
    opscheck_cli: Any, tmp_path: Path, pki: Pki
) -> None:
    zero = tmp_path / "zero.pem"
    zero.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.pem"
    loop.symlink_to(loop)
    folder = tmp_path / "folder.pem"
    folder.mkdir()
    huge = tmp_path / "huge.pem"
    valid, _ = pki.leaf("file-valid", days_left=100)
    with huge.open("wb") as handle:
        handle.write(valid.read_bytes())
        handle.write(b"\n" * (2 << 20))

    entries = [
        {"file": str(path), "ca_file": str(pki.ca_file), "server_name": "localhost"}
        for path in (zero, fifo, loop, folder, huge)
    ]
    started = time.monotonic()
    _, found = _run(opscheck_cli, tmp_path, entries)
    elapsed = time.monotonic() - started

    reasons = {
        zero: "it is a character device, not a regular file",
        fifo: "it is a FIFO, not a regular file",
        loop: "it is a symlink loop, not a regular file",
        folder: "it is a folder, not a regular file",
        huge: "it is larger than 1 MiB",
    }
    for path, reason in reasons.items():
        result = found[str(path)]
        assert result["outcome"] == "error"
        assert result["message"] == (
            f"certificate file {path} cannot be read: {reason}; set file on the tls "
            "entry to a PEM certificate chain of at most 1 MiB"
        )
    assert elapsed < 60


def test_trust_store_device_is_error(
    opscheck_cli: Any, tmp_path: Path, pki: Pki
) -> None:
    valid, _ = pki.leaf("file-valid", days_left=100)
    store = tmp_path / "store.pem"
    store.symlink_to("/dev/zero")

    _, found = _run(
        opscheck_cli,
        tmp_path,
        [{"file": str(valid), "ca_file": str(store), "server_name": "localhost"}],
    )

    result = found[str(valid)]
    assert result["outcome"] == "error"
    assert result["message"] == (
        f"trust store {store} cannot be read: it is a character device, not a regular "
        "file; set ca_file on the tls entry to a PEM bundle of CAs of at most 4 MiB"
    )
