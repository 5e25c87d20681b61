"""Cut log files and log streams into blocks of whole lines, with flat memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

# A line end looked for after a seek into a file is read in pieces of this size.
SKIP_PIECE_BYTES = 1 << 16

FILE_BLOCK_BYTES = 8 << 20
STREAM_BLOCK_BYTES = 1 << 20


@dataclass
class ReadStats:
    """What a reader saw: bytes, lines, and lines longer than the line cap."""

    bytes_read: int = 0
    lines: int = 0
    long_lines: int = 0


def file_ranges(
    handle: BinaryIO, stats: ReadStats, block_bytes: int = FILE_BLOCK_BYTES
) -> Iterator[tuple[bytes, int, int]]:
    """Yield ``(buffer, start, end)``: ``buffer[start:end]`` is a run of whole lines.

    Each read is matched where it lies, without copying it into a block of its own;
    only the partial line at a read's edge is copied and joined to the next read.
    A line longer than ``block_bytes`` is cut into pieces, and each cut counts as a
    long line.
    """
    carry = b""
    while True:
        chunk = handle.read(block_bytes)
        if not chunk:
            break
        stats.bytes_read += len(chunk)

        begin = 0
        if carry:
            first = chunk.find(b"\n")
            if first < 0:
                carry += chunk
                if len(carry) >= block_bytes:
                    # NOTE: a match that straddles this forced cut is missed.
                    stats.long_lines += 1
                    stats.lines += 1
                    yield carry, 0, len(carry)
                    carry = b""
                continue
            head = carry + chunk[:first]
            stats.lines += 1
            yield head, 0, len(head)
            carry = b""
            begin = first + 1

        cut = chunk.rfind(b"\n", begin)
        if cut < 0:
            carry = chunk[begin:]
            if len(carry) >= block_bytes:
                stats.long_lines += 1
                stats.lines += 1
                yield carry, 0, len(carry)
                carry = b""
            continue

        stats.lines += chunk.count(b"\n", begin, cut) + 1
        yield chunk, begin, cut
        carry = chunk[cut + 1 :]

    if carry:
        stats.lines += 1
        yield carry, 0, len(carry)


def file_blocks(
    handle: BinaryIO, stats: ReadStats, block_bytes: int = FILE_BLOCK_BYTES
) -> Iterator[bytes]:
    """Yield the content of ``handle`` in blocks that end at a line end."""
    for buffer, start, end in file_ranges(handle, stats, block_bytes):
        yield buffer[start:end]


def stream_lines(
    chunks: Iterable[bytes], stats: ReadStats, max_line_bytes: int
) -> Iterator[bytes]:
    """Yield the lines of a stream of chunks, each cut to ``max_line_bytes``.

    The rest of a longer line is read and dropped, so memory never holds more than
    one capped line and one chunk; every such line counts as a long line.
    """
    pending = bytearray()
    dropping = False
    for chunk in chunks:
        stats.bytes_read += len(chunk)
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if not dropping:
                room = max_line_bytes - len(pending)
                pending += piece[:room]
                if len(piece) > room:
                    dropping = True
                    stats.long_lines += 1
            if end < 0:
                break
            stats.lines += 1
            yield bytes(pending)
            pending.clear()
            dropping = False
            start = end + 1
    if pending or dropping:
        stats.lines += 1
        yield bytes(pending)


def capped_line(handle: BinaryIO, max_line_bytes: int) -> tuple[bytes, bool] | None:
    """Read one line of at most ``max_line_bytes``; the rest of a longer line is dropped.

    Returns the line (with its newline when it fits) and whether it was cut, or None
    at the end of the file. The dropped rest is read in pieces of ``max_line_bytes``,
    so memory stays flat whatever the length of the line.
    """
    line = handle.readline(max_line_bytes)
    if not line:
        return None
    if line.endswith(b"\n") or len(line) < max_line_bytes:
        return line, False
    dropped = False
    while True:
        rest = handle.readline(max_line_bytes)
        if not rest:
            return line, dropped
        if rest.endswith(b"\n"):
            # A line of exactly max_line_bytes leaves only its newline behind.
            return line, dropped or rest != b"\n"
        dropped = True


def capped_lines(handle: BinaryIO, max_line_bytes: int) -> Iterator[tuple[bytes, bool]]:
    """Yield each line of ``handle`` as ``capped_line`` reads it."""
    while (read := capped_line(handle, max_line_bytes)) is not None:
        yield read


def line_blocks(
    lines: Iterable[bytes], block_bytes: int = STREAM_BLOCK_BYTES
) -> Iterator[list[bytes]]:
    """Group lines into lists of about ``block_bytes``, for one matcher call each."""
    batch: list[bytes] = []
    size = 0
    for line in lines:
        batch.append(line)
        size += len(line) + 1
        if size >= block_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch
