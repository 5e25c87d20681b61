"""Validation of the config values that become remediation arguments.

A value that fails here never reaches a remediation: the runner records the
remediation as not run, with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from opscheck.errors import RemediationError

# Compose project and service names, Docker volume names and PostgreSQL role names.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# A table, optionally qualified by its schema: unquoted SQL identifiers only.
TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$")
HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}$")


def name(value: str, what: str) -> str:
    """Return ``value`` when it is a plain name (letters, digits, '_', '.', '-')."""
    if not NAME.match(value):
        raise RemediationError(
            f"{what} {value!r} is not a valid name (letters, digits, '_', '.', '-', "
            "starting with a letter or digit); fix it in the config"
        )
    return value


def table(value: str) -> str:
    """Return ``value`` when it is a table name, optionally ``schema.table``."""
    if not TABLE.match(value):
        raise RemediationError(
            f"table {value!r} is not a plain SQL identifier such as tasks or "
            "public.tasks; name the table without quotes"
        )
    return value


def host(value: str, what: str) -> str:
    """Return ``value`` when it is a host name or address, or a socket folder path."""
    if value.startswith("/"):
        return str(absolute_path(Path(value), what))
    if not HOST.match(value):
        raise RemediationError(f"{what} {value!r} is not a host name or address")
    return value


def absolute_path(value: Path, what: str) -> Path:
    """Return ``value`` when it is absolute and has no '..' component."""
    text = str(value)
    if "\x00" in text:
        raise RemediationError(f"{what} contains a NUL character")
    if not value.is_absolute():
        raise RemediationError(
            f"{what} {text} is not an absolute path; write it from / in the config"
        )
    if ".." in PurePosixPath(text).parts:
        raise RemediationError(
            f"{what} {text} contains '..'; write the path without it"
        )
    return value


def docker_host(value: str) -> str:
    """Return a Docker engine address: a unix socket path, or tcp:// on loopback."""
    if value.startswith("unix://"):
        absolute_path(Path(value.removeprefix("unix://")), "docker.host socket")
        return value
    if value.startswith(("tcp://", "http://", "https://", "ssh://")):
        rest = value.split("://", 1)[1]
        if not HOST.match(rest.split("/", 1)[0]):
            raise RemediationError(f"docker.host {value!r} is not a valid address")
        return value
    raise RemediationError(
        f"docker.host {value!r} is not an address such as unix:///var/run/docker.sock"
    )
