"""Asking a person at a terminal to confirm a remediation, under ``--remediate ask``.

The question and the answer go through the controlling terminal, ``/dev/tty``, and
never through standard input or output: pytest replaces both while checks run, and
they may be redirected to files even when a person sits at the terminal.
"""

from __future__ import annotations

import os

TERMINAL = "/dev/tty"
# Reading stops after this many bytes, so a longer reply never counts as a yes.
_LINE_LIMIT = 4096


def _open_terminal() -> int | None:
    """Return a descriptor of the controlling terminal, or None when there is none."""
    try:
        return os.open(TERMINAL, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None


def _read_line(descriptor: int) -> bytes:
    # In canonical mode each read returns at most one line, so the loop ends at the
    # newline, at end of input (Ctrl-D) or at the limit.
    line = b""
    while b"\n" not in line and len(line) < _LINE_LIMIT:
        chunk = os.read(descriptor, _LINE_LIMIT)
        if not chunk:
            break
        line += chunk
    return line


def confirm(question: str) -> bool | None:
    """Ask ``question``; return True for yes, False for no, None when there is no terminal."""
    descriptor = _open_terminal()
    if descriptor is None:
        return None

    try:
        os.write(descriptor, f"{question} [y/N] ".encode())
        answer = _read_line(descriptor)
    except OSError:
        return None
    finally:
        os.close(descriptor)

    return answer.decode("utf-8", "replace").strip().lower() in ("y", "yes")
