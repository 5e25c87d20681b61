"""Find the lines of a block of log text that match any of a set of patterns.

Patterns are regular expressions matched case-insensitively (ASCII case folding, as
``grep -i`` does in the C locale) against one line at a time. Two engines give the same
result: ``HyperscanMatcher`` runs Intel Hyperscan over the whole block, and
``PythonMatcher`` lowercases the block and uses ``bytes.find`` when every pattern is a
plain word, else ``re``. ``OPSCHECK_LOGSCAN_ENGINE=python`` forces the second one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, Protocol

from opscheck.log import logger

ENGINE_VARIABLE = "OPSCHECK_LOGSCAN_ENGINE"
ENGINES = ("auto", "hyperscan", "python")

# A span is (start, end) of one line in the block, without its newline.
Span = tuple[int, int]

_PLAIN_WORD = re.compile(r"^[A-Za-z0-9 _:/-]+$")

try:
    import hyperscan
except ImportError:  # no wheel for this platform
    hyperscan = None  # type: ignore[assignment]


class Matcher(Protocol):
    """Finds the lines of a block that match."""

    engine: str
    patterns: tuple[str, ...]

    def matching_lines(
        self, block: bytes, start: int = 0, end: int | None = None
    ) -> list[Span]:
        """Return the spans of the matching lines of ``block[start:end]``, in order.

        Spans are offsets into ``block``; ``start`` and ``end`` lie on line ends.
        """


def split_alternation(pattern: str) -> list[str]:
    """Split ``a|b|(c)`` into its top-level alternatives, or return it whole."""
    stripped = pattern
    if stripped.startswith("(") and stripped.endswith(")"):
        inner = stripped[1:-1]
        if "(" not in inner and ")" not in inner:
            stripped = inner
    if "(" in stripped or "[" in stripped or "\\" in stripped:
        return [pattern]
    return stripped.split("|")


def _line_span(block: bytes, position: int) -> Span:
    start = block.rfind(b"\n", 0, position) + 1
    end = block.find(b"\n", position)
    return (start, len(block) if end < 0 else end)


class PythonMatcher:
    """Matches with ``bytes.lower`` and ``bytes.find`` for plain words, else ``re``."""

    engine = "python"

    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = tuple(patterns)
        alternatives = [part for p in self.patterns for part in split_alternation(p)]
        if all(_PLAIN_WORD.match(part) for part in alternatives):
            self._words: list[bytes] | None = [
                part.lower().encode() for part in alternatives
            ]
            self._regex: re.Pattern[bytes] | None = None
        else:
            self._words = None
            joined = "|".join(f"(?:{p})" for p in self.patterns)
            self._regex = re.compile(joined.encode(), re.IGNORECASE | re.MULTILINE)

    def matching_lines(
        self, block: bytes, start: int = 0, end: int | None = None
    ) -> list[Span]:
        if start or (end is not None and end != len(block)):
            part = block[start:end]
            return [
                (first + start, last + start)
                for first, last in self.matching_lines(part)
            ]
        if self._words is not None:
            return self._find_words(block, self._words)
        assert self._regex is not None
        return self._find_regex(block, self._regex)

    @staticmethod
    def _find_words(block: bytes, words: list[bytes]) -> list[Span]:
        lowered = block.lower()
        spans: set[Span] = set()
        for word in words:
            position = lowered.find(word)
            while position >= 0:
                span = _line_span(lowered, position)
                spans.add(span)
                # The rest of this line cannot add a new span.
                position = lowered.find(word, span[1] + 1)
        return sorted(spans)

    @staticmethod
    def _find_regex(block: bytes, regex: re.Pattern[bytes]) -> list[Span]:
        spans: list[Span] = []
        position = 0
        while True:
            found = regex.search(block, position)
            if found is None:
                return spans
            span = _line_span(block, found.start())
            # A match that ends past the line's newline crossed lines: the patterns
            # are meant for one line, so it is looked for again inside the line.
            if found.end() > span[1]:
                line = block[span[0] : span[1]]
                if regex.search(line) is None:
                    position = span[1] + 1
                    continue
            spans.append(span)
            position = span[1] + 1


class HyperscanMatcher:
    """Matches with Hyperscan: one report per matching line, at the line's end."""

    engine = "hyperscan"

    def __init__(self, patterns: Sequence[str]) -> None:
        if hyperscan is None:
            raise RuntimeError(
                "the hyperscan package is not installed; run 'pip install hyperscan' "
                f"or set {ENGINE_VARIABLE}=python"
            )
        self.patterns = tuple(patterns)
        # "(?:P)[^\n]*$" in multiline mode ends every match of a line at that line's
        # end, and Hyperscan reports one match per end offset, so each matching line
        # is reported once however often its patterns occur in it.
        expressions = [f"(?:{p})[^\\n]*$".encode() for p in self.patterns]
        self._database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        flags = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_MULTILINE
        self._database.compile(
            expressions=expressions,
            ids=list(range(len(expressions))),
            flags=[flags] * len(expressions),
        )
        self._scratch = hyperscan.Scratch(self._database)

    def matching_lines(
        self, block: bytes, start: int = 0, end: int | None = None
    ) -> list[Span]:
        ends: list[int] = []

        def on_match(
            _id: int, _start: int, match_end: int, _flags: int, _context: Any
        ) -> None:
            if not ends or ends[-1] != match_end:
                ends.append(match_end)

        stop = len(block) if end is None else end
        # A memoryview slice lets Hyperscan read the range in place, without a copy.
        # The stubs declare str or bytes, but the binding reads any buffer.
        view: Any = (
            memoryview(block)[start:stop] if start or stop != len(block) else block
        )
        self._database.scan(view, match_event_handler=on_match, scratch=self._scratch)
        if len(self.patterns) > 1:
            ends = sorted(set(ends))
        spans = []
        for offset in ends:
            line_end = offset + start
            newline = block.rfind(b"\n", start, line_end)
            spans.append((newline + 1 if newline >= 0 else start, line_end))
        return spans


def hyperscan_available() -> bool:
    """Tell whether the Hyperscan engine can be used here."""
    return hyperscan is not None


def make_matcher(patterns: Sequence[str], engine: str | None = None) -> Matcher:
    """Return a matcher for ``patterns`` with the requested engine.

    ``engine`` is ``auto`` (Hyperscan when installed), ``hyperscan`` or ``python``;
    without it, ``$OPSCHECK_LOGSCAN_ENGINE`` decides, else ``auto``.
    """
    chosen = engine or os.environ.get(ENGINE_VARIABLE) or "auto"
    if chosen not in ENGINES:
        raise ValueError(
            f"{ENGINE_VARIABLE}={chosen!r} is not a log scan engine; "
            f"choose one of {', '.join(ENGINES)}"
        )
    if chosen == "python" or (chosen == "auto" and hyperscan is None):
        logger.debug("log scan engine: python, patterns %s", patterns)
        return PythonMatcher(patterns)
    try:
        matcher = HyperscanMatcher(patterns)
    except hyperscan.error as exc:
        if chosen == "hyperscan":
            raise ValueError(
                f"Hyperscan cannot compile the patterns {list(patterns)}: {exc}"
            ) from exc
        # Back-references and look-arounds are outside what Hyperscan supports.
        logger.info(
            "Hyperscan cannot compile the patterns %s (%s); using the Python engine",
            list(patterns),
            exc,
        )
        return PythonMatcher(patterns)
    logger.debug("log scan engine: hyperscan, patterns %s", patterns)
    return matcher
