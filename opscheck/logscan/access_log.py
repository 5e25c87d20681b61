"""Parse nginx access logs written with a ``log_format`` string.

The default is nginx's predefined ``combined`` format. A format string is turned into a
regular expression, one named group per variable: quoted fields accept escaped quotes
(``\\"``, and nginx's own ``\\x22``), ``[$time_local]`` anything up to ``]``, other fields
one word. Text after the last field (fields some proxies append) is allowed. The request
line is split into method, path and protocol only when it looks like HTTP, so TLS bytes
sent to a plain HTTP port (``"\\x16\\x03\\x01..."``) still give a parsed line with its
status.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

from opscheck.logscan.reader import SKIP_PIECE_BYTES, capped_line, capped_lines
from opscheck.logscan.text import decode_line, shorten

COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)
FORMATS = {
    "combined": COMBINED,
    "main": COMBINED + ' "$http_x_forwarded_for"',
    "common": '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent',
}

_VARIABLE = re.compile(r"\$(\{[A-Za-z0-9_]+\}|[A-Za-z0-9_]+)")
_QUOTED = r'(?:[^"\\]|\\.)*'
_FIELD_PATTERNS = {
    "status": r"\d{3}",
    "body_bytes_sent": r"\d+|-",
    "bytes_sent": r"\d+|-",
    "time_local": r"[^\]]*",
    "time_iso8601": r"\S+",
    "msec": r"\d+(?:\.\d+)?",
}
_REQUEST = re.compile(r"^([A-Z]{3,10}) (\S+)(?: (HTTP/\d(?:\.\d)?))?$")
_MONTHS = {
    name: number
    for number, name in enumerate(
        [
            "Jan",
            "Feb",
            "Mar",
            "Apr",
            "May",
            "Jun",
            "Jul",
            "Aug",
            "Sep",
            "Oct",
            "Nov",
            "Dec",
        ],
        start=1,
    )
}
_TIME_LOCAL = re.compile(
    r"^(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$"
)

UNPARSED_SAMPLES = 5
# nginx writes a line when a request ends, so lines of slow requests come after those of
# later quick ones; a window start is looked for this much earlier in the file.
ORDER_SLACK = timedelta(minutes=10)


class FormatError(ValueError):
    """A log_format string that cannot be turned into a parser."""


def compile_format(log_format: str) -> re.Pattern[str]:
    """Return the regular expression for an nginx ``log_format`` string or format name."""
    text = FORMATS.get(log_format, log_format)
    parts: list[str] = []
    names: list[str] = []
    position = 0
    for found in _VARIABLE.finditer(text):
        literal = text[position : found.start()]
        parts.append(re.escape(literal))
        name = found.group(1).strip("{}")
        quoted = literal.endswith('"')
        pattern = _QUOTED if quoted else _FIELD_PATTERNS.get(name, r"\S*")
        if name in names:
            parts.append(f"(?:{pattern})")
        else:
            names.append(name)
            parts.append(f"(?P<{name}>{pattern})")
        position = found.end()
    parts.append(re.escape(text[position:]))
    if not names:
        raise FormatError(
            f"log format {log_format!r} has no $variables; use 'combined' or an nginx "
            "log_format string such as '$remote_addr [$time_local] \"$request\" $status'"
        )
    if "status" not in names:
        raise FormatError(
            f"log format {log_format!r} has no $status, which the access log checks count"
        )
    return re.compile("".join(parts) + r"(?=\s|$)")


def parse_time_local(text: str) -> datetime | None:
    """Parse nginx's ``$time_local`` (``04/Dec/2026:15:18:49 +0100``) into an aware time."""
    found = _TIME_LOCAL.match(text)
    if found is None or found.group(2) not in _MONTHS:
        return None
    day, month, year, hour, minute, second, sign, zone_h, zone_m = found.groups()
    offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
    try:
        return datetime(
            int(year),
            _MONTHS[month],
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=timezone(-offset if sign == "-" else offset),
        )
    except ValueError:
        return None


@dataclass(frozen=True)
class AccessEntry:
    """One parsed access log line."""

    remote_addr: str
    time: datetime | None
    status: int
    request: str
    method: str | None
    path: str | None


