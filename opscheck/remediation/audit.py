"""The remediation audit log: one JSON object per line, appended, never rewritten."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from opscheck import redaction
from opscheck.plugin.state import current_user, iso, utc_now


def append(path: Path, entry: dict[str, Any]) -> None:
    """Append one entry, with time, user and host, as a single write to ``path``."""
    import socket

    line = {
        "time": iso(utc_now()),
        "user": current_user(),
        "host": socket.gethostname(),
        **entry,
    }
    text = json.dumps(redaction.current().data(line), default=str, ensure_ascii=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(descriptor, (text + "\n").encode("utf-8"))
    finally:
        os.close(descriptor)


def read(path: Path) -> list[dict[str, Any]]:
    """Return the entries of an audit log, oldest first."""
    if not path.is_file():
        return []
    return [
        json.loads(line)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
