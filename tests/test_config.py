"""Config loading: defaults, discovery, interpolation, and the errors that name the key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from opscheck.catalogue import load_catalogue
from opscheck.config import loader
from opscheck.config.units import parse_size
from opscheck.errors import ConfigError
from opscheck.levels import Levels


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_runbook_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPSCHECK_CONFIG", raising=False)
    loaded = loader.load(None)
    config = loaded.config
    assert loaded.source is None
    assert config.compose.project == "taskmanagement"
    assert config.compose.services == ["backend", "frontend", "db", "nginx"]
    assert config.endpoints["backend"].url == "http://localhost:5000/api/health"
    assert config.endpoints["frontend"].url == "http://localhost:3000/api/health"
    assert (config.database.host, config.database.port) == ("localhost", 5432)
    assert (config.database.name, config.database.user) == ("taskdb", "taskuser")
    assert config.backups.path == Path("/backups/database")
    assert config.backups.retention_days == 30


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    loaded = loader.load(write(tmp_path / "opscheck.yaml", ""))
    assert loaded.config.compose.project == "taskmanagement"
    assert loaded.source == tmp_path / "opscheck.yaml"


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = write(tmp_path / "opscheck.yaml", "compose: {project: local}\n")
    from_env = write(tmp_path / "env.yaml", "compose: {project: fromenv}\n")
    explicit = write(tmp_path / "explicit.yaml", "compose: {project: explicit}\n")
    monkeypatch.chdir(tmp_path)

    monkeypatch.delenv("OPSCHECK_CONFIG", raising=False)
    assert loader.load(None).config.compose.project == "local"

    monkeypatch.setenv("OPSCHECK_CONFIG", str(from_env))
    assert loader.load(None).config.compose.project == "fromenv"
    assert loader.load(explicit).config.compose.project == "explicit"
    assert local.exists()


def test_unknown_key_names_path_and_allowed(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "database:\n  hots: db.internal\n")
    with pytest.raises(ConfigError) as caught:
        loader.load(path)
    message = str(caught.value)
    assert "database.hots: unknown key" in message
    assert "allowed here:" in message
    assert "host" in message
    assert caught.value.exit_code == 2


def test_wrong_type_names_path_and_value(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "database:\n  port: five\n")
    with pytest.raises(ConfigError) as caught:
        loader.load(path)
    assert "database.port" in str(caught.value)
    assert "'five'" in str(caught.value)


def _check_with_two_levels() -> tuple[str, str, str]:
    for declaration in load_catalogue().values():
        for levels in declaration.all_levels().values():
            if levels.warning is not None and levels.critical is not None:
                warning_key, critical_key = levels.keys
                return declaration.id, warning_key, critical_key
    pytest.skip("no check declares both a warning and a critical level yet")


def test_warning_beyond_critical_is_rejected(tmp_path: Path) -> None:
    check_id, warning_key, critical_key = _check_with_two_levels()
    low, high = (1, 2) if warning_key == "warning" else (2, 1)
    path = write(
        tmp_path / "c.yaml",
        f"checks:\n  {check_id}: {{{warning_key}: {high * 1000}, {critical_key}: {low * 1000}}}\n",
    )
    with pytest.raises(ConfigError) as caught:
        loader.load(path)
    message = str(caught.value)
    assert f"checks.{check_id}" in message
    assert "would never warn" in message


def test_levels_order_problem() -> None:
    assert Levels(warning=90, critical=80).order_problem() is not None
    assert Levels(warning=70, critical=90).order_problem() is None
    assert (
        Levels(warning=100, critical=200, direction="below").order_problem() is not None
    )
    assert Levels(warning=200, critical=100, direction="below").order_problem() is None


def test_option_of_wrong_type_is_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml", "checks:\n  services.healthy: {grace_period_s: long}\n"
    )
    with pytest.raises(ConfigError) as caught:
        loader.load(path)
    assert "checks.services.healthy.grace_period_s: expected float" in str(caught.value)


def test_unknown_check_id_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "checks:\n  services.runing: {enabled: false}\n")
    with pytest.raises(ConfigError) as caught:
        loader.load(path)
    assert "checks.services.runing: unknown check id" in str(caught.value)


def test_unknown_check_setting_lists_known(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "checks:\n  services.healthy: {grace: 10}\n")
    with pytest.raises(ConfigError) as caught:
        loader.load(path)
    message = str(caught.value)
    assert "checks.services.healthy.grace: unknown setting" in message
    assert "grace_period_s" in message


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "compose:\n  project: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        loader.load(path)
    assert "not valid YAML at line" in str(caught.value)


def test_top_level_list_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "- compose\n")
    with pytest.raises(ConfigError) as caught:
        loader.load(path)
    assert "not a mapping" in str(caught.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        loader.load(tmp_path / "absent.yaml")
    assert "absent.yaml not found" in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "")
    path.chmod(0)
    with pytest.raises(ConfigError) as caught:
        loader.load(path)
    assert "cannot be read" in str(caught.value)


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        loader.load(tmp_path)
    assert "is a folder" in str(caught.value)


def test_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b"compose:\n  project: \xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        loader.load(path)
    assert "not UTF-8" in str(caught.value)


def test_variables_from_env_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / ".env", "POSTGRES_PASSWORD=s3cret-from-dotenv\nDB_PORT=6543\n")
    path = write(
        tmp_path / "c.yaml",
        "database:\n  password: ${POSTGRES_PASSWORD}\n  port: ${DB_PORT}\n  name: ${DB_NAME:-fallbackdb}\n",
    )
    monkeypatch.delenv("DB_NAME", raising=False)
    monkeypatch.setenv("DB_PORT", "7654")
    config = loader.load(path).config
    assert config.database.password is not None
    assert config.database.password.get_secret_value() == "s3cret-from-dotenv"
    assert config.database.port == 7654
    assert config.database.name == "fallbackdb"


def test_unset_variable_names_key_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    path = write(tmp_path / "c.yaml", "database:\n  password: ${NOT_SET_ANYWHERE}\n")
    with pytest.raises(ConfigError) as caught:
        loader.load(path)
    message = str(caught.value)
    assert message.startswith("database.password: ${NOT_SET_ANYWHERE} is not set")
    assert str(tmp_path / ".env") in message


def test_relative_paths_follow_config_folder(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        "backups:\n  path: backups/database\nsecrets:\n  env_file: conf/.env\n",
    )
    config = loader.load(path).config
    assert config.backups.path == tmp_path / "backups" / "database"
    assert config.secrets.env_file == tmp_path / "conf" / ".env"


def test_bad_timezone_and_pattern(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        "backups: {timezone: Mars/Olympus}\nlogs: {ignore: ['(unclosed']}\n",
    )
    with pytest.raises(ConfigError) as caught:
        loader.load(path)
    message = str(caught.value)
    assert "backups.timezone" in message
    assert "not a known time zone" in message
    assert "logs.ignore: '(unclosed' is not a valid regular expression" in message


def test_secrets_are_registered_for_redaction(tmp_path: Path) -> None:
    from opscheck import redaction

    write(
        tmp_path / ".env",
        "POSTGRES_PASSWORD=pw-abc123-unique\nPOSTGRES_USER=taskuser\n",
    )
    write(tmp_path / "c.yaml", "database:\n  password: ${POSTGRES_PASSWORD}\n")
    loader.load(tmp_path / "c.yaml")
    masked = redaction.current().text("login pw-abc123-unique as taskuser")
    assert masked == "login *** as taskuser"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100KiB", 102400),
        ("1MiB", 1048576),
        ("5GB", 5_000_000_000),
        ("2048", 2048),
        (512, 512),
        ("1.5 KiB", 1536),
    ],
)
def test_parse_size(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "-1", "1 XB", True])
def test_parse_size_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def test_alias_bomb_is_rejected(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    path = write(tmp_path / "c.yaml", "\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as caught:
        loader.load(path)
    assert "expands to more than 100000 values through YAML aliases" in str(
        caught.value
    )


def test_deep_nesting_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "a: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(ConfigError) as caught:
        loader.load(path)
    assert "nested too deeply" in str(caught.value)


def test_small_aliases_still_work(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "compose:\n  services: &s [backend, db]\n")
    assert loader.load(path).config.compose.services == ["backend", "db"]


def test_waiver_with_impossible_date(opscheck_cli: Any, tmp_path: Path) -> None:
    write(
        tmp_path / "waivers.yaml",
        "waivers: [{check: backup.size, justification: because, expires: 2027-02-30}]\n",
    )
    config = write(tmp_path / "c.yaml", "waivers: waivers.yaml\n")
    for command in (("config", "validate"), ("daily",)):
        outcome = opscheck_cli(*command, "--config", str(config))
        assert outcome.exit_code == 2, outcome.stderr
        assert "holds an invalid value: day is out of range for month" in outcome.stderr
        assert "Traceback" not in outcome.stderr + outcome.stdout


def test_waiver_unknown_check_fails_validate(opscheck_cli: Any, tmp_path: Path) -> None:
    write(
        tmp_path / "waivers.yaml",
        "waivers: [{check: backup.nope, justification: because, expires: 2027-01-30}]\n",
    )
    config = write(tmp_path / "c.yaml", "waivers: waivers.yaml\n")
    outcome = opscheck_cli("config", "validate", "--config", str(config))
    assert outcome.exit_code == 2
    assert "unknown check id 'backup.nope'" in outcome.stderr
