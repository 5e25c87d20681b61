"""Finding, reading, interpolating and validating the config file.

Nothing else in opscheck reads YAML or the environment for settings: every other module
receives the validated ``Config``.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import BaseModel, SecretStr, ValidationError

from opscheck import redaction
from opscheck.catalogue import BROKEN_MODULES, load_catalogue
from opscheck.config.model import Config
from opscheck.config.yamlfile import load_yaml
from opscheck.errors import ConfigError
from opscheck.log import logger

ENV_VARIABLE = "OPSCHECK_CONFIG"
DEFAULT_NAME = "opscheck.yaml"

# ${NAME} or ${NAME:-fallback}, as in compose files and POSIX shells.
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

_PATH_KEYS: tuple[tuple[str, ...], ...] = (
    ("compose", "file"),
    ("backups", "path"),
    ("logs", "access_log"),
    ("secrets", "env_file"),
    ("remediation", "audit_log"),
    ("remediation", "lock_file"),
    ("remediation", "evidence_dir"),
    ("reports", "dir"),
    ("waivers",),
)


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config with where it came from."""

    config: Config
    source: Path | None
    sha256: str
    base_dir: Path
    secrets: frozenset[str] = field(default_factory=frozenset)


def discover(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Find the config: ``--config``, then ``$OPSCHECK_CONFIG``, then ``./opscheck.yaml``."""
    if explicit:
        return Path(explicit)
    from_environment = os.environ.get(ENV_VARIABLE)
    if from_environment:
        return Path(from_environment)
    local = Path.cwd() / DEFAULT_NAME
    if local.is_file():
        return local
    return None


def load(explicit: str | os.PathLike[str] | None = None) -> LoadedConfig:
    """Discover, read and validate the config; raise ConfigError naming the key and fix."""
    path = discover(explicit)
    if path is None:
        logger.info("no config file found; using the runbook's defaults")
        return _build({}, None, b"", Path.cwd())

    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found; pass an existing file with --config "
            f"or ${ENV_VARIABLE}, or remove it to use the runbook's defaults",
            source=str(path),
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"config path {path} is a folder; pass the YAML file itself",
            source=str(path),
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"config file {path} cannot be read: {exc.strerror}; check its permissions",
            source=str(path),
        ) from None

    data = parse_yaml(raw_bytes, path)
    logger.info("read config %s", path)
    return _build(data, path, raw_bytes, path.resolve().parent)


def parse_yaml(raw_bytes: bytes, path: Path) -> dict[str, Any]:
    """Parse the YAML text of a config, with the line and column of a syntax error."""
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (invalid byte at offset {exc.start}); "
            "save it as UTF-8",
            source=str(path),
        ) from None
    data = load_yaml(text, f"config file {path}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} contains a {type(data).__name__}, not a mapping of sections; "
            "start it with a section such as 'compose:'",
            source=str(path),
        )
    return data


def _build(
    data: dict[str, Any], source: Path | None, raw: bytes, base_dir: Path
) -> LoadedConfig:
    env_file = _env_file_path(data, base_dir)
    env_values = _read_env_file(env_file)
    lookup = {**{k: v for k, v in env_values.items() if v is not None}, **os.environ}

    used: list[tuple[str, str, tuple[str, ...]]] = []
    interpolated = _interpolate(data, lookup, (), env_file, used)
    resolved = _resolve_paths(interpolated, base_dir)

    try:
        config = Config.model_validate(resolved)
    except ValidationError as exc:
        raise ConfigError(
            _describe_validation(exc, source), source=str(source)
        ) from None

    validate_check_settings(config, source)

    secrets = set(
        redaction.env_secrets(
            env_values,
            public=[
                config.database.user,
                config.database.name,
                config.database.host,
                config.compose.project,
                *config.compose.services,
            ],
        )
    )
    secrets.update(_config_secrets(config))
    for name, value, key_path in used:
        # A variable that names a secret, or fills a key that contains one, is masked
        # wherever its value later appears (a token in a URL, a restore password).
        if redaction.SECRET_KEY_NAME.search(name) or redaction.SECRET_KEY_NAME.search(
            key_path[-1]
        ):
            secrets.add(value)
    redaction.register_secrets(secrets)

    return LoadedConfig(
        config=config,
        source=source,
        sha256=hashlib.sha256(raw).hexdigest(),
        base_dir=base_dir,
        secrets=frozenset(secrets),
    )


def _config_secrets(config: Config) -> set[str]:
    """Collect every SecretStr of the config and every password written into a URL."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.add(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for field_name in type(value).model_fields:
                walk(getattr(value, field_name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, str) and "://" in value:
            password = urlsplit(value).password
            if password:
                found.add(password)

    walk(config)
    return found


def _env_file_path(data: dict[str, Any], base_dir: Path) -> Path:
    section = data.get("secrets")
    configured = section.get("env_file") if isinstance(section, dict) else None
    path = Path(configured) if isinstance(configured, str) else Path(".env")
    return path if path.is_absolute() else base_dir / path


def _read_env_file(path: Path) -> dict[str, str | None]:
    if not path.is_file():
        return {}
    try:
        # A byte that is not UTF-8 must not make the whole file unreadable: its values
        # are still needed, if only to keep them out of every report.
        text = path.read_bytes().decode("utf-8", errors="replace")
        return dict(dotenv_values(stream=io.StringIO(text)))
    except OSError as exc:
        # The .env values are only used to fill ${VAR} references; a file that cannot be
        # read leaves them unset, and the security checks report the file itself.
        logger.warning("cannot read %s (%s); its values are not used", path, exc)
        return {}


def _interpolate(
    value: Any,
    lookup: dict[str, str],
    key_path: tuple[str, ...],
    env: Path,
    used: list[tuple[str, str, tuple[str, ...]]],
) -> Any:
    """Replace ${NAME} references, recording each variable used and where."""
    if isinstance(value, dict):
        return {
            key: _interpolate(item, lookup, (*key_path, str(key)), env, used)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _interpolate(item, lookup, (*key_path, str(i)), env, used)
            for i, item in enumerate(value)
        ]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, fallback = match.group(1), match.group(2)
        if name in lookup:
            used.append((name, lookup[name], key_path or ("",)))
            return lookup[name]
        if fallback is not None:
            return fallback
        raise ConfigError(
            f"{'.'.join(key_path)}: ${{{name}}} is not set in the environment or in {env}; "
            f"export {name}, add it to that file, or write ${{{name}:-default}}",
            key_path=".".join(key_path),
        )

    return _REFERENCE.sub(replace, value)


def _resolve_paths(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    result = dict(data)
    for keys in _PATH_KEYS:
        container: Any = result
        for key in keys[:-1]:
            if not isinstance(container.get(key), dict):
                container = None
                break
            container[key] = dict(container[key])
            container = container[key]
        if container is None:
            continue
        value = container.get(keys[-1])
        if isinstance(value, str) and value and not Path(value).is_absolute():
            container[keys[-1]] = str(base_dir / value)

    disk = result.get("disk")
    if isinstance(disk, dict) and isinstance(disk.get("paths"), list):
        disk = dict(disk)
        disk["paths"] = [
            str(base_dir / item)
            if isinstance(item, str) and not Path(item).is_absolute()
            else item
            for item in disk["paths"]
        ]
        result["disk"] = disk
    return result


def _describe_validation(exc: ValidationError, source: Path | None) -> str:
    where = f"config file {source}" if source else "config"
    lines = [f"{where} is invalid:"]
    for error in exc.errors():
        key_path = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            parent = error["loc"][:-1]
            allowed = _allowed_keys(parent)
            hint = f"; allowed here: {', '.join(allowed)}" if allowed else ""
            lines.append(f"  {key_path}: unknown key{hint}")
            continue
        given = error.get("input")
        shown = "" if isinstance(given, dict | list) else f" (got {given!r})"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {key_path}: {message}{shown}")
    return "\n".join(lines)


def _allowed_keys(parent: tuple[Any, ...]) -> list[str]:
    model: Any = Config
    for part in parent:
        if isinstance(part, int) or model is None:
            continue
        field_info = model.model_fields.get(str(part))
        if field_info is None:
            # A key of a mapping (an endpoint name): its value's model comes next.
            continue
        annotation = field_info.annotation
        model = _model_in(annotation)
    return sorted(model.model_fields) if model is not None else []


def _model_in(annotation: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def validate_check_settings(config: Config, source: Path | None) -> None:
    """Check the ``checks:`` section against the catalogue: ids, options and levels."""
    catalogue = load_catalogue()
    problems: list[str] = []

    for check_id, settings in config.checks.items():
        declaration = catalogue.get(check_id)
        if declaration is None:
            problems.append(
                f"  checks.{check_id}: unknown check id; 'opscheck list' shows the ids"
                + _broken_modules_note()
            )
            continue

        extra = dict(settings.model_extra or {})
        level_sets = declaration.all_levels()
        level_keys = {key for levels in level_sets.values() for key in levels.keys}
        allowed = sorted({"enabled", "timeout_s", *level_keys, *declaration.options})

        for key, value in extra.items():
            path = f"checks.{check_id}.{key}"
            if key in level_keys:
                continue
            if key not in declaration.options:
                problems.append(
                    f"  {path}: unknown setting; this check takes: {', '.join(allowed)}"
                )
                continue
            default = declaration.options[key]
            problem = _option_type_problem(value, default)
            if problem:
                problems.append(f"  {path}: {problem}")

        for suite, levels in level_sets.items():
            try:
                merged = levels.with_overrides(extra)
            except ValueError as exc:
                problems.append(f"  checks.{check_id}: {exc}")
                break
            problem = merged.order_problem()
            if problem:
                scope = "" if suite == "*" else f" (suite {suite})"
                problems.append(f"  checks.{check_id}{scope}: {problem}")

    if problems:
        where = f"config file {source}" if source else "config"
        raise ConfigError(
            "\n".join([f"{where} is invalid:", *problems]), key_path="checks"
        )


def _broken_modules_note() -> str:
    if not BROKEN_MODULES:
        return ""
    names = ", ".join(sorted(BROKEN_MODULES))
    return f" (the check modules {names} failed to import, so their ids are missing)"


def _option_type_problem(value: Any, default: Any) -> str | None:
    if default is None:
        return None
    expected: type | tuple[type, ...] = type(default)
    if isinstance(default, float):
        expected = (int, float)
    if isinstance(value, bool) and not isinstance(default, bool):
        return f"expected {type(default).__name__}, got {value!r}"
    if not isinstance(value, expected):
        return f"expected {type(default).__name__} like {default!r}, got {value!r}"
    return None
