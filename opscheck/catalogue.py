"""The catalogue: every check declaration, read from the modules under ``opscheck.checks``."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from opscheck.declaration import Declaration, declaration_of
from opscheck.log import logger


def check_package_path() -> str:
    """Return the folder that holds the check modules, as pytest should collect it."""
    package = importlib.import_module("opscheck.checks")
    return str(next(iter(package.__path__)))


# Check modules that failed to import, with the reason. The run reports their
# collection as an error of opscheck itself, while the other modules' checks still run.
BROKEN_MODULES: dict[str, str] = {}


@cache
def load_catalogue() -> dict[str, Declaration]:
    """Import every check module and return the declarations by check id, in file order."""
    package = importlib.import_module("opscheck.checks")
    found: dict[str, Declaration] = {}
    for module_info in sorted(
        pkgutil.iter_modules(package.__path__), key=lambda m: m.name
    ):
        if module_info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"opscheck.checks.{module_info.name}")
        except Exception as exc:  # one broken module must not hide the others
            BROKEN_MODULES[module_info.name] = f"{type(exc).__name__}: {exc}"
            logger.error(
                "check module %s cannot be imported: %s", module_info.name, exc
            )
            continue
        for value in vars(module).values():
            declaration = declaration_of(value)
            if declaration is None:
                continue
            if declaration.id in found and found[declaration.id] != declaration:
                raise RuntimeError(
                    f"check id {declaration.id} is declared twice with different facts "
                    f"(second time in {module.__name__})"
                )
            found[declaration.id] = declaration
    return found
