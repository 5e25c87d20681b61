"""Count log lines by message, with the variable parts (numbers, ids, addresses) masked."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from opscheck.logscan.text import clip_middle

# Leading timestamps: ISO 8601 ("2026-12-04T15:18:47Z", "2026-12-04 15:18:47,123"),
# nginx error log ("2026/12/04 15:14:42") and syslog ("Dec  4 15:18:47").
_TIMESTAMP = re.compile(
    r"^\s*(?:\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?|[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2})\s*"
)
_MASKS = (
    (
        re.compile(
            r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I
        ),
        "<uuid>",
    ),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b0x[0-9a-f]+\b|\b[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
)

MAX_KEY_CHARS = 200
MAX_GROUPS = 1000
OTHER = "(other messages)"


def message_key(text: str) -> str:
    """Return the message of a line without its timestamp, its variable parts masked.

    A long message keeps its start and its end, ``MAX_KEY_CHARS`` in all.
    """
    key = _TIMESTAMP.sub("", text, count=1)
    for pattern, replacement in _MASKS:
        key = pattern.sub(replacement, key)
    # The end of a message often names the cause: nginx's upstream, the exception.
    return clip_middle(key.strip(), MAX_KEY_CHARS)


@dataclass
class MessageGroups:
    """Line counts by message key, at most ``limit`` distinct keys.

    Once ``limit`` keys are held, lines of new messages are counted under ``OTHER`` so
    that memory stays bounded on a log with endless distinct messages.
    """

    limit: int = MAX_GROUPS
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, text: str) -> str:
        """Count one line; return the key it was counted under."""
        key = message_key(text)
        if key not in self.counts and len(self.counts) >= self.limit:
            key = OTHER
        self.counts[key] += 1
        return key

    def top(self, count: int = 10) -> list[dict[str, object]]:
        """Return the most frequent messages with their line counts."""
        return [
            {"message": key, "lines": lines}
            for key, lines in self.counts.most_common(count)
        ]

    @property
    def distinct(self) -> int:
        """The number of distinct message keys counted."""
        return len(self.counts)
