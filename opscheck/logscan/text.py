"""Turn the raw bytes of a log line into text fit for a report."""

from __future__ import annotations

import re

# CSI sequences such as "\x1b[31m" (colour) and "\x1b[2K" (erase line).
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

EVIDENCE_CHARS = 300


def decode_line(raw: bytes) -> str:
    """Decode a line as UTF-8, writing invalid bytes as ``\\xNN``, without colour codes."""
    text = raw.decode("utf-8", errors="backslashreplace").rstrip("\r\n")
    text = _ANSI.sub("", text)
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def is_valid_utf8(raw: bytes) -> bool:
    """Tell whether ``raw`` is valid UTF-8."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def shorten(text: str, limit: int = EVIDENCE_CHARS) -> str:
    """Cut ``text`` to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"
