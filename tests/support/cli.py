"""Run the installed ``opscheck`` command as a user would, in a subprocess.

The tests run the console script of the virtualenv that runs pytest, so they cover the
installed package (entry point, package data, bundled checks) and not the source tree.
``scripts/setup.sh --dev`` installs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Variables of the outer pytest run that would change how the inner one behaves, and the
# opscheck settings (such as OPSCHECK_CONFIG) of the user who runs the tests.
_DROPPED_PREFIXES = ("PYTEST_", "OPSCHECK_")
# The repository on PYTHONPATH would shadow the installed package.
_DROPPED_NAMES = ("PYTHONPATH",)


@dataclass(frozen=True)
class Result:
    """The outcome of one ``opscheck`` run."""

    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    cwd: Path

    def json(self, path: str | os.PathLike[str]) -> Any:
        """Load a JSON file the run wrote; a relative path is read from ``cwd``."""
        __tracebackhide__ = True
        report = self.cwd / path
        if not report.is_file():
            pytest.fail(
                f"{report} not found after `opscheck {' '.join(self.args)}` "
                f"(exit {self.exit_code}); stderr:\n{self.stderr}"
            )
        return json.loads(report.read_text())


def opscheck_executable() -> Path:
    """Return the ``opscheck`` console script of the running virtualenv."""
    __tracebackhide__ = True
    executable = Path(sys.prefix) / "bin" / "opscheck"
    if not executable.is_file():
        pytest.fail(
            f"{executable} not found: opscheck is not installed in the virtualenv "
            "that runs pytest; run scripts/setup.sh --dev"
        )
    return executable


def clean_environment(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Return a copy of ``os.environ`` for a subprocess, updated with ``extra``.

    A value of None in ``extra`` removes that variable.
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_DROPPED_PREFIXES) and name not in _DROPPED_NAMES
    }
    for name, value in (extra or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return environment


@pytest.fixture
def opscheck_cli(tmp_path: Path) -> Callable[..., Result]:
    """Return ``run(*args, env=None, cwd=None, timeout=300, input=None) -> Result``.

    ``run`` starts the installed ``opscheck`` with ``args`` in the test's ``tmp_path``
    (or ``cwd``), with no standard input unless ``input`` is given, and waits at most
    ``timeout`` seconds. ``env`` adds variables to a clean copy of the environment;
    a value of None removes one. Without ``env={"DOCKER_HOST": docker_engine.host}``
    the command talks to whatever engine the environment names, by default the host's.
    """
    executable = opscheck_executable()

    def run(
        *args: str | os.PathLike[str],
        env: Mapping[str, str | None] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float = 300,
        input: str | None = None,
    ) -> Result:
        __tracebackhide__ = True
        arguments = tuple(str(arg) for arg in args)
        directory = Path(cwd) if cwd is not None else tmp_path
        try:
            completed = subprocess.run(
                [str(executable), *arguments],
                cwd=directory,
                env=clean_environment(env),
                input=input,
                stdin=subprocess.DEVNULL if input is None else None,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            pytest.fail(
                f"`opscheck {' '.join(arguments)}` timed out after {timeout} s; "
                f"stdout:\n{_text(error.stdout)}\nstderr:\n{_text(error.stderr)}"
            )
        return Result(
            args=arguments,
            exit_code=completed.returncode,
            stdout=completed.stdout,
            stderr=completed.stderr,
            cwd=directory,
        )

    return run


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


__all__ = ["Result", "clean_environment", "opscheck_cli", "opscheck_executable"]
