"""Finding the demo containers whose logs would fail the daily log checks.

A fault leaves its traces in the logs: nginx logs ``connect() failed`` while the
backend is stopped. The log checks look back 24 hours, so a healthy ``demo up``
replaces such a container, and the new container starts with an empty log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import docker

from opscheck import redaction
from opscheck.checks._log_scan import CRITICAL_PATTERN, REVIEW_PATTERN
from opscheck.demo.containers import service_container

# Every line that logs.critical_errors or logs.review counts, case-insensitively.
PATTERN = "|".join(
    dict.fromkeys((*CRITICAL_PATTERN.split("|"), *REVIEW_PATTERN.split("|")))
)
WINDOW = timedelta(hours=24)
SHOWN_CHARS = 120


@dataclass(frozen=True)
class NoisyLog:
    """A container whose log has lines that the daily log checks count."""

    service: str
    container: str
    lines: int
    example: str

    def describe(self) -> str:
        """Return one line naming the container and why it is replaced."""
        return (
            f"replaced container {self.container} of {self.service}: its log has "
            f"{self.lines} lines matching {PATTERN}, such as '{self.example}'"
        )


def noisy_logs(client: docker.DockerClient, services: list[str]) -> list[NoisyLog]:
    """Return the containers of ``services`` whose last 24 hours of log match."""
    matcher = re.compile(PATTERN, re.IGNORECASE)
    since = datetime.now(UTC) - WINDOW
    found = []
    for service in services:
        container = service_container(client, service)
        if container is None:
            continue
        text = container.logs(since=since).decode("utf-8", "replace")
        matched = [line for line in text.splitlines() if matcher.search(line)]
        if matched:
            example = redaction.current().text(matched[-1].strip())[:SHOWN_CHARS]
            found.append(NoisyLog(service, container.name or "", len(matched), example))
    return found
