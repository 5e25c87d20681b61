"""Benchmark: opscheck's log scan against grep on the same 1 GB log file.

Generates a realistic log (container lines with timestamps, about 1 % error lines,
colour codes, some invalid UTF-8) once in a temp folder and reuses it, then times
``grep -ciE 'error|fatal|exception' FILE`` and opscheck's scan with each engine, in the
same run, several rounds, each scan in its own process so its peak memory is its own.

    .venv/bin/python bench/bench_logscan.py [--size-mb 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PATTERN = "error|fatal|exception"
FOLDER = Path(tempfile.gettempdir()) / "opscheck-bench"

_SCAN = """
import json, resource, sys, time
from pathlib import Path
from opscheck.logscan.matcher import make_matcher
from opscheck.logscan.reader import ReadStats
from opscheck.logscan.scan import matching_in_file
started = time.perf_counter()
matcher = make_matcher([sys.argv[2]], sys.argv[3])
count = sum(1 for _ in matching_in_file(Path(sys.argv[1]), matcher, ReadStats(), 65536))
elapsed = time.perf_counter() - started
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"count": count, "seconds": elapsed, "peak_kib": peak_kib}))
"""


def _lines(rng: random.Random) -> list[bytes]:
    services = ["backend", "frontend", "worker"]
    infos = [
        "GET /api/tasks 200 {n}ms",
        "POST /api/tasks/{n} 201 {n}ms",
        "worker heartbeat: {n} jobs queued",
        "cache hit ratio 0.{n}",
        "user {n} logged in from 10.0.{n}.7",
    ]
    problems = [
        "\x1b[31mERROR\x1b[0m request GET /api/tasks failed: database query error",
        "Traceback: sqlalchemy.exc.OperationalError: connection lost",
        "FATAL: terminating connection due to administrator command",
        "unhandled Exception in worker {n}",
    ]
    lines = []
    for number in range(200_000):
        moment = f"2026-12-04T{number % 24:02d}:{number % 60:02d}:{number % 59:02d}Z"
        service = services[number % 3]
        if rng.random() < 0.01:
            text = rng.choice(problems)
            level = "ERROR"
        else:
            text = rng.choice(infos)
            level = "INFO"
        line = f"{moment} {level} {service} {text.format(n=rng.randint(1, 999))}"
        raw = line.encode()
        if number % 5000 == 0:
            raw += b" \xff\xfe invalid bytes"
        lines.append(raw)
    return lines


def ensure_log(size_mb: int) -> Path:
    """Write the log file unless one of this size is already there."""
    path = FOLDER / f"logscan-{size_mb}mb.log"
    target = size_mb << 20
    if path.exists() and path.stat().st_size >= target:
        return path
    FOLDER.mkdir(parents=True, exist_ok=True)
    chunk = b"\n".join(_lines(random.Random(7))) + b"\n"
    partial = path.with_suffix(".partial")
    with partial.open("wb") as handle:
        written = 0
        while written < target:
            handle.write(chunk)
            written += len(chunk)
    partial.replace(path)
    return path


def time_grep(path: Path) -> tuple[float, int]:
    started = time.perf_counter()
    completed = subprocess.run(
        ["grep", "-ciE", PATTERN, str(path)],
        capture_output=True,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )
    elapsed = time.perf_counter() - started
    return elapsed, int(completed.stdout.strip() or 0)


def time_scan(path: Path, engine: str) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, "-c", _SCAN, str(path), PATTERN, engine],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(completed.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--engines", default="hyperscan,python", help="comma-separated engines"
    )
    args = parser.parse_args()

    path = ensure_log(args.size_mb)
    size_mib = path.stat().st_size / (1 << 20)
    print(f"log file: {path} ({size_mib:.0f} MiB)")

    grep_times = []
    scans: dict[str, list[dict[str, float]]] = {}
    expected = None
    for round_number in range(1, args.rounds + 1):
        seconds, expected = time_grep(path)
        grep_times.append(seconds)
        print(f"round {round_number}: grep {seconds:.2f} s, {expected} lines")
        for engine in args.engines.split(","):
            result = time_scan(path, engine)
            scans.setdefault(engine, []).append(result)
            print(
                f"round {round_number}: opscheck {engine} {result['seconds']:.2f} s, "
                f"{result['count']:.0f} lines, peak RSS {result['peak_kib'] / 1024:.0f} MiB"
            )
            if result["count"] != expected:
                print(f"MISMATCH: {engine} counted {result['count']}, grep {expected}")
                return 1

    grep_median = statistics.median(grep_times)
    print(f"grep median {grep_median:.2f} s")
    for engine, results in scans.items():
        median = statistics.median(result["seconds"] for result in results)
        peak = max(result["peak_kib"] for result in results) / 1024
        print(
            f"opscheck {engine}: median {median:.2f} s, ratio to grep "
            f"{median / grep_median:.2f}, peak RSS {peak:.0f} MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
