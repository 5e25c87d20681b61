"""Attestations: the deploy checklist items that no program can see, given for one run."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from opscheck.config.yamlfile import YamlSyntaxError, load_yaml
from opscheck.errors import ConfigError
from opscheck.plugin.state import Attestation, current_user, iso, utc_now

KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_NOTE = 500

# Variables that CI systems set, in the order they are tried, to record who attested.
_CI_ACTORS = (
    ("GITHUB_ACTOR", "GITHUB_RUN_ID", "GitHub Actions"),
    ("GITLAB_USER_LOGIN", "CI_JOB_ID", "GitLab CI"),
    ("BUILD_USER_ID", "BUILD_NUMBER", "Jenkins"),
)


def attesting_party() -> tuple[str, str]:
    """Return who attests (a CI job's user where one is known, else the OS user) and how."""
    for actor_variable, job_variable, system in _CI_ACTORS:
        actor = os.environ.get(actor_variable)
        if actor:
            job = os.environ.get(job_variable, "")
            return actor, f"{system} job {job}".strip()
    return current_user(), "command line"


def parse_item(text: str, origin: str) -> tuple[str, str]:
    """Split ``KEY[=NOTE]`` into key and note, checking the key's form."""
    key, _, note = text.partition("=")
    key = key.strip()
    if not KEY.match(key):
        raise ConfigError(
            f"{origin}: attestation key {key!r} is invalid; use lower-case letters, digits and "
            "'_' such as staging_tests_passed",
        )
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise ConfigError(
            f"{origin}: the note of attestation {key} is {len(note)} characters long; "
            f"keep it under {MAX_NOTE}, such as a build number or a link"
        )
    return key, note


def collect_attestations(items: list[str], file: str | None) -> list[Attestation]:
    """Gather the attestations of this run from ``--attest`` options and a file."""
    by, source = attesting_party()
    now = iso(utc_now())
    found: dict[str, Attestation] = {}

    if file:
        for key, note in _read_file(Path(file)):
            found[key] = Attestation(
                key=key, note=note, by=by, at=now, source=f"file {file}"
            )
    for text in items:
        key, note = parse_item(text, "--attest")
        found[key] = Attestation(key=key, note=note, by=by, at=now, source=source)
    return list(found.values())


def _read_file(path: Path) -> list[tuple[str, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"attestation file {path} cannot be read: {exc}") from None
    try:
        data = load_yaml(text, f"attestation file {path}")
    except YamlSyntaxError:
        # Not YAML: the file may still be KEY[=NOTE] lines, read below.
        data = None
    if isinstance(data, dict):
        return [_mapping_item(str(key), value, path) for key, value in data.items()]
    lines = [line.strip() for line in text.splitlines()]
    return [
        parse_item(line, str(path))
        for line in lines
        if line and not line.startswith("#")
    ]


# Values that read as "not done" in a YAML mapping; YAML itself turns no, off and
# false into False and an empty value into None.
_NOT_DONE = {"", "no", "false", "off", "n", "0", "not yet", "pending", "todo"}


def _mapping_item(key: str, value: object, path: Path) -> tuple[str, str]:
    """Read one ``key: value`` line of an attestation file: true or a note attests it."""
    if value is True:
        return parse_item(key, str(path))
    if value is None or value is False or str(value).strip().lower() in _NOT_DONE:
        raise ConfigError(
            f"attestation file {path}: {key} is {value!r}, which does not attest it; "
            "write 'true' or a note (such as 'build 812 green') for a done item, and "
            "leave undone items out of the file",
            key_path=key,
        )
    return parse_item(f"{key}={value}", str(path))


def reject_unknown(attestations: list[Attestation], expected: list[str]) -> None:
    """Raise ConfigError for an attested key that ``deploy.attestations`` does not list.

    A misspelt key would otherwise attest nothing while looking attested.
    """
    for attestation in attestations:
        if attestation.key in expected:
            continue
        close = difflib.get_close_matches(attestation.key, expected, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ConfigError(
            f"attestation {attestation.key} ({attestation.source}) is not a checklist item "
            f"of this config{hint}; the items are {', '.join(expected)}; add it under "
            "deploy.attestations to make it one",
            key_path="deploy.attestations",
        )
