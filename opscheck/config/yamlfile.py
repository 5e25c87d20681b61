"""Reading the YAML files opscheck takes (config, waivers, attestations), within bounds.

YAML aliases let a few lines stand for billions of values, and nesting can go deeper
than Python's recursion limit. Both are measured on the node graph before the file is
turned into Python values, so a hostile file ends in a message, not in a hang.
"""

from __future__ import annotations

from typing import Any

import yaml

from opscheck.errors import ConfigError

MAX_VALUES = 100_000
MAX_DEPTH = 100


def _expanded_size(node: yaml.Node, memo: dict[int, int], depth: int) -> int:
    if depth > MAX_DEPTH:
        raise _TooDeep
    known = memo.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            size += _expanded_size(child, memo, depth + 1)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            size += _expanded_size(key, memo, depth + 1)
            size += _expanded_size(value, memo, depth + 1)
    memo[id(node)] = size
    return size


class YamlSyntaxError(ConfigError):
    """A file that is not YAML at all."""


class _TooDeep(Exception):
    """The node graph is nested deeper than MAX_DEPTH."""


def load_yaml(text: str, origin: str) -> Any:
    """Parse YAML text, raising ConfigError that names ``origin`` for any bad input."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_size(node, {}, 0) > MAX_VALUES:
            raise ConfigError(
                f"{origin} expands to more than {MAX_VALUES} values through YAML aliases; "
                "write the values out or use fewer aliases"
            )
        return yaml.safe_load(text)
    except _TooDeep:
        raise ConfigError(
            f"{origin} is nested more than {MAX_DEPTH} levels deep; flatten it"
        ) from None
    except RecursionError:
        raise ConfigError(
            f"{origin} is nested too deeply to read; flatten it"
        ) from None
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlSyntaxError(
            f"{origin} is not valid YAML{where}: {problem}; fix the syntax there"
        ) from None
    except ValueError as exc:
        # PyYAML's constructors raise ValueError for values of the right form but an
        # impossible content, such as the date 2027-02-30.
        raise ConfigError(f"{origin} holds an invalid value: {exc}") from None
