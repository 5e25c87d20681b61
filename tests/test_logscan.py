"""The log scan engine: both matchers give the same lines, readers keep memory flat."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from opscheck.logscan.grouping import OTHER, MessageGroups, message_key
from opscheck.logscan.matcher import (
    HyperscanMatcher,
    PythonMatcher,
    hyperscan_available,
    make_matcher,
)
from opscheck.logscan.reader import ReadStats, file_blocks, file_ranges, stream_lines
from opscheck.logscan.scan import ErrorTally, LogLine, matching_in_file
from opscheck.logscan.text import decode_line, shorten

ENGINES = [
    "python",
    pytest.param(
        "hyperscan",
        marks=pytest.mark.skipif(
            not hyperscan_available(), reason="no hyperscan wheel here"
        ),
    ),
]

SAMPLE = (
    b"2026-12-04T10:00:00Z INFO backend started\n"
    b"2026-12-04T10:00:01Z \x1b[31mERROR\x1b[0m backend request failed\n"
    b"errors everywhere and Error again and EXCEPTION\n"
    b"\n"
    b"nothing here: terror is a substring match, as grep -i counts it\n"
    b"\xff\xfe invalid utf-8 with Fatal in it\n"
    b"Exception at the very end without newline"
)
EXPECTED = [
    b"2026-12-04T10:00:01Z \x1b[31mERROR\x1b[0m backend request failed",
    b"errors everywhere and Error again and EXCEPTION",
    b"nothing here: terror is a substring match, as grep -i counts it",
    b"\xff\xfe invalid utf-8 with Fatal in it",
    b"Exception at the very end without newline",
]


@pytest.mark.parametrize("engine", ENGINES)
def test_matcher_finds_each_line_once(engine: str) -> None:
    matcher = make_matcher(["error|fatal|exception"], engine)
    found = [SAMPLE[start:end] for start, end in matcher.matching_lines(SAMPLE)]
    assert matcher.engine == engine
    assert found == EXPECTED


@pytest.mark.parametrize("engine", ENGINES)
def test_matcher_regex_pattern(engine: str) -> None:
    block = b"Failed password login for bob\nlogin ok\nfailed\nLOGIN FAILED twice\n"
    matcher = make_matcher(["failed.*login|login.*failed"], engine)
    found = [block[start:end] for start, end in matcher.matching_lines(block)]
    assert found == [b"Failed password login for bob", b"LOGIN FAILED twice"]


@pytest.mark.parametrize("engine", ENGINES)
def test_matcher_regex_does_not_cross_lines(engine: str) -> None:
    block = b"failed to connect\nuser login ok\n"
    matcher = make_matcher(["failed.*login"], engine)
    assert matcher.matching_lines(block) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_matcher_several_patterns(engine: str) -> None:
    block = b"a timeout\nb\nc error timeout\n"
    matcher = make_matcher(["timeout", "error"], engine)
    found = [block[start:end] for start, end in matcher.matching_lines(block)]
    assert found == [b"a timeout", b"c error timeout"]


@pytest.mark.skipif(not hyperscan_available(), reason="no hyperscan wheel here")
def test_engines_agree_on_generated_log() -> None:
    words = [b"info", b"ERROR", b"warn", b"exception", b"Fatal", b"ok", b"fail"]
    lines = []
    for number in range(20000):
        word = words[(number * 7919) % len(words)]
        lines.append(b"%d line %s \xc3\x28 %d" % (number, word, number * 31))
    block = b"\n".join(lines)
    for pattern in ("error|fatal|exception", r"err\w+|fa(tal|il)"):
        fast = HyperscanMatcher([pattern]).matching_lines(block)
        slow = PythonMatcher([pattern]).matching_lines(block)
        assert fast == slow
        assert fast


def test_unknown_engine_is_rejected() -> None:
    with pytest.raises(ValueError, match="is not a log scan engine; choose one of"):
        make_matcher(["error"], "grep")


def test_engine_variable_forces_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSCHECK_LOGSCAN_ENGINE", "python")
    assert make_matcher(["error"]).engine == "python"


@pytest.mark.skipif(not hyperscan_available(), reason="no hyperscan wheel here")
def test_lookaround_falls_back_to_python() -> None:
    matcher = make_matcher([r"error(?! ignored)"], "auto")
    block = b"error ignored\nerror real\n"
    assert matcher.engine == "python"
    assert matcher.matching_lines(block) == [(14, 24)]


def test_file_blocks_end_at_line_ends() -> None:
    data = b"".join(b"line %05d error\n" % number for number in range(1000))
    stats = ReadStats()
    blocks = list(file_blocks(io.BytesIO(data), stats, block_bytes=1000))
    assert all(not block.endswith(b"\n") for block in blocks)
    assert b"\n".join(blocks) + b"\n" == data
    assert stats.lines == 1000
    assert stats.bytes_read == len(data)
    assert stats.long_lines == 0


def test_file_blocks_cut_line_longer_than_block() -> None:
    data = b"short\n" + b"x" * 5000 + b"\nend\n"
    stats = ReadStats()
    blocks = list(file_blocks(io.BytesIO(data), stats, block_bytes=1000))
    assert b"".join(blocks).replace(b"\n", b"") == data.replace(b"\n", b"")
    assert stats.long_lines >= 1
    assert max(len(block) for block in blocks) <= 2000


def test_stream_lines_cap_and_count_long_lines() -> None:
    chunks = [b"first line\nsecond ", b"part\n", b"y" * 3000, b"z" * 3000 + b"\nlast"]
    stats = ReadStats()
    lines = list(stream_lines(chunks, stats, max_line_bytes=1024))
    assert lines[0] == b"first line"
    assert lines[1] == b"second part"
    assert lines[2] == b"y" * 1024
    assert lines[3] == b"last"
    assert stats.lines == 4
    assert stats.long_lines == 1


def test_matching_in_file_caps_long_matching_lines(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"ok\n" + b"ERROR " + b"a" * 200_000 + b"\nfatal short\n")
    stats = ReadStats()
    found = list(matching_in_file(path, make_matcher(["error|fatal"]), stats, 1024))
    assert [len(line) for line in found] == [1024, 11]
    assert stats.long_lines == 1


def test_decode_line_strips_colour_and_keeps_invalid_bytes() -> None:
    text = decode_line(b"\x1b[1;31mERROR\x1b[0m bad \xff byte\x07\r\n")
    assert text == "ERROR bad \\xff byte\\x07"


def test_decode_line_shows_terminal_controls_as_escapes() -> None:
    raw = b"\x1b]0;owned\x07title\tok\x1bc\x00\x7f \xc2\x9b2J \xc2\x85end\n"
    text = decode_line(raw)
    assert text == ("\\x1b]0;owned\\x07title\tok\\x1bc\\x00\\x7f \\x9b2J \\x85end")
    assert not any(
        (ord(char) < 0x20 and char != "\t") or 0x7F <= ord(char) <= 0x9F
        for char in text
    )


def test_shorten_keeps_start_and_end_within_the_limit() -> None:
    line = "GET /api/orders " + "x" * 400 + " upstream: http://127.0.0.1:8000/api"
    short = shorten(line, 120)
    assert len(short) <= 120
    assert short.startswith("GET /api/orders xxx")
    assert short.endswith("upstream: http://127.0.0.1:8000/api"[-20:])
    head, _, rest = short.partition(" … (")
    left_out = int(rest.split(" ")[0])
    tail = rest.split(") … ", 1)[1]
    assert len(head) + left_out + len(tail) == len(line)
    assert (
        short
        == f"{line[: len(head)]} … ({left_out} characters left out) … "
        + (line[len(line) - len(tail) :])
    )
    assert 290 < len(shorten("a" * 310)) <= 300
    assert shorten("a" * 300) == "a" * 300
    assert shorten("short") == "short"
    assert shorten("y" * 20, 10) == "y" * 9 + "…"


def test_shorten_escapes_control_characters() -> None:
    assert shorten("body \x1b]0;title\x07 end") == "body \\x1b]0;title\\x07 end"


def test_message_key_masks_variable_parts() -> None:
    first = message_key(
        "2026-12-04T10:00:01Z ERROR request 4711 from 10.1.2.3:5544 failed id=0xdeadbeef"
    )
    second = message_key(
        "2026-12-05T11:22:33Z ERROR request 12 from 192.168.0.9:80 failed id=0x1f"
    )
    assert first == "ERROR request <n> from <ip> failed id=<hex>"
    assert first == second


def test_message_groups_are_bounded() -> None:
    groups = MessageGroups(limit=3)
    for word in ("alpha", "beta", "gamma", "delta", "epsilon"):
        groups.add(f"error {word}")
    assert groups.distinct == 4
    assert groups.counts[OTHER] == 2


def test_error_tally_ignores_and_keeps_last() -> None:
    tally = ErrorTally(ignore=[re.compile(r"expected error")], keep_last=2)
    for number in range(5):
        tally.add(LogLine(f"ERROR job {number} failed", "web_1"))
    tally.add(LogLine("an expected error during shutdown"))
    evidence = tally.evidence()
    assert evidence["matching_lines"] == 5
    assert evidence["ignored_lines"] == 1
    assert evidence["top_messages"] == [{"message": "ERROR job <n> failed", "lines": 5}]
    assert [line["line"] for line in evidence["last_lines"]] == [
        "ERROR job 3 failed",
        "ERROR job 4 failed",
    ]
    assert tally.summary() == "5× ERROR job <n> failed"


@pytest.mark.parametrize("engine", ["hyperscan", "python"])
def test_ranges_match_like_whole_blocks(engine: str) -> None:
    data = (
        b"".join(
            (b"INFO fine %d\n" % i)
            if i % 7
            else (b"\x1b[31mERROR\x1b[0m broke %d\n" % i)
            for i in range(500)
        )
        + b"partial ERROR line without newline"
    )
    matcher = make_matcher(["error|fatal|exception"], engine)
    expected = [line for line in data.split(b"\n") if b"ERROR" in line]

    for block_bytes in (64, 1000, 4096, len(data) + 10):
        stats = ReadStats()
        found = [
            buffer[start:end]
            for buffer, first, last in file_ranges(io.BytesIO(data), stats, block_bytes)
            for start, end in matcher.matching_lines(buffer, first, last)
        ]
        assert found == expected, block_bytes
        assert stats.lines == 501
        assert stats.bytes_read == len(data)


NGINX_UPSTREAM_ERROR = (
    b"2026/12/04 10:00:01 [error] 29#29: *1 connect() failed (111: Connection "
    b"refused) while connecting to upstream, client: 127.0.0.1, server: _, request: "
    b'"GET /api/orders?page=2&sort=created_at HTTP/1.1", upstream: '
    b'"http://backend:8000/api/orders?page=2&sort=created_at", host: "shop.example"'
)


def test_message_summary_keeps_the_end_of_a_long_line() -> None:
    tally = ErrorTally()
    tally.add_raw(NGINX_UPSTREAM_ERROR.replace(b"server: _", b"server: " + b"x" * 300))
    tally.add_raw(NGINX_UPSTREAM_ERROR.replace(b"server: _", b"server: " + b"y" * 400))

    key = tally.groups.top()[0]["message"]
    assert tally.groups.distinct == 1
    assert str(key).startswith("[error] <n>#<n>: *<n> connect() failed")
    assert str(key).endswith('sort=created_at", host: "shop.example"')
    assert len(str(key)) <= 200
    summary = tally.summary()
    assert summary.startswith("2× [error] <n>#<n>: *<n> connect() failed")
    assert summary.endswith('host: "shop.example"')
