"""Running one remediation executable with a time limit on its whole process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from opscheck.log import logger

# Seconds between SIGTERM and SIGKILL when a remediation runs past its timeout.
KILL_GRACE_S = 5.0
MAX_OUTPUT_CHARS = 64 * 1024
# Variables of opscheck's own environment that a remediation may see; everything
# else, secrets of the caller included, stays out.
PASSED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH")


@dataclass(frozen=True)
class Execution:
    """The end state of one remediation process: status, output, duration, timeout."""

    exit_status: int | None
    output: str
    duration_s: float
    timed_out: bool


def environment(extra: Mapping[str, str]) -> dict[str, str]:
    """Return the environment of a remediation: a few of ours, plus ``extra``."""
    passed = {name: os.environ[name] for name in PASSED_VARIABLES if name in os.environ}
    passed.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return {**passed, **extra}


def _tail(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARS:
        return text
    return "[output cut to its last 64 KiB]\n" + text[-MAX_OUTPUT_CHARS:]


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data


def _stop_group(process: subprocess.Popen[bytes]) -> bytes:
    """Send SIGTERM to the process group, then SIGKILL after the grace period."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:
            break
        try:
            output, _ = process.communicate(timeout=KILL_GRACE_S)
            if sent == signal.SIGTERM:
                # The leader ended, but children in its group may ignore SIGTERM.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            return output or b""
        except subprocess.TimeoutExpired:
            logger.warning(
                "remediation process %d ignored %s; sending SIGKILL",
                process.pid,
                sent.name,
            )
    output, _ = process.communicate()
    return output or b""


def execute(argv: Sequence[str], env: Mapping[str, str], timeout_s: float) -> Execution:
    """Run ``argv`` without a shell, in its own process group, for at most ``timeout_s``.

    Standard output and error are merged. After the timeout the whole group gets
    SIGTERM, and SIGKILL when it is still there ``KILL_GRACE_S`` later.
    """
    started = time.monotonic()
    logger.info("running remediation %s", " ".join(argv))
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env),
        start_new_session=True,
        shell=False,
    )
    timed_out = False
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired as expired:
        timed_out = True
        logger.warning(
            "remediation %s timed out after %.0f s; stopping its process group",
            argv[1] if len(argv) > 1 else argv[0],
            timeout_s,
        )
        output = _decode(expired.output).encode() + _stop_group(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    duration = time.monotonic() - started
    return Execution(
        exit_status=process.returncode,
        output=_tail(_decode(output)),
        duration_s=round(duration, 3),
        timed_out=timed_out,
    )
