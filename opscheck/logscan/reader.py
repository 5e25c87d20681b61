"""Cut log files and log streams into blocks of whole lines, with flat memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

FILE_BLOCK_BYTES = 8 << 20
STREAM_BLOCK_BYTES = 1 << 20


@dataclass
class ReadStats:
    """What a reader saw: bytes, lines, and lines longer than the line cap."""

    bytes_read: int = 0
    lines: int = 0
    long_lines: int = 0


def file_blocks(
    handle: BinaryIO, stats: ReadStats, block_bytes: int = FILE_BLOCK_BYTES
) -> Iterator[bytes]:
    """Yield the content of ``handle`` in blocks that end at a line end.

    A line longer than ``block_bytes`` is cut into pieces, and each cut counts as a
    long line.
    """
    carry = b""
    while True:
        chunk = handle.read(block_bytes)
        if not chunk:
            break
        stats.bytes_read += len(chunk)
        data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            if len(data) < block_bytes:
                carry = data
                continue
            # NOTE: a match that straddles this forced cut is missed.
            stats.long_lines += 1
            stats.lines += 1
            yield data
            carry = b""
            continue
        block, carry = data[:cut], data[cut + 1 :]
        stats.lines += block.count(b"\n") + 1
        yield block
    if carry:
        stats.lines += 1
        yield carry


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
