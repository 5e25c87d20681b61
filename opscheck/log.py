"""The ``opscheck`` logger: one INFO line per external call, DEBUG for details, no secret."""

from __future__ import annotations

import logging
import sys

from opscheck import redaction

logger = logging.getLogger("opscheck")


class RedactingFilter(logging.Filter):
    """Masks secrets in the final text of every record before a handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redaction.current().text(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def configure(verbosity: int) -> None:
    """Send opscheck's log to standard error: warnings by default, INFO with -vv, DEBUG -vvv."""
    level = logging.WARNING
    if verbosity >= 3:
        level = logging.DEBUG
    elif verbosity >= 2:
        level = logging.INFO

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactingFilter())
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
