"""opscheck: the operations runbook of a docker-compose web stack, run as pytest checks."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

# An installed wheel holds checks/, fixtures/ and remediations/ inside this package
# (pyproject.toml maps them there). A source checkout keeps them one level up, beside
# this folder, so the package path is extended to find opscheck.checks there too.
_here = Path(__file__).resolve().parent
if (
    not (_here / "checks").is_dir()
    and (_here.parent / "checks" / "__init__.py").is_file()
):
    __path__.append(str(_here.parent))
