"""Scan files and line streams for matching lines, and tally what was found."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from opscheck.logscan.grouping import MessageGroups
from opscheck.logscan.matcher import Matcher
from opscheck.logscan.reader import ReadStats, file_ranges, line_blocks
from opscheck.logscan.text import decode_line, shorten


def matching_in_file(
    path: Path, matcher: Matcher, stats: ReadStats, max_line_bytes: int
) -> Iterator[bytes]:
    """Yield the matching lines of a file, each cut to ``max_line_bytes``.

    Lines are counted as long here only when they match: counting every long line
    would need a pass over each line in Python, which the fast path avoids.
    """
    with path.open("rb") as handle:
        for block, first, last in file_ranges(handle, stats):
            for start, end in matcher.matching_lines(block, first, last):
                if end - start > max_line_bytes:
                    stats.long_lines += 1
                    end = start + max_line_bytes
                yield block[start:end]


def matching_in_lines(lines: Iterable[bytes], matcher: Matcher) -> Iterator[bytes]:
    """Yield the lines of ``lines`` that match, in order."""
    for batch in line_blocks(lines):
        block = b"\n".join(batch)
        for start, end in matcher.matching_lines(block):
            yield block[start:end]


@dataclass(frozen=True)
class LogLine:
    """One log line as a report shows it."""

    text: str
    source: str = ""
    timestamp: datetime | None = None

    def to_evidence(self) -> dict[str, Any]:
        """Return the line, shortened, with where and when it was written."""
        entry: dict[str, Any] = {"line": shorten(self.text)}
        if self.source:
            entry["source"] = self.source
        if self.timestamp is not None:
            entry["time"] = self.timestamp.isoformat()
        return entry


@dataclass
class ErrorTally:
    """Matching lines minus ignored ones: count, the last few, and counts by message."""

    ignore: Sequence[re.Pattern[str]] = ()
    keep_last: int = 20
    matched: int = 0
    ignored: int = 0
    groups: MessageGroups = field(default_factory=MessageGroups)
    last: deque[LogLine] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.last = deque(maxlen=self.keep_last)

    def add(self, line: LogLine) -> bool:
        """Count a matching line unless an ignore pattern matches it; tell which."""
        if any(pattern.search(line.text) for pattern in self.ignore):
            self.ignored += 1
            return False
        self.matched += 1
        self.groups.add(line.text)
        self.last.append(line)
        return True

    def add_raw(self, raw: bytes, source: str = "") -> bool:
        """Decode and count a matching line."""
        return self.add(LogLine(decode_line(raw), source))

    def evidence(self, top: int = 10) -> dict[str, Any]:
        """Return the counts, the most frequent messages and the last lines."""
        return {
            "matching_lines": self.matched,
            "ignored_lines": self.ignored,
            "distinct_messages": self.groups.distinct,
            "top_messages": self.groups.top(top),
            "last_lines": [line.to_evidence() for line in self.last],
        }

    def summary(self, count: int = 3) -> str:
        """Describe the most frequent messages in a few words, for a check's message."""
        parts = [
            f"{entry['lines']}× {shorten(str(entry['message']), 120)}"
            for entry in self.groups.top(count)
        ]
        return "; ".join(parts)


def compile_ignore(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    """Compile ignore patterns (validated by the config loader already)."""
    return [re.compile(pattern) for pattern in patterns]
