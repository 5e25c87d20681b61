"""Removal of secrets from every text that leaves opscheck: reports, logs and the terminal."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"

SECRET_KEY_NAME = re.compile(
    r"PASS|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|PRIVATE|DSN|URL", re.I
)

# A value this short under a key that names no secret ("1", "true", "db") would mask
# unrelated text everywhere, and is not a credential.
MIN_PLAIN_LENGTH = 6
MIN_SECRET_LENGTH = 3

# The mark that shortened texts end with, and how much of a secret before it is masked.
TRUNCATION = "…"
MIN_PREFIX = 4


def env_secrets(values: dict[str, str | None], public: Iterable[str] = ()) -> set[str]:
    """Choose which values of a .env file to mask.

    Every value under a key that names a secret is masked. Other values are masked when
    they are long enough to be a credential, unless the config already shows them in
    clear (a user or database name), which no secret would be.
    """
    shown = {value for value in public if value}
    chosen: set[str] = set()
    for key, value in values.items():
        if not value:
            continue
        if SECRET_KEY_NAME.search(key):
            if len(value) >= MIN_SECRET_LENGTH:
                chosen.add(value)
        elif len(value) >= MIN_PLAIN_LENGTH and value not in shown:
            chosen.add(value)
    return chosen


class Redactor:
    """Replaces every known secret value with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Add secret values; the longest are replaced first, so none leaves a tail.

        Each line of a multi-line value is a secret of its own too, since logs and
        messages often show one line of it.
        """
        for value in secrets:
            if not value:
                continue
            self._secrets.add(value)
            for line in value.splitlines():
                if len(line.strip()) >= MIN_SECRET_LENGTH:
                    self._secrets.add(line.strip())
        if self._secrets:
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(value) for value in ordered))

    def text(self, value: str) -> str:
        """Return ``value`` with every secret replaced, shortened ones included.

        A message shortened with "…" may end in the start of a secret; at least
        ``MIN_PREFIX`` characters of a secret right before the "…" are masked too.
        """
        if self._pattern is None or not value:
            return value
        masked = self._pattern.sub(MASK, value)
        if TRUNCATION in masked:
            masked = self._mask_truncated(masked)
        return masked

    def _mask_truncated(self, text: str) -> str:
        pieces = text.split(TRUNCATION)
        for index, piece in enumerate(pieces[:-1]):
            pieces[index] = self._mask_secret_tail(piece)
        return TRUNCATION.join(pieces)

    def _mask_secret_tail(self, piece: str) -> str:
        """Mask the longest start of a secret that ``piece`` ends with, if any."""
        for secret in self._secrets:
            for length in range(len(secret) - 1, MIN_PREFIX - 1, -1):
                if piece.endswith(secret[:length]):
                    return piece[: len(piece) - length] + MASK
        return piece

    def data(self, value: Any) -> Any:
        """Return a copy of JSON-like data with every secret replaced in keys and strings."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(key)): self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


_current = Redactor()


def current() -> Redactor:
    """Return the redactor of this process, filled by the config loader."""
    return _current


def register_secrets(secrets: Iterable[str]) -> None:
    """Add secret values to the redactor of this process."""
    _current.add(secrets)
