"""The ``demo_stack`` fixture: the bundled demo stack on the test session's engine.

The stack is brought up once per session in a temporary folder, with the Python API
that ``opscheck demo up`` uses, and taken down (containers and volumes) at the end.
Tests that inject a fault call ``heal()`` afterwards, or leave it to the next
``break_()``, which clears every fault it is not given.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from opscheck.demo.stack import DemoStack, UpResult


@dataclass
class DemoHandle:
    """A running demo stack: its config, folder and ports, with fault switches."""

    stack: DemoStack
    config_path: Path
    directory: Path
    host: str

    @property
    def ports(self) -> dict[str, int]:
        """The stack's ports by name (backend, frontend, nginx, db), from its state."""
        state = self.stack.demo.read_state()
        assert state is not None, f"{self.directory} has no state file"
        return state.ports

    def break_(self, *names: str) -> UpResult:
        """Apply the named faults and clear every other one."""
        __tracebackhide__ = True
        return self.stack.up(list(names))

    def heal(self) -> UpResult:
        """Clear every fault and wait until the stack is healthy, with clean logs."""
        __tracebackhide__ = True
        return self.stack.up()


@pytest.fixture(scope="session")
def demo_stack(
    docker_engine: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoHandle]:
    """Bring the demo stack up on the test engine and take it down after the session."""
    __tracebackhide__ = True
    base = tmp_path_factory.mktemp("demo")
    stack = DemoStack(
        base / "opscheck-demo",
        docker_host=docker_engine.host,
        config_path=base / "opscheck-demo.yaml",
    )
    try:
        result = stack.up()
        yield DemoHandle(stack, result.config_path, stack.demo.root, docker_engine.host)
    finally:
        stack.down()
