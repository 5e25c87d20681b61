"""Waivers: an accepted failure or warning, with a justification and an expiry date."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opscheck.config.yamlfile import load_yaml
from opscheck.errors import ConfigError


class Waiver(BaseModel):
    """One waiver: which check (and target), why, until when, and whether it still runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str
    target: str | None = None
    justification: str = Field(min_length=3)
    expires: date
    approved_by: str | None = None
    runs: bool = True

    def covers(self, check_id: str, target: str | None) -> bool:
        """Tell whether this waiver is about this check and target."""
        return self.check == check_id and (self.target is None or self.target == target)

    def is_expired(self, today: date) -> bool:
        """Tell whether the expiry date has passed; a waiver holds through its expiry day."""
        return today > self.expires

    def to_dict(self) -> dict[str, Any]:
        """Return the waiver as JSON-ready data."""
        return self.model_dump(mode="json")


class WaiverFile(BaseModel):
    """The waivers file: a list under ``waivers:``."""

    model_config = ConfigDict(extra="forbid")

    waivers: list[Waiver] = Field(default_factory=list)


def load_waivers(path: Path | None, known_ids: set[str]) -> list[Waiver]:
    """Read and validate the waivers file; an absent setting means no waivers."""
    if path is None:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"waivers file {path} not found; create it or remove 'waivers' from the config",
            key_path="waivers",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"waivers file {path} cannot be read: {exc}", key_path="waivers"
        ) from None
    data = load_yaml(text, f"waivers file {path}") or {}

    try:
        parsed = WaiverFile.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"  {'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        ]
        raise ConfigError(
            "\n".join([f"waivers file {path} is invalid:", *problems])
        ) from None

    for index, waiver in enumerate(parsed.waivers):
        if waiver.check not in known_ids:
            raise ConfigError(
                f"waivers file {path}: waivers.{index}.check: unknown check id "
                f"{waiver.check!r}; 'opscheck list' shows the ids",
                key_path=f"waivers.{index}.check",
            )
    return parsed.waivers


def find_waiver(
    waivers: list[Waiver], check_id: str, target: str | None, today: date
) -> tuple[Waiver | None, Waiver | None]:
    """Return the waiver in force for a result, and an expired one that would have covered it."""
    expired = None
    for waiver in waivers:
        if not waiver.covers(check_id, target):
            continue
        if waiver.is_expired(today):
            expired = waiver
            continue
        return waiver, expired
    return None, expired
