"""The security checks against real containers, files and listening sockets.

Containers run on the test session's own Docker engine with host networking and a
compose project label of their own. A listener on all addresses runs only inside a
network namespace that the test creates, never on the host's interfaces.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from opscheck.fixtures.compose import ContainerState
from opscheck.fixtures.container_security import published_bindings
from opscheck.fixtures.scanner import parse_trivy_json

from tests.support.cli import clean_environment, opscheck_executable
from tests.support.engines import busybox_rootfs_tar, free_port

DATA = Path(__file__).parent / "data"
PROJECT = "opscheck-sectest"
SECRET = "s3cr3t-value-that-must-not-leak"
MIB = 1 << 20


def _labels(service: str) -> dict[str, str]:
    return {
        "com.docker.compose.project": PROJECT,
        "com.docker.compose.service": service,
    }


def _old_image(client: docker.DockerClient, reference: str) -> str:
    """Load an image whose config says it was created on 2020-01-01."""
    layer = busybox_rootfs_tar()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2020-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {
            "type": "layers",
            "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"],
        },
        "history": [{"created": "2020-01-01T00:00:00Z"}],
    }
    config_bytes = json.dumps(config).encode()
    config_name = f"{hashlib.sha256(config_bytes).hexdigest()}.json"
    manifest = [
        {"Config": config_name, "RepoTags": [reference], "Layers": ["layer/layer.tar"]}
    ]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in (
            ("manifest.json", json.dumps(manifest).encode()),
            (config_name, config_bytes),
            ("layer/layer.tar", layer),
        ):
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
    client.images.load(buffer.getvalue())
    return reference


@pytest.fixture(scope="module")
def containers(docker_engine: Any) -> Iterator[dict[str, Any]]:
    """Start one container per case, labelled as services of one compose project."""
    client = docker_engine.client
    image = docker_engine.busybox_image("opscheck-sectest/busybox:1")
    old = _old_image(client, "opscheck-sectest/old:1")
    socket_path = docker_engine.host.removeprefix("unix://")
    limited = {"mem_limit": 64 * MIB, "nano_cpus": 500_000_000}
    cases: dict[str, dict[str, Any]] = {
        "clean": {"user": "65534", **limited},
        "privileged": {"user": "65534", "privileged": True, **limited},
        "socket": {
            "user": "65534",
            "volumes": {socket_path: {"bind": "/var/run/docker.sock", "mode": "ro"}},
            **limited,
        },
        "rootuser": {},
        "rootallowed": {**limited},
        "oldimage": {"user": "65534", "image": old, **limited},
        "db": {"user": "65534", **limited},
    }
    started = {}
    try:
        for service, options in cases.items():
            chosen = options.pop("image", image)
            started[service] = client.containers.run(
                chosen,
                ["sleep", "600"],
                detach=True,
                init=True,
                network_mode="host",
                labels=_labels(service),
                name=f"{PROJECT}_{service}_1",
                **options,
            )
        yield started
    finally:
        for container in started.values():
            container.remove(force=True)


def _config(
    tmp_path: Path, docker_engine: Any, services: list[str], **sections: Any
) -> Path:
    data = {
        "compose": {"project": PROJECT, "services": services},
        "docker": {"host": docker_engine.host},
        **sections,
    }
    path = tmp_path / "opscheck.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _results(result: Any, tmp_path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    report = result.json(tmp_path / "report.json")
    return {(item["id"], item["target"]): item for item in report["results"]}


@pytest.mark.slow
def test_container_privileges_and_limits(
    opscheck_cli: Any, tmp_path: Path, docker_engine: Any, containers: Any
) -> None:
    services = ["clean", "privileged", "socket", "rootuser", "rootallowed"]
    config = _config(
        tmp_path,
        docker_engine,
        services,
        security={"root_allowed": {"rootallowed": "entrypoint drops to nobody"}},
    )

    result = opscheck_cli(
        "security",
        "--config",
        config,
        "-k",
        "container_privileges or resource_limits",
        "--json",
        tmp_path / "report.json",
    )
    found = _results(result, tmp_path)

    def privileges(service: str) -> dict[str, Any]:
        return found[("security.container_privileges", service)]

    assert privileges("clean")["outcome"] == "passed", privileges("clean")["message"]
    assert privileges("privileged")["outcome"] == "failed"
    assert "runs privileged" in privileges("privileged")["message"]
    assert privileges("socket")["outcome"] == "failed"
    assert "mounts the Docker socket" in privileges("socket")["message"]
    assert docker_engine.host.removeprefix("unix://") in privileges("socket")["message"]
    assert privileges("rootuser")["outcome"] == "warning"
    assert "runs as root" in privileges("rootuser")["message"]
    assert "security.root_allowed.rootuser" in privileges("rootuser")["message"]
    assert privileges("rootallowed")["outcome"] == "passed"
    assert "entrypoint drops to nobody" in privileges("rootallowed")["message"]

    limits = found[("security.resource_limits", "rootuser")]
    assert limits["outcome"] == "warning"
    assert "no memory and no CPU limit" in limits["message"]
    clean_limits = found[("security.resource_limits", "clean")]
    assert clean_limits["outcome"] == "passed"
    assert "64 MiB, 0.50 CPUs" in clean_limits["message"]
    assert result.exit_code == 1


@pytest.mark.slow
def test_image_age_of_old_image(
    opscheck_cli: Any, tmp_path: Path, docker_engine: Any, containers: Any
) -> None:
    config = _config(tmp_path, docker_engine, ["clean", "oldimage"])

    result = opscheck_cli(
        "security",
        "--config",
        config,
        "-k",
        "image_age",
        "--json",
        tmp_path / "report.json",
    )
    found = _results(result, tmp_path)

    old = found[("security.image_age", "oldimage")]
    assert old["outcome"] == "warning"
    assert "created 2020-01-01" in old["message"]
    assert "above the warning level 90.0 days" in old["message"]
    assert found[("security.image_age", "clean")]["outcome"] == "passed"


@pytest.mark.slow
def test_image_scan_skipped_without_trivy(
    opscheck_cli: Any, tmp_path: Path, docker_engine: Any, containers: Any
) -> None:
    config = _config(tmp_path, docker_engine, ["clean"])

    result = opscheck_cli(
        "security",
        "--config",
        config,
        "-k",
        "image_scan",
        "--json",
        tmp_path / "report.json",
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    found = _results(result, tmp_path)

    scan = found[("security.image_scan", "clean")]
    assert scan["outcome"] == "skipped"
    assert "trivy is not on the PATH" in scan["message"]
    assert "install Trivy" in scan["message"]
    assert result.exit_code == 0


def _fake_trivy(folder: Path, body: str) -> dict[str, str]:
    # Trivy cannot be installed here (no registry, no vulnerability database), so a
    # script stands in for it; the report it prints is checked in tests/data.
    folder.mkdir()
    script = folder / "trivy"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return {"PATH": f"{folder}:/usr/sbin:/usr/bin:/sbin:/bin"}


@pytest.mark.slow
def test_image_scan_reads_trivy_report(
    opscheck_cli: Any, tmp_path: Path, docker_engine: Any, containers: Any
) -> None:
    config = _config(tmp_path, docker_engine, ["clean"])
    env = _fake_trivy(tmp_path / "bin", f"cat {DATA / 'trivy-image-report.json'}")

    result = opscheck_cli(
        "security",
        "--config",
        config,
        "-k",
        "image_scan",
        "--json",
        tmp_path / "report.json",
        env=env,
    )
    found = _results(result, tmp_path)

    scan = found[("security.image_scan", "clean")]
    assert scan["outcome"] == "failed"
    assert (
        "CRITICAL vulnerabilities in image opscheck-sectest/busybox:1"
        in scan["message"]
    )
    assert "is 2, above the critical level 0" in scan["message"]
    counts = scan["evidence"]["images"][0]["counts"]
    assert counts == {"CRITICAL": 2, "HIGH": 1, "MEDIUM": 1, "LOW": 0, "UNKNOWN": 0}


@pytest.mark.slow
def test_image_scan_hung_scanner_is_error(
    opscheck_cli: Any, tmp_path: Path, docker_engine: Any, containers: Any
) -> None:
    config = _config(
        tmp_path,
        docker_engine,
        ["clean"],
        checks={"security.image_scan": {"scan_timeout_s": 1.0}},
    )
    env = _fake_trivy(tmp_path / "bin", "sleep 30")
    started = time.monotonic()

    result = opscheck_cli(
        "security",
        "--config",
        config,
        "-k",
        "image_scan",
        "--json",
        tmp_path / "report.json",
        env=env,
    )

    found = _results(result, tmp_path)
    scan = found[("security.image_scan", "clean")]
    assert scan["outcome"] == "error"
    assert "did not finish scanning image" in scan["message"]
    assert time.monotonic() - started < 25


def test_trivy_report_parsing() -> None:
    report = parse_trivy_json((DATA / "trivy-image-report.json").read_text())

    assert report.counts()["CRITICAL"] == 2
    assert [finding.id for finding in report.of_severity("CRITICAL")] == [
        "CVE-2023-0286",
        "CVE-2022-37434",
    ]
    assert report.of_severity("HIGH")[0].package == "libssl3"


def test_trivy_report_legacy_list_and_bad_input() -> None:
    legacy = '[{"Target": "x", "Vulnerabilities": [{"VulnerabilityID": "CVE-1", "Severity": "critical"}]}]'
    assert parse_trivy_json(legacy).count("CRITICAL") == 1
    assert parse_trivy_json('{"SchemaVersion": 2, "Results": null}').findings == []
    with pytest.raises(ValueError, match="not JSON"):
        parse_trivy_json("Fatal error: no DB")
    with pytest.raises(ValueError, match="neither a JSON object"):
        parse_trivy_json('"text"')


def test_published_bindings_of_inspect_data() -> None:
    # Publishing a port needs a bridge network, which this machine never creates,
    # so the NetworkSettings are written by hand in the shape of 'docker inspect'.
    attrs = {
        "Name": "/db",
        "State": {"Status": "running", "Running": True},
        "HostConfig": {"NetworkMode": "bridge", "PortBindings": {}},
        "NetworkSettings": {
            "Ports": {
                "5432/tcp": [
                    {"HostIp": "0.0.0.0", "HostPort": "5432"},
                    {"HostIp": "::", "HostPort": "5432"},
                ],
                "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "15432"}],
                "9000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5432"}],
            }
        },
    }
    bindings = published_bindings(ContainerState.from_attrs(attrs), 5432)

    public = sorted(binding.text for binding in bindings if binding.is_public)
    local = [binding.text for binding in bindings if not binding.is_public]
    assert public == ["0.0.0.0:5432->5432/tcp", ":::5432->5432/tcp"]
    assert local == ["127.0.0.1:5432->9000/tcp"]


# Secrets file -------------------------------------------------------------------


def _env_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / ".env"
    path.write_text(f"POSTGRES_PASSWORD={SECRET}\nSECRET_KEY={SECRET}-2\n")
    path.chmod(mode)
    return path


def _run_secrets(opscheck_cli: Any, tmp_path: Path) -> tuple[Any, dict[str, Any]]:
    config = tmp_path / "opscheck.yaml"
    config.write_text(yaml.safe_dump({"secrets": {"env_file": ".env"}}))
    result = opscheck_cli(
        "security",
        "--config",
        config,
        "-k",
        "secrets",
        "--json",
        tmp_path / "report.json",
    )
    report = result.json(tmp_path / "report.json")
    return result, {item["id"]: item for item in report["results"]}


def test_env_world_readable_fails(opscheck_cli: Any, tmp_path: Path) -> None:
    _env_file(tmp_path, 0o644)

    result, found = _run_secrets(opscheck_cli, tmp_path)

    permissions = found["security.secrets_permissions"]
    assert permissions["outcome"] == "failed"
    assert "has mode 0644" in permissions["message"]
    assert "group read, others read" in permissions["message"]
    assert "chmod 600" in permissions["message"]
    assert permissions["evidence"]["mode"] == "0644"
    everything = result.stdout + result.stderr + (tmp_path / "report.json").read_text()
    for report in (tmp_path / "reports").glob("*"):
        everything += report.read_text(errors="replace")
    assert SECRET not in everything


def test_env_private_and_fresh_passes(opscheck_cli: Any, tmp_path: Path) -> None:
    _env_file(tmp_path, 0o600)

    result, found = _run_secrets(opscheck_cli, tmp_path)

    assert found["security.secrets_permissions"]["outcome"] == "passed"
    assert "mode 0600" in found["security.secrets_permissions"]["message"]
    assert found["security.secrets_age"]["outcome"] == "passed"
    assert result.exit_code == 0


def test_env_not_rotated_warns(opscheck_cli: Any, tmp_path: Path) -> None:
    path = _env_file(tmp_path, 0o600)
    old = datetime(2026, 1, 2, tzinfo=UTC).timestamp()
    os.utime(path, (old, old))

    _, found = _run_secrets(opscheck_cli, tmp_path)

    age = found["security.secrets_age"]
    assert age["outcome"] == "warning"
    assert "last changed 2026-01-02" in age["message"]
    assert "rotate the credentials" in age["message"]


def test_env_missing_is_error(opscheck_cli: Any, tmp_path: Path) -> None:
    _, found = _run_secrets(opscheck_cli, tmp_path)

    for check_id in ("security.secrets_age", "security.secrets_permissions"):
        assert found[check_id]["outcome"] == "error"
        assert "not found; set secrets.env_file" in found[check_id]["message"]


# Database exposure through host networking -------------------------------------------


@pytest.fixture
def namespace() -> Iterator[str]:
    """A network namespace of the test's own, with only a loopback interface."""
    name = f"opscheck-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(
            ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


