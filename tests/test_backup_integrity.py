"""The streaming integrity engine on real pg_dump output and on damaged files."""

from __future__ import annotations

import gzip
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from opscheck.backupcheck import inflate, verify_backup
from tests.backup_data import SEED, pg_dump

ENGINES = ["isal", "zlib"]


@pytest.fixture(scope="module")
def real_dump(pg_cluster: object) -> bytes:
    """Plain pg_dump output of a database with two tables and rows."""
    name = f"integrity_{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    pg_cluster.create_role(name, password)  # type: ignore[attr-defined]
    pg_cluster.create_database(name, name)  # type: ignore[attr-defined]
    with pg_cluster.connect(name, name, password) as connection:  # type: ignore[attr-defined]
        connection.execute(SEED)
    return pg_dump(pg_cluster, name)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "isal" and not inflate.isal_available():
        pytest.skip("python-isal is not installed here")
    return str(request.param)


def write(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


@pytest.mark.slow
def test_real_dump_shape(real_dump: bytes) -> None:
    lines = real_dump.decode().splitlines()
    assert "-- PostgreSQL database dump" in lines[:3]
    assert "-- PostgreSQL database dump complete" in lines
    # pg_dump 15.14 and later write \unrestrict after the completion line.
    assert lines.index("-- PostgreSQL database dump complete") < len(lines) - 1


@pytest.mark.slow
def test_gzip_of_real_dump_passes(
    real_dump: bytes, tmp_path: Path, engine: str
) -> None:
    path = write(tmp_path, "backup_20260101_020000.sql.gz", gzip.compress(real_dump))
    report = verify_backup(path, engine=engine)  # type: ignore[arg-type]
    assert report.problem is None, report.message
    assert report.sql_bytes == len(real_dump)
    assert report.engine == engine
    assert report.message.startswith(
        "backup backup_20260101_020000.sql.gz is a complete"
    )


@pytest.mark.slow
def test_plain_sql_passes(real_dump: bytes, tmp_path: Path) -> None:
    path = write(tmp_path, "backup_20260101_020000.sql", real_dump)
    report = verify_backup(path)
    assert report.problem is None, report.message
    assert report.compressed is False
    assert "plain pg_dump" in report.message


@pytest.mark.slow
def test_truncated_gzip_fails(real_dump: bytes, tmp_path: Path, engine: str) -> None:
    compressed = gzip.compress(real_dump)
    path = write(tmp_path, "b.sql.gz", compressed[: len(compressed) // 2])
    report = verify_backup(path, engine=engine)  # type: ignore[arg-type]
    assert report.problem == "truncated"
    assert "ends before its trailer" in report.message


@pytest.mark.slow
def test_missing_trailer_fails(real_dump: bytes, tmp_path: Path, engine: str) -> None:
    # Only the 8-byte CRC and length trailer is missing; every SQL byte is there.
    path = write(tmp_path, "b.sql.gz", gzip.compress(real_dump)[:-8])
    report = verify_backup(path, engine=engine)  # type: ignore[arg-type]
    assert report.problem == "truncated"


@pytest.mark.slow
def test_corrupt_crc_fails(real_dump: bytes, tmp_path: Path, engine: str) -> None:
    damaged = bytearray(gzip.compress(real_dump))
    damaged[-6] ^= 0xFF
    path = write(tmp_path, "b.sql.gz", bytes(damaged))
    report = verify_backup(path, engine=engine)  # type: ignore[arg-type]
    assert report.problem == "corrupt"
    assert "corrupt" in report.message


def test_gzip_of_empty_output_fails(tmp_path: Path, engine: str) -> None:
    path = write(tmp_path, "b.sql.gz", gzip.compress(b""))
    report = verify_backup(path, engine=engine)  # type: ignore[arg-type]
    assert report.problem == "empty"
    assert report.message == (
        "backup b.sql.gz is a valid gzip of empty output: it holds 0 bytes of SQL, "
        "as 'pg_dump | gzip' leaves when pg_dump fails in a script without "
        "'set -o pipefail'; run the backup by hand and read pg_dump's error"
    )


def test_gzip_of_error_message_fails(tmp_path: Path, engine: str) -> None:
    text = (
        b'pg_dump: error: connection to server on socket "/var/run/postgresql/'
        b'.s.PGSQL.5432" failed: FATAL:  role "taskuser" does not exist\n'
    )
    path = write(tmp_path, "b.sql.gz", gzip.compress(text))
    report = verify_backup(path, engine=engine)  # type: ignore[arg-type]
    assert report.problem == "error_message"
    assert "holds an error message instead of a dump" in report.message
    assert "pg_dump: error: connection to server" in report.message


@pytest.mark.slow
def test_dump_cut_before_completion_fails(
    real_dump: bytes, tmp_path: Path, engine: str
) -> None:
    cut = real_dump[: real_dump.index(b"-- PostgreSQL database dump complete")]
    path = write(tmp_path, "b.sql.gz", gzip.compress(cut))
    report = verify_backup(path, engine=engine)  # type: ignore[arg-type]
    assert report.problem == "incomplete"
    assert "stops before pg_dump's completion line" in report.message


@pytest.mark.slow
def test_lines_after_completion_pass(real_dump: bytes, tmp_path: Path) -> None:
    extended = real_dump + b"\n-- a comment\n\\unrestrict abc\n\n"
    path = write(tmp_path, "b.sql.gz", gzip.compress(extended))
    assert verify_backup(path).problem is None


@pytest.mark.slow
def test_second_partial_dump_fails(real_dump: bytes, tmp_path: Path) -> None:
    appended = real_dump + b"CREATE TABLE public.late (id integer);\n"
    path = write(tmp_path, "b.sql", appended)
    report = verify_backup(path)
    assert report.problem == "incomplete"
    assert "CREATE TABLE public.late" in report.message


def test_not_a_dump_fails(tmp_path: Path) -> None:
    path = write(tmp_path, "b.sql.gz", gzip.compress(b"SELECT 1;\n"))
    report = verify_backup(path)
    assert report.problem == "no_header"
    assert "its first line is 'SELECT 1;'" in report.message


def test_not_gzip_fails(tmp_path: Path, engine: str) -> None:
    path = write(tmp_path, "b.sql.gz", b"this is plain text\n")
    report = verify_backup(path, engine=engine)  # type: ignore[arg-type]
    assert report.problem == "not_gzip"
    assert "gzip magic bytes 1f 8b" in report.message


def test_zero_byte_gzip_fails(tmp_path: Path) -> None:
    report = verify_backup(write(tmp_path, "b.sql.gz", b""))
    assert report.problem == "truncated"
    assert "not even a gzip header" in report.message


def test_directory_is_unreadable(tmp_path: Path) -> None:
    folder = tmp_path / "backup_20260101.sql.gz"
    folder.mkdir()
    report = verify_backup(folder)
    assert report.problem == "unreadable"
    assert "it is a folder, not a file" in report.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, "b.sql.gz", gzip.compress(b"x"))
    path.chmod(0)
    report = verify_backup(path)
    assert report.problem == "unreadable"


@pytest.mark.slow
def test_two_members_pass(real_dump: bytes, tmp_path: Path, engine: str) -> None:
    half = len(real_dump) // 2
    content = gzip.compress(real_dump[:half]) + gzip.compress(real_dump[half:])
    report = verify_backup(write(tmp_path, "b.sql.gz", content), engine=engine)  # type: ignore[arg-type]
    assert report.problem is None, report.message
    assert report.sql_bytes == len(real_dump)


@pytest.mark.slow
def test_trailing_garbage_counted(real_dump: bytes, tmp_path: Path) -> None:
    content = gzip.compress(real_dump) + b"\x00" * 10
    report = verify_backup(write(tmp_path, "b.sql.gz", content))
    assert report.problem is None
    assert report.trailing_bytes == 10


def test_engine_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(inflate.ENGINE_VARIABLE, "zlib")
    assert inflate.choose_engine() == "zlib"
    monkeypatch.setenv(inflate.ENGINE_VARIABLE, "brotli")
    with pytest.raises(ValueError, match="is not an engine"):
        inflate.choose_engine()


def test_memory_bounded_for_bomb(tmp_path: Path) -> None:
    # 200 MiB of zeros compress to about 200 KiB; output comes in pieces of 1 MiB.
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    with (tmp_path / "b.sql.gz").open("wb") as handle:
        for _ in range(200):
            handle.write(compressor.compress(b"\0" * (1 << 20)))
        handle.write(compressor.flush())
    with (tmp_path / "b.sql.gz").open("rb") as handle:
        sizes = [len(chunk) for chunk in inflate.decompressed_chunks(handle, "zlib")]
    assert max(sizes) <= inflate.OUTPUT_SIZE
    assert sum(sizes) == 200 << 20
