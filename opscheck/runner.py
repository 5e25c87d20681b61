"""Running a suite: options in, a pytest invocation, the summary and an exit status out."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest

from opscheck.catalogue import check_package_path
from opscheck.config.loader import LoadedConfig
from opscheck.plugin.results import EXIT_INTERNAL, EXIT_USAGE
from opscheck.plugin.state import STATE_KEY, RunState
from opscheck.reporting import summary

INI_FILE = Path(__file__).parent / "plugin" / "checks.ini"


@dataclass
class RunRequest:
    """The options of one suite command, as the CLI received them."""

    suite: str | None
    marker: str
    loaded: LoadedConfig
    config_path: str | None
    report_dir: Path | None = None
    junit_xml: Path | None = None
    html: Path | None = None
    json: Path | None = None
    fail_on: str = "critical"
    remediate: str = "off"
    keyword: str | None = None
    timeout_s: float | None = None
    wait_s: float = 0.0
    wait_interval_s: float = 5.0
    phase: str = "all"
    attest: list[str] = field(default_factory=list)
    attest_file: str | None = None
    expect_version: str | None = None
    verbose: int = 0
    pytest_args: list[str] = field(default_factory=list)


class _StateGrabber:
    """Keeps the run state when pytest ends, so the CLI can print and exit from it."""

    def __init__(self) -> None:
        self.state: RunState | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.state = config.stash.get(STATE_KEY, None)


def report_prefix(request: RunRequest, now: datetime) -> tuple[Path, str]:
    """Return the report folder and the timestamped name stem of this run."""
    folder = request.report_dir or request.loaded.config.reports.dir
    name = request.suite or "run"
    return folder, f"{name}-{now:%Y%m%dT%H%M%SZ}"


def build_arguments(request: RunRequest, now: datetime) -> list[str]:
    """Return the pytest command line of a suite run."""
    checks = check_package_path()
    folder, stem = report_prefix(request, now)
    arguments = [
        checks,
        "-c", str(INI_FILE),
        "--rootdir", checks,
        "--confcutdir", checks,
        "-p", "opscheck.plugin.hooks",
        "-p", "no:cacheprovider",
        "-p", "no:terminal",
        "-m", request.marker,
        "--opscheck-fail-on", request.fail_on,
        "--opscheck-remediate", request.remediate,
        "--opscheck-phase", request.phase,
        "--opscheck-json", str(folder / f"{stem}.json"),
        "--opscheck-junit", str(folder / f"{stem}.xml"),
        "--opscheck-html", str(folder / f"{stem}.html"),
        "--opscheck-latest", str(folder / (request.suite or "run")),
        "--opscheck-wait", str(request.wait_s),
        "--opscheck-wait-interval", str(request.wait_interval_s),
    ]  # fmt: skip
    if request.verbose >= 2:
        # pytest captures standard error while a check runs; -vv and -vvv ask for the
        # log lines of each external call on the terminal as they happen.
        arguments.append("--capture=no")
    if request.suite:
        arguments += ["--opscheck-suite", request.suite]
    if request.config_path:
        arguments += ["--opscheck-config", request.config_path]
    if request.keyword:
        arguments += ["-k", request.keyword]
    if request.timeout_s:
        arguments += ["--opscheck-timeout", str(request.timeout_s)]
    for kind, path in (
        ("json", request.json),
        ("junit", request.junit_xml),
        ("html", request.html),
    ):
        if path is not None:
            arguments += ["--opscheck-copy", f"{kind}={path}"]
    for item in request.attest:
        arguments += ["--opscheck-attest", item]
    if request.attest_file:
        arguments += ["--opscheck-attest-file", request.attest_file]
    if request.expect_version:
        arguments += ["--opscheck-expect-version", request.expect_version]
    return arguments + list(request.pytest_args)


def _writable_folders(request: RunRequest, now: datetime) -> str | None:
    """Create the folders the reports go to; return why one cannot be used, if so."""
    folder, _ = report_prefix(request, now)
    targets = [("--report-dir", folder)]
    for option, path in (
        ("--junit-xml", request.junit_xml),
        ("--html", request.html),
        ("--json", request.json),
    ):
        if path is not None:
            targets.append((option, path.parent))
    for option, target in targets:
        try:
            target.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=target):
                pass
        except OSError as exc:
            return (
                f"reports cannot be written to {target} ({option}): {exc.strerror or exc}; "
                "choose a folder this user can write to"
            )
    return None


def run_suite(request: RunRequest) -> int:
    """Run the checks of a request, print the summary, and return the exit status."""
    now = datetime.now(UTC)
    problem = _writable_folders(request, now)
    if problem:
        click.echo(f"opscheck: {problem}", err=True)
        return EXIT_USAGE
    grabber = _StateGrabber()
    code = pytest.main(build_arguments(request, now), plugins=[grabber])
    state = grabber.state

    if code == pytest.ExitCode.USAGE_ERROR:
        return EXIT_USAGE
    if state is None or code in (
        pytest.ExitCode.INTERNAL_ERROR,
        pytest.ExitCode.INTERRUPTED,
    ):
        click.echo(
            "opscheck: the run broke off before it finished; see the messages above",
            err=True,
        )
        return EXIT_INTERNAL
    if code == pytest.ExitCode.NO_TESTS_COLLECTED or not state.results:
        selection = f"-m {request.marker!r}" + (
            f" -k {request.keyword!r}" if request.keyword else ""
        )
        click.echo(
            f"opscheck: nothing to check for {selection}: no check matches, or the config "
            "lists no target for those that do; 'opscheck list' shows the ids and suites",
            err=True,
        )
        return EXIT_USAGE

    color = os.isatty(1) and "NO_COLOR" not in os.environ
    click.echo(summary.render(state, verbose=request.verbose > 0, color=color))
    assert state.exit_status is not None
    if any(problem.startswith("writing") for problem in state.problems):
        click.echo(
            "opscheck: a report could not be written (see above); the run counts as broken",
            err=True,
        )
        return EXIT_INTERNAL
    return state.exit_status
