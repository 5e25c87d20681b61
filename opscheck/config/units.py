"""Parsing of sizes written with units, as the config accepts them (``100KiB``, ``5GB``)."""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)

_FACTORS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_size(value: object) -> int:
    """Convert ``1MiB``, ``5GB``, ``2048`` or ``2048B`` to a number of bytes.

    KB, MB and GB are powers of 1000, KiB, MiB and GiB powers of 1024, as in IEC 80000-13.
    Raises ValueError with the accepted forms when the value is not a size.
    """
    if isinstance(value, bool):
        raise ValueError(
            f"{value!r} is not a size; write bytes or a unit: 100KiB, 1MiB, 5GB"
        )
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is negative; a size is zero or more bytes")
        return int(value)
    match = _SIZE.match(str(value))
    if match is None:
        raise ValueError(
            f"{value!r} is not a size; write bytes or a unit: 100KiB, 1MiB, 5GB"
        )
    number, unit = match.groups()
    return int(float(number) * _FACTORS[(unit or "B").lower()])


def format_size(size: float) -> str:
    """Format a number of bytes with the largest binary unit that keeps it at 1 or more."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
