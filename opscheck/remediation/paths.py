"""Resolving the relative file paths of the ``remediation`` section.

The config loader resolves paths written in the config file, but a default such as
``reports/evidence`` stays relative. A remediation acts on absolute paths only, so
each relative one is taken from the config file's folder, or from the current
folder when there is no config file.
"""

from __future__ import annotations

from pathlib import Path

from opscheck.config.model import Config

# The keys of the remediation section that name a file or folder.
PATH_KEYS = ("audit_log", "lock_file", "evidence_dir")


def resolved(config: Config, base_dir: Path | None) -> Config:
    """Return ``config`` with every relative remediation path made absolute."""
    base = base_dir if base_dir is not None else Path.cwd()
    settings = config.remediation
    changes: dict[str, Path] = {}
    for key in PATH_KEYS:
        value: Path = getattr(settings, key)
        if not value.is_absolute():
            changes[key] = base / value
    if not changes:
        return config
    return config.model_copy(
        update={"remediation": settings.model_copy(update=changes)}
    )
