"""nginx access log parsing, and the checks that read the access log, on real files."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opscheck.logscan.access_log import (
    AccessLogParser,
    AccessLogRead,
    FormatError,
    parse_time_local,
    read_entries,
)
from tests.helpers import run_suite, write_config


def stamp(moment: datetime) -> str:
    return moment.strftime("%d/%b/%Y:%H:%M:%S +0000")


def line(
    moment: datetime,
    status: int,
    request: str = "GET /api/tasks HTTP/1.1",
    address: str = "10.0.0.1",
    agent: str = "curl/8.0",
) -> str:
    return f'{address} - - [{stamp(moment)}] "{request}" {status} 512 "-" "{agent}"\n'


HOSTILE = [
    # Escaped quotes in the user agent, both styles.
    '10.0.0.2 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" '
    '"Mozilla \\"quoted\\" \\x22hex\\x22"',
    # TLS handshake bytes sent to the HTTP port, as nginx writes them.
    '10.0.0.3 - - [04/Dec/2026:10:00:01 +0000] "\\x16\\x03\\x01\\x02\\x00\\x01" 400 157 "-" "-"',
    # An empty request.
    '10.0.0.4 - - [04/Dec/2026:10:00:02 +0000] "-" 400 0 "-" "-"',
    # 404 and 500 in the URL and the size, status 200; extra fields at the end.
    '10.0.0.5 - alice [04/Dec/2026:10:00:03 +0100] "GET /404/500?x=401 HTTP/2.0" 200 404 '
    '"http://ref/403" "agent" 0.004 "upstream"',
]


def test_parser_reads_hostile_lines() -> None:
    parser = AccessLogParser()
    entries = [parser.parse(text) for text in HOSTILE]
    assert all(entry is not None for entry in entries)
    assert [entry.status for entry in entries if entry] == [200, 400, 400, 200]
    assert entries[1] is not None
    assert entries[1].method is None
    assert entries[2] is not None
    assert entries[2].request == "-"
    assert entries[3] is not None
    assert entries[3].path == "/404/500?x=401"
    assert entries[3].time == datetime(2026, 12, 4, 9, 0, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage without fields",
        '10.0.0.1 - - [04/Foo/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "-"',
        '10.0.0.1 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 2000 5 "-" "-"',
        '10.0.0.1 - - [04/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1 200 5 "-" "-"',
    ],
)
def test_parser_rejects_broken_lines(text: str) -> None:
    assert AccessLogParser().parse(text) is None


def test_custom_format() -> None:
    parser = AccessLogParser(
        '$remote_addr [$time_iso8601] $status "$request" $request_time'
    )
    entry = parser.parse('::1 [2026-12-04T10:00:00+00:00] 502 "POST /api HTTP/1.1" 0.5')
    assert entry is not None
    assert entry.status == 502
    assert entry.remote_addr == "::1"
    assert entry.method == "POST"


def test_format_without_status_is_rejected() -> None:
    with pytest.raises(FormatError, match=r"has no \$status"):
        AccessLogParser("$remote_addr $request")
    with pytest.raises(FormatError, match=r"has no \$variables"):
        AccessLogParser("plain text")


def test_time_local_offsets() -> None:
    moment = parse_time_local("04/Dec/2026:15:18:49 -0530")
    assert moment == datetime(2026, 12, 4, 20, 48, 49, tzinfo=UTC)
    assert parse_time_local("31/Feb/2026:00:00:00 +0000") is None


def test_read_entries_window_and_unparsed(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    path = tmp_path / "access.log"
    with path.open("w") as handle:
        for minute in range(60 * 24 * 2, 0, -1):
            handle.write(line(now - timedelta(minutes=minute), 200))
        handle.write("not an access log line\n")
        handle.write(line(now, 503))
    read = AccessLogRead()
    entries = list(
        read_entries(path, AccessLogParser(), now - timedelta(minutes=5), read)
    )
    assert [entry.status for entry in entries] == [200] * 5 + [503]
    assert read.unparsed == 1
    assert read.unparsed_samples == ["not an access log line"]
    # The window start is found by bisection, not by reading the whole file.
    assert read.start_offset > 0
    assert read.lines < 2000


LONG_LINE_BYTES = 50 << 20

# Run in a child process so that the peak memory measured is the read's own.
PEAK_MEMORY_SCRIPT = """
import resource, sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from opscheck.logscan.access_log import AccessLogParser, AccessLogRead, read_entries

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
read = AccessLogRead()
since = datetime.now(UTC) - timedelta(minutes=5)
entries = list(read_entries(Path(sys.argv[1]), AccessLogParser(), since, read, 65536))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(after - before, len(entries), read.lines, read.long_lines, read.unparsed)
"""


def _write_long_lines(path: Path) -> None:
    now = datetime.now(UTC)
    piece = b"A" * (1 << 20)
    with path.open("wb") as handle:
        handle.write(line(now - timedelta(hours=2), 200).encode())
        for _ in range(LONG_LINE_BYTES // len(piece)):
            handle.write(piece)
        handle.write(b"\n")
        handle.write(f'10.0.0.9 - - [{stamp(now)}] "GET /'.encode())
        for _ in range(LONG_LINE_BYTES // len(piece)):
            handle.write(piece)
        handle.write(b' HTTP/1.1" 200 5 "-" "curl/8.0"\n')
        handle.write(line(now, 502).encode())


def test_read_entries_memory_flat_on_long_lines(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    _write_long_lines(path)

    answer = subprocess.run(
        [sys.executable, "-c", PEAK_MEMORY_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    growth_kib, entries, lines, long_lines, unparsed = map(int, answer.stdout.split())
    # A 50 MiB line read whole would raise the peak by at least 50 MiB.
    assert growth_kib < 8 * 1024
    assert lines == 4
    assert long_lines == 2
    assert entries == 1
    assert unparsed == 2


def test_error_rate_reads_long_lines_quickly(
    tmp_path: Path, opscheck_cli: Callable[..., Any]
) -> None:
    log = tmp_path / "access.log"
    _write_long_lines(log)
    config = _config(tmp_path, log)

    started = time.monotonic()
    _, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "logs.error_rate", suite="monitor"
    )
    elapsed = time.monotonic() - started

    result = results[("logs.error_rate", str(log))]
    assert result["outcome"] == "failed"
    assert result["message"].startswith(f"1 of 1 requests in access log {log} were")
    assert result["evidence"]["long_lines"] == 2
    assert result["evidence"]["unparsed_lines"] == 2
    assert all(len(text) <= 200 for text in result["evidence"]["unparsed_samples"])
    assert elapsed < 20


def _config(tmp_path: Path, log: Path, **checks: Any) -> Path:
    return write_config(
        tmp_path,
        {
            "compose": {"services": []},
            "endpoints": {},
            "logs": {"access_log": str(log)},
            "checks": checks,
        },
    )


def _write(path: Path, statuses: list[int], age: timedelta = timedelta(0)) -> None:
    moment = datetime.now(UTC) - age
    with path.open("w") as handle:
        for number, status in enumerate(statuses):
            handle.write(line(moment, status, address=f"10.0.0.{number % 3}"))
        handle.write(line(moment, 400, request="\\x16\\x03\\x01\\x02\\x00\\x01"))


def test_error_rate_critical(tmp_path: Path, opscheck_cli: Callable[..., Any]) -> None:
    log = tmp_path / "access.log"
    _write(log, [200] * 90 + [502] * 10)
    config = _config(tmp_path, log)
    _, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "logs.error_rate", suite="monitor"
    )
    result = results[("logs.error_rate", str(log))]
    assert result["outcome"] == "failed"
    assert result["message"] == (
        f"10 of 101 requests in access log {log} were answered 5xx in the last 5 min, "
        "9.9 % (above the critical level 5.0 %)"
    )
    assert result["evidence"]["server_errors_by_status"] == {"502": 10}


def test_error_rate_passes_and_skips_old_lines(
    tmp_path: Path, opscheck_cli: Callable[..., Any]
) -> None:
    log = tmp_path / "access.log"
    _write(log, [500] * 50, age=timedelta(hours=1))
    with log.open("a") as handle:
        for _ in range(99):
            handle.write(line(datetime.now(UTC), 200))
        handle.write(line(datetime.now(UTC), 500))
        handle.write("\x00\xff garbage line\n")
    config = _config(tmp_path, log)
    _, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "logs.error_rate", suite="monitor"
    )
    result = results[("logs.error_rate", str(log))]
    assert result["outcome"] == "passed"
    assert "1 of 100 requests" in result["message"]
    assert "(1 lines not in the combined format were skipped)" in result["message"]
    assert result["evidence"]["unparsed_lines"] == 1


def test_error_rate_missing_file_is_error(
    tmp_path: Path, opscheck_cli: Callable[..., Any]
) -> None:
    log = tmp_path / "absent.log"
    config = _config(tmp_path, log)
    _, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "logs.error_rate", suite="monitor"
    )
    result = results[("logs.error_rate", str(log))]
    assert result["outcome"] == "error"
    assert result["message"].startswith(
        f"access log {log} not found; set logs.access_log"
    )


def test_error_rate_wrong_format_is_error(
    tmp_path: Path, opscheck_cli: Callable[..., Any]
) -> None:
    log = tmp_path / "access.log"
    log.write_text("Dec  4 10:00:00 host app: not nginx\n" * 3)
    config = _config(tmp_path, log)
    _, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "logs.error_rate", suite="monitor"
    )
    result = results[("logs.error_rate", str(log))]
    assert result["outcome"] == "error"
    assert "none of the 3 lines read from access log" in result["message"]
    assert "set logs.access_log_format" in result["message"]


def test_access_denied_warns_with_top_clients(
    tmp_path: Path, opscheck_cli: Callable[..., Any]
) -> None:
    log = tmp_path / "access.log"
    now = datetime.now(UTC)
    with log.open("w") as handle:
        for _ in range(80):
            handle.write(line(now, 200, request="GET /404 HTTP/1.1"))
        for _ in range(15):
            handle.write(line(now, 401, address="203.0.113.9"))
        for _ in range(4):
            handle.write(line(now, 404, address="198.51.100.7"))
        handle.write(line(now, 403, address="198.51.100.7"))
        handle.write(line(now - timedelta(days=8), 403, address="192.0.2.1"))
    config = _config(tmp_path, log)
    _, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "security.access_denied", suite="security"
    )
    result = results[("security.access_denied", str(log))]
    assert result["outcome"] == "warning"
    assert result["message"] == (
        f"20 of 100 requests in access log {log} were denied in the last 7 days "
        "(15× 401, 1× 403, 4× 404), 20.0 %; top clients: 203.0.113.9 (15), "
        "198.51.100.7 (5) (above the warning level 5.0 %)"
    )
    assert result["evidence"]["top_clients"][0] == {
        "address": "203.0.113.9",
        "denied": 15,
    }


def test_access_denied_passes_on_quiet_log(
    tmp_path: Path, opscheck_cli: Callable[..., Any]
) -> None:
    log = tmp_path / "access.log"
    _write(log, [200] * 99 + [404])
    config = _config(tmp_path, log)
    _, _, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "security.access_denied", suite="security"
    )
    result = results[("security.access_denied", str(log))]
    assert result["outcome"] == "passed"
    assert "1 of 101 requests" in result["message"]
