"""Turn the raw bytes of a log line into text fit for a report and a terminal.

Text from the checked system can carry escape sequences that retitle or redraw the
terminal that shows a report (``\\x1b]0;title\\x07``). Colour codes are dropped, and every
other C0 or C1 control character except tab is written as a visible ``\\xNN``.
"""

from __future__ import annotations

import re

# CSI sequences such as "\x1b[31m" (colour) and "\x1b[2K" (erase line).
_CSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# C0 controls but tab, DEL, and the C1 controls U+0080 to U+009F.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")

EVIDENCE_CHARS = 300


def _visible(found: re.Match[str]) -> str:
    return f"\\x{ord(found.group()):02x}"


def escape_controls(text: str) -> str:
    """Write every control character of ``text`` but tab as ``\\xNN``."""
    return _CONTROL.sub(_visible, text)


def decode_line(raw: bytes) -> str:
    """Decode a line as UTF-8, writing invalid bytes as ``\\xNN``, without colour codes."""
    text = raw.decode("utf-8", errors="backslashreplace").rstrip("\r\n")
    return escape_controls(_CSI.sub("", text))


def is_valid_utf8(raw: bytes) -> bool:
    """Tell whether ``raw`` is valid UTF-8."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def shorten(text: str, limit: int = EVIDENCE_CHARS) -> str:
    """Cut ``text`` to at most ``limit`` characters, keeping its start and its end.

    The middle is replaced by a note of how many characters were left out, so the end
    of a line (such as the upstream that nginx writes last) stays in the report. Control
    characters are escaped first.
    """
    text = escape_controls(text)
    if len(text) <= limit:
        return text

    # The note is sized for the longest count it can hold, so the result never
    # exceeds ``limit`` whatever the number of characters left out.
    widest = _left_out_note(len(text))
    room = limit - len(widest)
    if room < 2:
        return text[: max(limit - 1, 0)] + "…"
    tail = room // 2
    head = room - tail
    marker = _left_out_note(len(text) - room)
    return f"{text[:head]}{marker}{text[len(text) - tail :]}"


def clip_middle(text: str, limit: int) -> str:
    """Cut the middle of ``text`` to ``limit`` characters, marking the cut with ``…``.

    Unlike ``shorten`` the mark contains no count, so two long lines that differ only in
    what was cut give the same text: fit for grouping lines by message.
    """
    if len(text) <= limit:
        return text
    room = max(limit - len(_CLIP), 2)
    tail = room // 2
    return f"{text[: room - tail]}{_CLIP}{text[len(text) - tail :]}"


_CLIP = " … "


def _left_out_note(count: int) -> str:
    return f" … ({count} characters left out) … "