def _entry_time(fields: dict[str, str]) -> datetime | None:
    if "time_local" in fields:
        return parse_time_local(fields["time_local"])
    if "time_iso8601" in fields:
        try:
            moment = datetime.fromisoformat(fields["time_iso8601"])
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if "msec" in fields:
        return datetime.fromtimestamp(float(fields["msec"]), UTC)
    return None


class AccessLogParser:
    """Parses lines of one access log format."""

    def __init__(self, log_format: str = "combined") -> None:
        self.log_format = log_format
        self.pattern = compile_format(log_format)
        self.has_time = any(
            name in self.pattern.groupindex
            for name in ("time_local", "time_iso8601", "msec")
        )

    def parse(self, line: str) -> AccessEntry | None:
        """Return the entry of one line, or None when the line is not in this format."""
        found = self.pattern.match(line)
        if found is None:
            return None
        fields = {key: value for key, value in found.groupdict().items() if value}
        request = fields.get("request", "")
        parsed = _REQUEST.match(request)
        time = _entry_time(fields)
        if self.has_time and time is None:
            return None
        return AccessEntry(
            remote_addr=fields.get("remote_addr", "-"),
            time=time,
            status=int(fields["status"]),
            request=request,
            method=parsed.group(1) if parsed else None,
            path=parsed.group(2) if parsed else None,
        )


@dataclass
class AccessLogRead:
    """Lines read from an access log: how many, and samples of those not parsed."""

    lines: int = 0
    long_lines: int = 0
    in_window: int = 0
    unparsed: int = 0
    unparsed_samples: list[str] = field(default_factory=list)
    start_offset: int = 0

    def note_unparsed(self, text: str) -> None:
        """Count a line that is not in the format, keeping the first few."""
        self.unparsed += 1
        if len(self.unparsed_samples) < UNPARSED_SAMPLES:
            self.unparsed_samples.append(shorten(text, 200))


def _seek_line_start(handle: BinaryIO, offset: int) -> None:
    """Move to the first line that starts at or after ``offset``."""
    handle.seek(offset)
    if offset:
        capped_line(handle, SKIP_PIECE_BYTES)


def _first_time_after(
    handle: BinaryIO, offset: int, parser: AccessLogParser, max_line_bytes: int
) -> datetime | None:
    _seek_line_start(handle, offset)
    for _ in range(50):
        read = capped_line(handle, max_line_bytes)
        if read is None:
            return None
        entry = parser.parse(decode_line(read[0]))
        if entry is not None and entry.time is not None:
            return entry.time
    return None


def window_start_offset(
    handle: BinaryIO,
    size: int,
    parser: AccessLogParser,
    since: datetime,
    max_line_bytes: int = 65536,
) -> int:
    """Return a file offset at or before the first line written after ``since``.

    Bisects on the times of the lines, so a check of the last five minutes does not
    read a whole week of log; lines out of order by less than ``ORDER_SLACK`` are kept.
    """
    if not parser.has_time:
        return 0
    target = since - ORDER_SLACK
    low, high = 0, size
    while high - low > 1 << 16:
        middle = (low + high) // 2
        moment = _first_time_after(handle, middle, parser, max_line_bytes)
        if moment is not None and moment < target:
            low = middle
        else:
            high = middle
    return low


def read_entries(
    path: Path,
    parser: AccessLogParser,
    since: datetime | None,
    read: AccessLogRead,
    max_line_bytes: int = 65536,
) -> Iterator[AccessEntry]:
    """Yield the entries of ``path`` written at or after ``since``; count the rest.

    Each line is cut to ``max_line_bytes`` before it is decoded and parsed.
    """
    with path.open("rb") as handle:
        size = path.stat().st_size
        if since is not None:
            read.start_offset = window_start_offset(
                handle, size, parser, since, max_line_bytes
            )
        _seek_line_start(handle, read.start_offset)
        for raw, was_cut in capped_lines(handle, max_line_bytes):
            read.lines += 1
            if was_cut:
                read.long_lines += 1
            text = decode_line(raw)
            if not text.strip():
                continue
            entry = parser.parse(text)
            if entry is None:
                read.note_unparsed(text)
                continue
            if since is not None and entry.time is not None and entry.time < since:
                continue
            read.in_window += 1
            yield entry
