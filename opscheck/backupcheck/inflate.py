"""Streaming gzip decompression, with python-isal as the fast path and zlib as fallback.

Both engines check each member's CRC-32 and length trailer (RFC 1952), so a stream
that decompresses to the end without an error is intact. Output is produced in
bounded pieces, so memory stays flat even for a highly compressible input.
"""

from __future__ import annotations

import importlib
import os
import zlib
from collections.abc import Iterator
from types import ModuleType
from typing import BinaryIO, Literal

from opscheck.log import logger


def _load_isal() -> ModuleType | None:
    try:
        return importlib.import_module("isal.isal_zlib")
    except ImportError:  # no wheel for this platform, so the zlib fallback is used
        return None


isal_zlib = _load_isal()

Engine = Literal["isal", "zlib"]

ENGINE_VARIABLE = "OPSCHECK_INFLATE_ENGINE"
GZIP_MAGIC = b"\x1f\x8b"
# gzip wbits: a gzip header and trailer around a deflate stream with a 32 KiB window.
GZIP_WBITS = 16 + zlib.MAX_WBITS
READ_SIZE = 1 << 20
OUTPUT_SIZE = 1 << 20


class GzipDamaged(Exception):
    """A gzip stream that is cut short or corrupt; ``kind`` is the case."""

    def __init__(
        self, kind: Literal["truncated", "corrupt", "not_gzip"], detail: str
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def isal_available() -> bool:
    """Tell whether the python-isal fast path can be used on this machine."""
    return isal_zlib is not None


def choose_engine(requested: Engine | None = None) -> Engine:
    """Return the engine to use: ``requested``, else $OPSCHECK_INFLATE_ENGINE, else isal.

    Without an isal wheel the zlib engine is used, whatever was requested.
    """
    wanted = requested or os.environ.get(ENGINE_VARIABLE) or "isal"
    if wanted not in ("isal", "zlib"):
        raise ValueError(
            f"{ENGINE_VARIABLE}={wanted!r} is not an engine; use isal or zlib"
        )
    if wanted == "isal" and not isal_available():
        logger.debug("python-isal is not installed; decompressing with zlib")
        return "zlib"
    return wanted  # type: ignore[return-value]


def _module(engine: Engine) -> ModuleType:
    if engine == "isal":
        assert isal_zlib is not None
        return isal_zlib
    return zlib


def decompressed_chunks(
    handle: BinaryIO, engine: Engine, *, trailing: list[int] | None = None
) -> Iterator[bytes]:
    """Yield the decompressed content of every gzip member read from ``handle``.

    Raises GzipDamaged when the input is not gzip, is corrupt, or ends before the last
    member's trailer. Bytes after the last member that are not another member are
    counted into ``trailing[0]`` when a list is given, as ``gzip -t`` warns about them.
    """
    module = _module(engine)
    errors: tuple[type[BaseException], ...] = (module.error, zlib.error)
    decompressor = module.decompressobj(GZIP_WBITS)
    pending = handle.read(READ_SIZE)
    if not pending:
        raise GzipDamaged("truncated", "the file is empty, not even a gzip header")
    if pending[:2] != GZIP_MAGIC:
        raise GzipDamaged(
            "not_gzip",
            f"the file does not start with the gzip magic bytes 1f 8b "
            f"(it starts with {pending[:4].hex(' ')})",
        )

    consumed = 0
    while True:
        if not pending:
            pending = handle.read(READ_SIZE)
            if not pending:
                break
        try:
            output = decompressor.decompress(pending, OUTPUT_SIZE)
        except errors as exc:
            raise GzipDamaged(
                "corrupt",
                f"the gzip stream is corrupt at about byte {consumed}: {exc}",
            ) from None
        consumed += len(pending) - len(decompressor.unconsumed_tail)
        pending = decompressor.unconsumed_tail
        if output:
            yield output

        if decompressor.eof:
            rest = decompressor.unused_data + pending
            if not rest:
                rest = handle.read(READ_SIZE)
            if not rest:
                return
            if rest[:2] == GZIP_MAGIC:
                # A concatenation of gzip members is one valid gzip file.
                decompressor = module.decompressobj(GZIP_WBITS)
                pending = rest
                continue
            extra = len(rest) + _count_rest(handle)
            if trailing is not None:
                trailing.append(extra)
            return

    if not decompressor.eof:
        raise GzipDamaged(
            "truncated",
            "the gzip stream ends before its trailer: the file was cut short "
            "(a backup job killed, or a disk that filled up, while writing)",
        )


def _count_rest(handle: BinaryIO) -> int:
    count = 0
    while block := handle.read(READ_SIZE):
        count += len(block)
    return count
