"""The exception hierarchy of opscheck.

Every error that opscheck raises on purpose derives from ``OpscheckError``::

    OpscheckError
    ├── ConfigError            invalid or unreadable config, waivers or attestations (exit 2)
    ├── UsageError             a command line that cannot run (exit 2)
    ├── CheckOutcome           raised inside a check to end it with an outcome
    │   ├── CheckFailed        a critical level is crossed, or the expectation does not hold
    │   └── CheckError         the check could not tell
    │       └── TargetUnreachable   Docker, PostgreSQL, an HTTP endpoint or a file is not reachable
    ├── RemediationError       a remediation could not run, or was refused
    └── DemoError              the demo stack could not be started, changed or stopped

Errors carry the values they are about as attributes (``key_path``, ``check_id``,
``target``), so callers and reports do not parse the message.
"""

from __future__ import annotations

from typing import Any, ClassVar


class OpscheckError(Exception):
    """Base of every error that opscheck raises on purpose."""

    exit_code: ClassVar[int] = 3

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(OpscheckError):
    """A config, waiver or attestation file that cannot be read or is invalid."""

    exit_code = 2

    def __init__(
        self, message: str, *, key_path: str | None = None, source: str | None = None
    ) -> None:
        super().__init__(message)
        self.key_path = key_path
        self.source = source


class UsageError(OpscheckError):
    """A command line that names something that does not exist or cannot run."""

    exit_code = 2


class CheckOutcome(OpscheckError):
    """Raised inside a check to end it with an outcome other than ``passed``."""

    outcome: ClassVar[str] = "failed"

    def __init__(self, message: str, **evidence: Any) -> None:
        super().__init__(message)
        self.evidence = evidence


class CheckFailed(CheckOutcome):
    """A critical level is crossed, or the expectation does not hold."""

    outcome = "failed"


class CheckError(CheckOutcome):
    """The check could not tell: unexpected data, permission denied, timed out."""

    outcome = "error"


class TargetUnreachable(CheckError):
    """Docker, PostgreSQL, an HTTP endpoint or a file could not be reached."""

    def __init__(
        self, message: str, *, target: str | None = None, **evidence: Any
    ) -> None:
        super().__init__(message, **evidence)
        self.target = target


class RemediationError(OpscheckError):
    """A remediation could not run, was refused, or broke a rule."""

    exit_code = 1


class DemoError(OpscheckError):
    """The demo stack could not be started, changed or stopped."""

    exit_code = 1
