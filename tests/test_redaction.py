"""Secrets stay out of every text: which values are masked, and how."""

from __future__ import annotations

from pathlib import Path

import pytest

from opscheck import redaction
from opscheck.config import loader
from opscheck.redaction import Redactor


def test_truncated_secret_is_masked() -> None:
    masker = Redactor(["exp0rtedSecretValue"])
    assert masker.text("body: token exp0rtedSecretVal…") == "body: token ***…"
    assert masker.text("plain text without it…") == "plain text without it…"


def test_each_line_of_multiline_secret() -> None:
    masker = Redactor(["line1\nmultiLine2secret"])
    assert masker.text("got multiLine2secret here") == "got *** here"


def load(
    tmp_path: Path,
    config: str,
    env: bytes,
    monkeypatch: pytest.MonkeyPatch,
    **variables: str,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    (tmp_path / ".env").write_bytes(env)
    (tmp_path / "c.yaml").write_text(config)
    loader.load(tmp_path / "c.yaml")


def test_token_from_environment_in_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = "endpoints:\n  x: {url: 'http://127.0.0.1:1/h?token=${SHELL_TOKEN}'}\n"
    load(tmp_path, config, b"", monkeypatch, SHELL_TOKEN="envTokenFromShell99")
    assert (
        redaction.current().text("GET ...token=envTokenFromShell99")
        == "GET ...token=***"
    )


def test_password_inside_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = "endpoints:\n  x: {url: 'http://admin:urlPassw0rdX@127.0.0.1:1/h'}\n"
    load(tmp_path, config, b"", monkeypatch)
    assert "urlPassw0rdX" not in redaction.current().text(
        "http://admin:urlPassw0rdX@127.0.0.1:1/h"
    )


def test_env_file_with_bad_byte_still_masks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(tmp_path, "", b"# caf\xe9\nDB_PASSWORD=hunter2secretPW\n", monkeypatch)
    assert redaction.current().text("sick hunter2secretPW") == "sick ***"


def test_secret_config_fields_are_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = "database:\n  password: ${PGPASS_FOR_TEST}\n"
    load(tmp_path, config, b"", monkeypatch, PGPASS_FOR_TEST="dbPasswordFromEnv7")
    assert redaction.current().text("x dbPasswordFromEnv7 y") == "x *** y"
