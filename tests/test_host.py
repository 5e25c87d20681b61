"""host.packages through pytest-testinfra: the real local host and busybox containers.

The local host's package lists are whatever the last ``apt update`` left, so those
tests hold the check against what apt itself reports. A busybox container has no apt
and gives the skip; one with a script named ``apt`` that prints a fixed listing gives
the pass and the failure deterministically (that script is the only fake here).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from opscheck.fixtures.host import (
    parse_proc_net_tcp,
    parse_release_date,
    parse_upgradable,
)

CHECK = "host.packages"
LISTING = (
    "Listing...\n"
    "openssl/stable-security 3.0.15-1~deb12u1 amd64 [upgradable from: 3.0.14-1~deb12u2]\n"
    "tzdata/stable-updates,stable 2024b-0+deb12u1 all [upgradable from: 2024a-0+deb12u1]\n"
)


def _run(
    opscheck_cli: Any,
    tmp_path: Path,
    backend: str,
    env: dict[str, str] | None = None,
    **levels: Any,
) -> dict[str, Any]:
    config = tmp_path / "opscheck.yaml"
    data: dict[str, Any] = {"host": {"backend": backend}}
    if levels:
        data["checks"] = {CHECK: levels}
    config.write_text(yaml.safe_dump(data))
    result = opscheck_cli(
        "weekly",
        "--config",
        config,
        "-k",
        CHECK,
        "--json",
        tmp_path / "r.json",
        env=env,
    )
    report = result.json(tmp_path / "r.json")
    return report["results"][0]  # type: ignore[no-any-return]


def _apt_upgradable() -> str:
    return subprocess.run(
        ["apt", "list", "--upgradable"],
        capture_output=True,
        text=True,
        check=True,
        env={"LANG": "C", "PATH": "/usr/bin:/bin"},
    ).stdout


def test_local_host_counts_as_apt_does(opscheck_cli: Any, tmp_path: Path) -> None:
    upgrades = parse_upgradable(_apt_upgradable())
    security = [upgrade for upgrade in upgrades if upgrade.is_security]

    result = _run(opscheck_cli, tmp_path, "local://", critical=100000)

    assert result["evidence"]["pending"] == len(upgrades)
    assert result["evidence"]["security_pending"] == len(security)
    if upgrades:
        assert result["outcome"] == "warning"
        assert f"has {len(upgrades)} pending package upgrades" in result["message"]
    else:
        assert result["outcome"] == "passed"
    if security:
        assert "estimate" in result["evidence"]["wait_estimate"]
        assert result["evidence"]["security_list_date_source"] == "Date field"


def test_local_security_wait_over_level_fails(
    opscheck_cli: Any, tmp_path: Path
) -> None:
    if not any(upgrade.is_security for upgrade in parse_upgradable(_apt_upgradable())):
        pytest.skip("this host has no pending security upgrade")

    result = _run(opscheck_cli, tmp_path, "local://", critical=0)

    assert result["outcome"] == "failed"
    assert "security upgrades on host local://" in result["message"]
    assert "above the critical level 0.0 days" in result["message"]


@pytest.fixture
def fake_apt_container(docker_engine: Any) -> Iterator[Any]:
    """A busybox container with an ``apt`` script and a security InRelease file."""
    image = docker_engine.busybox_image("opscheck-hosttest/busybox:1")
    container = docker_engine.client.containers.run(
        image, ["sleep", "300"], detach=True, init=True, network_mode="none"
    )
    try:
        yield container
    finally:
        container.remove(force=True)


def _install_apt(container: Any, listing: str, release_date: str) -> None:
    files = {
        "bin/apt": (f"#!/bin/sh\ncat <<'LIST'\n{listing}LIST\n", 0o755),
        "var/lib/apt/lists/deb_dists_bookworm-security_InRelease": (
            f"Origin: Debian\nDate: {release_date}\n",
            0o644,
        ),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, (text, mode) in files.items():
            data = text.encode()
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            entry.mode = mode
            archive.addfile(entry, io.BytesIO(data))
    assert container.put_archive("/", buffer.getvalue())


@pytest.mark.slow
def test_host_without_apt_is_skipped(
    opscheck_cli: Any, tmp_path: Path, docker_engine: Any, fake_apt_container: Any
) -> None:
    result = _run(
        opscheck_cli,
        tmp_path,
        f"docker://{fake_apt_container.id}",
        env={"DOCKER_HOST": docker_engine.host},
    )

    assert result["outcome"] == "skipped"
    assert "has no apt" in result["message"]


@pytest.mark.slow
def test_old_security_upgrade_fails(
    opscheck_cli: Any, tmp_path: Path, docker_engine: Any, fake_apt_container: Any
) -> None:
    _install_apt(fake_apt_container, LISTING, "Sat, 01 Jun 2024 09:00:00 UTC")

    result = _run(
        opscheck_cli,
        tmp_path,
        f"docker://{fake_apt_container.id}",
        env={"DOCKER_HOST": docker_engine.host},
    )

    assert result["outcome"] == "failed"
    assert "2 security upgrades" not in result["message"]
    assert "1 security upgrades" in result["message"]
    assert "(openssl)" in result["message"]
    assert result["evidence"]["pending"] == 2
    assert result["evidence"]["security_list_date"] == "2024-06-01T09:00:00+00:00"


@pytest.mark.slow
def test_host_without_upgrades_passes(
    opscheck_cli: Any, tmp_path: Path, docker_engine: Any, fake_apt_container: Any
) -> None:
    _install_apt(fake_apt_container, "Listing...\n", "Sat, 01 Jun 2024 09:00:00 UTC")

    result = _run(
        opscheck_cli,
        tmp_path,
        f"docker://{fake_apt_container.id}",
        env={"DOCKER_HOST": docker_engine.host},
    )

    assert result["outcome"] == "passed", result["message"]
    assert "has 0 pending package upgrades" in result["message"]


def test_upgradable_parsing() -> None:
    upgrades = parse_upgradable(LISTING + "WARNING: apt does not have a stable CLI\n")

    assert [upgrade.name for upgrade in upgrades] == ["openssl", "tzdata"]
    assert upgrades[0].is_security
    assert not upgrades[1].is_security
    assert upgrades[1].suites == ("stable-updates", "stable")
    assert upgrades[0].current == "3.0.14-1~deb12u2"


def test_release_date_parsing() -> None:
    moment = parse_release_date("Origin: Debian\nDate: Wed, 02 Dec 2026 23:13:43 UTC\n")

    assert moment is not None
    assert moment.isoformat() == "2026-12-02T23:13:43+00:00"
    assert parse_release_date("Origin: Debian\n") is None
    assert parse_release_date("Date: not a date\n") is None


def test_proc_net_tcp_parsing() -> None:
    tcp = (
        "  sl  local_address rem_address   st tx_queue rx_queue\n"
        "   0: 0100007F:1538 00000000:0000 0A 00000000:00000000\n"
        "   1: 00000000:1F90 00000000:0000 0A 00000000:00000000\n"
        "   2: 0100007F:1538 0100007F:C350 01 00000000:00000000\n"
    )
    tcp6 = (
        "  sl  local_address                         remote_address\n"
        "   0: 00000000000000000000000000000000:1538 00000000000000000000000000000000:0000 0A\n"
        "   1: 00000000000000000000000001000000:1538 00000000000000000000000000000000:0000 0A\n"
    )

    found = parse_proc_net_tcp(tcp) + parse_proc_net_tcp(tcp6)

    assert [(item.address, item.port) for item in found] == [
        ("127.0.0.1", 5432),
        ("0.0.0.0", 8080),
        ("::", 5432),
        ("::1", 5432),
    ]
    assert [item.is_loopback for item in found] == [True, False, False, True]
