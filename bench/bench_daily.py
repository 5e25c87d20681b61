"""Benchmark: ``opscheck daily`` against the runbook's daily-health-check.sh on the demo.

Both run on the same demo stack in the same command, one after the other, for several
rounds: ``opscheck daily --config FILE`` and ``bench/daily-health-check.sh`` (the
runbook's script with the demo's compose project, file and ports). The benchmark
reports the median wall time of each, their ratio, and how many expectations each one
judges: opscheck's results, and none for the script, whose output a person reads.

    .venv/bin/python bench/bench_daily.py [--config opscheck-demo.yaml] [--rounds 3]

Without ``--config`` it brings up its own demo stack in a temporary folder on the
engine that DOCKER_HOST names (or the default socket) and takes it down afterwards.
The demo's compose project is always ``taskmanagement``, so do not run it beside
another demo stack on the same engine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "daily-health-check.sh"
OPSCHECK = Path(sys.prefix) / "bin" / "opscheck"
# docker-compose 1.29 runs on the system Python and breaks on the virtualenv's
# docker SDK, so the script gets a PATH without the virtualenv.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Commands in daily-health-check.sh that look at the stack (echo lines not counted).
SCRIPT_COMMANDS = 9


@contextmanager
def demo_config(given: Path | None) -> Iterator[Path]:
    """Yield the config of a running demo stack, starting one when none is given."""
    if given is not None:
        yield given.resolve()
        return

    from opscheck.demo.stack import DemoStack

    folder = Path(tempfile.mkdtemp(prefix="opscheck-bench-daily-"))
    stack = DemoStack(folder / "demo", config_path=folder / "opscheck-demo.yaml")
    try:
        result = stack.up()
        yield result.config_path
    finally:
        stack.down()
        shutil.rmtree(folder, ignore_errors=True)


def script_environment(config_path: Path) -> dict[str, str]:
    """Return the environment that points the shell script at the config's demo."""
    config = yaml.safe_load(config_path.read_text())
    base = config_path.parent
    compose_file = Path(config["compose"]["file"])
    environment = {
        "PATH": SYSTEM_PATH,
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "COMPOSE_FILE": str(
            compose_file if compose_file.is_absolute() else base / compose_file
        ),
        "PROJECT": config["compose"]["project"],
        "BACKEND_URL": config["endpoints"]["backend"]["url"],
        "FRONTEND_URL": config["endpoints"]["frontend"]["url"],
    }
    host = (config.get("docker") or {}).get("host") or os.environ.get("DOCKER_HOST")
    if host:
        environment["DOCKER_HOST"] = host
    return environment


def time_script(environment: dict[str, str]) -> tuple[float, int]:
    """Run the shell script once; return its wall time and exit status."""
    started = time.perf_counter()
    completed = subprocess.run(
        ["bash", str(SCRIPT)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if "Health Check Complete" not in completed.stdout:
        raise SystemExit(
            f"daily-health-check.sh broke off (exit {completed.returncode}): "
            f"{completed.stderr.strip()[-500:]}"
        )
    return elapsed, completed.returncode


def time_opscheck(config_path: Path, folder: Path) -> tuple[float, int, dict[str, int]]:
    """Run ``opscheck daily`` once; return wall time, exit status and outcome counts."""
    report = folder / "daily.json"
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPSCHECK_", "PYTEST_"))
    }
    started = time.perf_counter()
    completed = subprocess.run(
        [
            str(OPSCHECK),
            "daily",
            "--config",
            str(config_path),
            "--json",
            str(report),
            "--report-dir",
            str(folder / "reports"),
        ],
        env=environment,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if not report.is_file():
        raise SystemExit(
            f"opscheck daily wrote no report (exit {completed.returncode}): "
            f"{completed.stderr.strip()[-500:]}"
        )
    outcomes: dict[str, int] = {}
    for result in json.loads(report.read_text())["results"]:
        outcomes[result["outcome"]] = outcomes.get(result["outcome"], 0) + 1
        if result["outcome"] != "passed":
            print(
                f"  {result['id']}[{result['target']}] {result['outcome']}: {result['message']}"
            )
    return elapsed, completed.returncode, outcomes


def main() -> int:
    """Run the rounds and print one line per round and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", type=Path, help="config of a running demo stack")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default: 3)")
    options = parser.parse_args()

    with (
        demo_config(options.config) as config_path,
        tempfile.TemporaryDirectory() as work,
    ):
        environment = script_environment(config_path)
        script_times: list[float] = []
        opscheck_times: list[float] = []
        outcomes: dict[str, int] = {}
        for number in range(1, options.rounds + 1):
            script_s, script_status = time_script(environment)
            opscheck_s, opscheck_status, outcomes = time_opscheck(
                config_path, Path(work)
            )
            script_times.append(script_s)
            opscheck_times.append(opscheck_s)
            print(
                f"round {number}: script {script_s:.2f} s (exit {script_status}), "
                f"opscheck daily {opscheck_s:.2f} s (exit {opscheck_status})"
            )

    script_median = statistics.median(script_times)
    opscheck_median = statistics.median(opscheck_times)
    judged = sum(outcomes.values())
    print(
        f"script median {script_median:.2f} s, {SCRIPT_COMMANDS} commands, 0 expectations "
        "judged (a person reads the output)"
    )
    print(
        f"opscheck daily median {opscheck_median:.2f} s, {judged} expectations judged "
        f"({', '.join(f'{count} {name}' for name, count in sorted(outcomes.items()))})"
    )
    print(f"ratio opscheck/script {opscheck_median / script_median:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
