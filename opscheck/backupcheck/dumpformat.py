"""The shape of a plain-format pg_dump: its header at the start, its completion line near the end.

pg_dump (plain format, every version since 8.x) starts its output with the comment
``-- PostgreSQL database dump`` and writes ``-- PostgreSQL database dump complete``
after its last statement. PostgreSQL 13.22, 14.19, 15.14, 16.10 and 17.6 and later
write ``\\restrict KEY`` after the header and ``\\unrestrict KEY`` after the completion
line, so the completion line is searched for in the tail, not required to be last.
Only the first and the last few KiB are kept; the text between is never held.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

HEAD_SIZE = 8192
TAIL_SIZE = 65536
HEADER = b"-- PostgreSQL database dump"
COMPLETION = b"-- PostgreSQL database dump complete"
# The header comes within the first lines: "--", the header, "--".
HEADER_LINES = 5

# What an empty dump leaves instead, when stderr went into the file too: pg_dump's own
# errors, and those of docker exec when the container is gone.
_ERROR_LINE = re.compile(
    rb"^(pg_dump: (error|fatal)|pg_dump: \[|Error response from daemon|"
    rb"OCI runtime exec failed|Error: No such container|.*could not connect to server)",
    re.IGNORECASE,
)

Shape = Literal["ok", "empty", "error_message", "no_header", "incomplete"]


@dataclass(frozen=True)
class DumpShape:
    """What the start and the tail of a dump show."""

    shape: Shape
    sql_bytes: int
    first_line: str
    last_line: str
    after_completion: str = ""

    @property
    def is_complete(self) -> bool:
        """True when the dump has pg_dump's header and its completion line."""
        return self.shape == "ok"


def _text(line: bytes, limit: int = 120) -> str:
    text = line.decode("utf-8", errors="replace").strip()
    return text if len(text) <= limit else text[:limit] + "..."


class DumpScanner:
    """Fed the decompressed SQL piece by piece, keeps only its head and its tail."""

    def __init__(self) -> None:
        self.head = b""
        self.tail = b""
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        """Take the next piece of the SQL text."""
        self.size += len(chunk)
        if len(self.head) < HEAD_SIZE:
            self.head += chunk[: HEAD_SIZE - len(self.head)]
        if len(chunk) >= TAIL_SIZE:
            self.tail = chunk[-TAIL_SIZE:]
        else:
            self.tail = (self.tail + chunk)[-TAIL_SIZE:]

    def shape(self) -> DumpShape:
        """Classify the dump from what was fed."""
        lines = [line for line in self.head.splitlines() if line.strip()]
        first = _text(lines[0]) if lines else ""
        tail_lines = [line for line in self.tail.splitlines() if line.strip()]
        last = _text(tail_lines[-1]) if tail_lines else ""

        if self.size == 0 or not lines:
            return DumpShape("empty", self.size, first, last)
        if not any(line.rstrip() == HEADER for line in lines[:HEADER_LINES]):
            if any(_ERROR_LINE.match(line) for line in lines[:HEADER_LINES]):
                return DumpShape("error_message", self.size, first, last)
            return DumpShape("no_header", self.size, first, last)

        position = self.tail.rfind(COMPLETION)
        if position < 0:
            return DumpShape("incomplete", self.size, first, last)
        following = self.tail[position + len(COMPLETION) :].splitlines()[1:]
        # After the completion line pg_dump writes only comment lines, blank lines and
        # psql meta-commands such as \unrestrict; SQL there is another, partial dump.
        stray = [
            line
            for line in following
            if line.strip() and not line.lstrip().startswith((b"--", b"\\"))
        ]
        if stray:
            return DumpShape(
                "incomplete", self.size, first, last, after_completion=_text(stray[0])
            )
        return DumpShape("ok", self.size, first, last)