@pytest.fixture
def listeners(namespace: str) -> Iterator[dict[str, int]]:
    """A TCP listener on 0.0.0.0 and one on 127.0.0.1, both inside the namespace."""
    ports = {"all": free_port(), "loopback": free_port()}
    program = (
        "import socket, sys, time\n"
        "a = socket.create_server(('0.0.0.0', int(sys.argv[1])))\n"
        "b = socket.create_server(('127.0.0.1', int(sys.argv[2])))\n"
        "print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )
    process = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            namespace,
            sys.executable,
            "-c",
            program,
            str(ports["all"]),
            str(ports["loopback"]),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        yield ports
    finally:
        process.kill()
        process.wait(timeout=10)


def _exposure_in_namespace(
    namespace: str, tmp_path: Path, docker_engine: Any, port: int
) -> dict[str, Any]:
    config = _config(
        tmp_path, docker_engine, ["db"], database={"port": port, "service": "db"}
    )
    report = tmp_path / f"report-{port}.json"
    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            namespace,
            str(opscheck_executable()),
            "security",
            "--config",
            str(config),
            "-k",
            "exposed_database",
            "--json",
            str(report),
        ],
        cwd=tmp_path,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    results = json.loads(report.read_text())["results"]
    return next(item for item in results if item["id"] == "security.exposed_database")


