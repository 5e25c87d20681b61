"""Asking a person at a terminal to confirm a remediation, under ``--remediate ask``."""

from __future__ import annotations

import sys
from contextlib import suppress
from typing import IO


def _open_terminal() -> tuple[IO[str], IO[str]] | None:
    # pytest replaces standard input while checks run, so the controlling terminal
    # is opened directly; standard input is the fallback outside pytest.
    with suppress(OSError):
        tty = open("/dev/tty", "r+", encoding="utf-8")  # noqa: SIM115
        return tty, tty
    with suppress(AttributeError, ValueError):
        if sys.__stdin__ is not None and sys.__stdin__.isatty():
            return sys.__stdin__, sys.__stderr__ or sys.stderr
    return None


def confirm(question: str) -> bool | None:
    """Ask ``question``; return True for yes, False for no, None when there is no terminal."""
    opened = _open_terminal()
    if opened is None:
        return None
    reader, writer = opened
    try:
        writer.write(f"{question} [y/N] ")
        writer.flush()
        answer = reader.readline()
    finally:
        if reader.name == "/dev/tty":
            reader.close()
    return answer.strip().lower() in ("y", "yes")
