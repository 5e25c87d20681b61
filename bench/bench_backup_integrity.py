"""Time opscheck's backup integrity check against ``gzip -t`` on the same 1 GB dump.

The dump is built once and cached in $OPSCHECK_BENCH_CACHE (default
/var/tmp/opscheck-bench): about 1 GB of pg_dump-shaped SQL with random rows, gzipped
with ``gzip -6`` to roughly 200-300 MB. Each tool runs in a child process, and its peak
RSS is the ru_maxrss that os.wait4 returns for that child.
"""

from __future__ import annotations

import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(os.environ.get("OPSCHECK_BENCH_CACHE", "/var/tmp/opscheck-bench"))
TARGET_BYTES = 1_000_000_000
BLOCK_ROWS = 400_000
WORDS = [
    w.encode()
    for w in [
        "todo",
        "doing",
        "done",
        "review",
        "urgent",
        "later",
        "bug",
        "feature",
        "docs",
        "ops",
    ]
]

CHILD = """
import sys, time
from pathlib import Path
from opscheck.backupcheck import verify_backup
started = time.monotonic()
report = verify_backup(Path(sys.argv[1]), engine=sys.argv[2])
elapsed = time.monotonic() - started
assert report.problem is None, report.message
print(elapsed)
"""


def build_block(seed: int) -> bytes:
    """Return COPY rows like a tasks table: ids, words, a digest, a date."""
    generator = random.Random(seed)
    rows = []
    for i in range(BLOCK_ROWS):
        words = b" ".join(
            generator.choice(WORDS) for _ in range(generator.randint(3, 9))
        )
        digest = generator.getrandbits(128).to_bytes(16, "big").hex().encode()
        rows.append(
            b"%d\t%d\tTask %s\t%s\t2026-%02d-%02d\n"
            % (i, generator.randint(1, 500), digest, words, 1 + i % 12, 1 + i % 28)
        )
    return b"".join(rows)


def build_dump() -> Path:
    """Write the gzipped dump unless it is cached; return its path."""
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / "backup_bench_1gb.sql.gz"
    if target.is_file():
        return target
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        gzip_process = subprocess.Popen(
            ["gzip", "-6", "-c"], stdin=subprocess.PIPE, stdout=out
        )
        assert gzip_process.stdin is not None
        header = (
            b"--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n"
        )
        gzip_process.stdin.write(
            header
            + b"COPY public.tasks (id, project_id, title, status, due) FROM stdin;\n"
        )
        written, seed = 0, 0
        while written < TARGET_BYTES:
            block = build_block(seed)
            gzip_process.stdin.write(block)
            written += len(block)
            seed += 1
        gzip_process.stdin.write(
            b"\\.\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict bench\n\n"
        )
        gzip_process.stdin.close()
        gzip_process.wait()
    partial.replace(target)
    return target


def timed_child(command: list[str]) -> tuple[float, int]:
    """Run a command; return its wall time and its own peak RSS in KiB (from wait4)."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} exited with status {process.returncode}")
    return elapsed, usage.ru_maxrss


def main() -> int:
    dump = build_dump()
    subprocess.run(
        ["cat", str(dump)], check=True, stdout=subprocess.DEVNULL
    )  # warm cache
    gzip_s, gzip_rss = timed_child(["gzip", "-t", str(dump)])
    results = {}
    for engine in ("isal", "zlib"):
        elapsed, rss = timed_child([sys.executable, "-c", CHILD, str(dump), engine])
        results[engine] = (elapsed, rss)
    size_mb = dump.stat().st_size / 1e6
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"file: {dump} ({size_mb:.0f} MB gzipped, 1.0 GB of SQL)")
    print(f"gzip -t: {gzip_s:.2f} s, peak RSS {gzip_rss / 1024:.0f} MiB")
    for engine, (elapsed, rss) in results.items():
        print(
            f"opscheck ({engine}): {elapsed:.2f} s, ratio {elapsed / gzip_s:.2f} x gzip -t, "
            f"peak RSS {rss / 1024:.0f} MiB"
        )
    isal_s, isal_rss = results["isal"]
    ok = isal_s <= 0.4 * gzip_s and isal_rss < 100 * 1024
    print("target (isal <= 0.4 x gzip -t, < 100 MB):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