@pytest.mark.slow
def test_database_exposure_by_listen_address(
    namespace: str,
    listeners: dict[str, int],
    tmp_path: Path,
    docker_engine: Any,
    containers: Any,
) -> None:
    exposed = _exposure_in_namespace(
        namespace, tmp_path, docker_engine, listeners["all"]
    )
    local = _exposure_in_namespace(
        namespace, tmp_path, docker_engine, listeners["loopback"]
    )
    absent = _exposure_in_namespace(namespace, tmp_path, docker_engine, free_port())

    assert exposed["outcome"] == "failed"
    assert f"database port {listeners['all']}" in exposed["message"]
    assert "listens on all addresses" in exposed["message"]
    assert local["outcome"] == "passed", local["message"]
    assert f"127.0.0.1:{listeners['loopback']}" in local["evidence"]["listeners"]
    assert absent["outcome"] == "error"
    assert "nothing listens on port" in absent["message"]


def _exposure_results(
    opscheck_cli: Any, tmp_path: Path, config: Path
) -> list[dict[str, Any]]:
    report = tmp_path / "report.json"
    result = opscheck_cli(
        "security", "--config", config, "-k", "exposed_database", "--json", report
    )
    results: list[dict[str, Any]] = result.json(report)["results"]
    return results


@pytest.mark.slow
def test_database_exposure_runs_once_per_database(
    opscheck_cli: Any, tmp_path: Path, docker_engine: Any, containers: Any
) -> None:
    services = ["clean", "privileged", "socket", "rootuser", "db"]
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        config = _config(
            tmp_path,
            docker_engine,
            services,
            database={"name": "shop", "service": "db", "port": port},
        )
        results = _exposure_results(opscheck_cli, tmp_path, config)

    assert [(item["id"], item["target"]) for item in results] == [
        ("security.exposed_database", "shop")
    ]
    found = results[0]
    assert found["outcome"] == "passed", found["message"]
    assert found["message"] == (
        f"database port {port} of service db is reachable from this host only"
    )
    assert found["evidence"]["service"] == "db"
    assert f"127.0.0.1:{port}" in found["evidence"]["listeners"]


@pytest.mark.slow
def test_database_exposure_without_db_container_is_error(
    opscheck_cli: Any, tmp_path: Path, docker_engine: Any, containers: Any
) -> None:
    config = _config(
        tmp_path,
        docker_engine,
        ["clean", "db"],
        database={"service": "postgres", "port": free_port()},
    )

    results = _exposure_results(opscheck_cli, tmp_path, config)

    assert [item["target"] for item in results] == ["taskdb"]
    assert results[0]["outcome"] == "error"
    assert results[0]["message"] == (
        "service postgres has no running container to inspect; start it with "
        "'docker-compose up -d postgres'"
    )
