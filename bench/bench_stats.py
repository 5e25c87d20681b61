"""Benchmark: sampling container stats for resources.cpu against ``docker stats``.

Starts N idle busybox containers with compose labels on the engine that DOCKER_HOST
names (or the default socket), then times, for several rounds in the same command:

- ``docker stats --no-stream`` on the N containers (the runbook's command, the peer),
- opscheck's ``StatsSampler`` (every container in threads, as the checks use it),
- ``read_frames`` on one container after another (what sampling without threads costs).

It prints the median wall time of each and the ratios to the peer, and removes its
containers and image at the end.

    .venv/bin/python bench/bench_stats.py [--containers 6] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opscheck.fixtures.docker import DockerEngine
from opscheck.fixtures.stats import StatsSampler, read_frames

from tests.support.engines import busybox_rootfs_tar

IMAGE = "opscheck-bench-busybox:latest"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def timed(action: Any) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    client = docker.DockerClient(base_url=host)
    docker_cli = shutil.which("docker", path=SYSTEM_PATH)
    if docker_cli is None:
        print("docker CLI not found on the system PATH", file=sys.stderr)
        return 2

    repository, tag = IMAGE.split(":")
    client.api.import_image_from_data(
        busybox_rootfs_tar(),
        repository=repository,
        tag=tag,
        changes=["ENV PATH=/bin", 'CMD ["/bin/sh"]'],
    )
    project = f"benchstats{uuid.uuid4().hex[:6]}"
    services = [f"svc{index}" for index in range(options.containers)]
    containers = [
        client.containers.run(
            IMAGE,
            ["sleep", "3600"],
            name=f"{project}_{service}_1",
            labels={
                "com.docker.compose.project": project,
                "com.docker.compose.service": service,
            },
            network_mode="host",
            init=True,
            detach=True,
        )
        for service in services
    ]
    try:
        engine = DockerEngine(host, timeout_s=30)
        names = [container.name for container in containers]
        environment = {"PATH": SYSTEM_PATH, "DOCKER_HOST": host}
        peer, threaded, sequential = [], [], []
        for _ in range(options.rounds):
            peer.append(
                timed(
                    lambda: subprocess.run(
                        [docker_cli, "stats", "--no-stream", *names],
                        env=environment,
                        capture_output=True,
                        check=True,
                    )
                )
            )
            sampler = StatsSampler(engine, project, services)
            threaded.append(timed(lambda: sampler.for_service(services[0])))  # noqa: B023
            sequential.append(
                timed(lambda: [read_frames(container) for container in containers])
            )
        engine.close()
    finally:
        for container in containers:
            container.remove(force=True)
        client.images.remove(IMAGE, force=True)

    peer_median = statistics.median(peer)
    print(f"containers: {options.containers}, rounds: {options.rounds}")
    print(f"docker stats --no-stream  median {peer_median:.2f} s")
    for label, times in (
        ("StatsSampler (threads)", threaded),
        ("sequential", sequential),
    ):
        median = statistics.median(times)
        print(f"{label:<25} median {median:.2f} s  ratio {median / peer_median:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
