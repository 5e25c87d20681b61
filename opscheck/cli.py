"""The ``opscheck`` command line: suites, listing, explaining, config validation, demo.

Each suite command turns its options into a pytest run of the checks (see runner.py)
and exits 0 (nothing at or above --fail-on), 1 (something was), 2 (usage or config
error, nothing checked) or 3 (opscheck itself broke).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from opscheck import __version__, log, redaction
from opscheck.catalogue import load_catalogue
from opscheck.config import loader
from opscheck.declaration import SUITE_HELP, SUITES, Declaration
from opscheck.errors import ConfigError, OpscheckError, UsageError
from opscheck.plugin.waivers import load_waivers
from opscheck.runner import RunRequest, run_suite


class CliError(click.ClickException):
    """A problem reported in one line on standard error, with its documented exit status."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]

    def show(self, file: Any = None) -> None:
        click.echo(f"opscheck: {self.format_message()}", err=True)


class Seconds(click.ParamType[float]):
    """A finite number of seconds between a minimum and one day."""

    name = "seconds"

    def __init__(self, minimum: float) -> None:
        self.minimum = minimum

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or not self.minimum <= seconds <= 86400:
            self.fail(
                f"{value!r} is not between {self.minimum:g} and 86400 seconds",
                param,
                ctx,
            )
        return seconds


def _fail(error: OpscheckError) -> NoReturn:
    raise CliError(error.message, error.exit_code)


def _load(config: str | None) -> loader.LoadedConfig:
    """Load and validate the config and the waivers file it names; exit 2 on an error."""
    try:
        loaded = loader.load(config)
        load_waivers(loaded.config.waivers, set(load_catalogue()))
    except ConfigError as exc:
        _fail(exc)
    return loaded


def suite_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options that every suite command takes."""
    options = [
        click.option(
            "--config",
            "config",
            metavar="FILE",
            help="Config file (else $OPSCHECK_CONFIG, ./opscheck.yaml, the runbook's defaults).",
        ),
        click.option(
            "--report-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="Folder of the timestamped reports (default: reports/).",
        ),
        click.option(
            "--junit-xml",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Also write the JUnit XML report to FILE.",
        ),
        click.option(
            "--html",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Also write the HTML report to FILE.",
        ),
        click.option(
            "--json",
            "json_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Also write the JSON report to FILE.",
        ),
        click.option(
            "--fail-on",
            type=click.Choice(["warning", "critical"]),
            default="critical",
            show_default=True,
            help="Lowest severity that makes the exit status 1.",
        ),
        click.option(
            "--remediate",
            type=click.Choice(["off", "dry-run", "ask", "auto"]),
            default="off",
            show_default=True,
            help="Run the paired remediation of a failed check.",
        ),
        click.option(
            "-k",
            "keyword",
            metavar="EXPR",
            help="Only checks whose id, area or target matches EXPR (pytest -k syntax).",
        ),
        click.option(
            "--timeout",
            type=Seconds(minimum=0.1),
            metavar="SECONDS",
            help="Time limit of one check, in seconds.",
        ),
        click.option(
            "--wait",
            type=Seconds(minimum=0),
            default=0,
            metavar="SECONDS",
            help="Re-run checks that did not pass until they pass or SECONDS after the run's start.",
        ),
        click.option(
            "--wait-interval",
            type=Seconds(minimum=0.1),
            default=5,
            show_default=True,
            metavar="SECONDS",
            help="Pause between re-runs under --wait.",
        ),
        click.option(
            "-v",
            "--verbose",
            count=True,
            help="Show every result (-v), INFO log lines (-vv), DEBUG (-vvv).",
        ),
        click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _run(suite: str | None, marker: str, **options: Any) -> NoReturn:
    log.configure(options["verbose"])
    loaded = _load(options["config"])
    request = RunRequest(
        suite=suite,
        marker=marker,
        loaded=loaded,
        config_path=options["config"],
        report_dir=options["report_dir"],
        junit_xml=options["junit_xml"],
        html=options["html"],
        json=options["json_path"],
        fail_on=options["fail_on"],
        remediate=options["remediate"],
        keyword=options["keyword"],
        timeout_s=options["timeout"],
        wait_s=options["wait"],
        wait_interval_s=options["wait_interval"],
        phase=options.get("phase", "all"),
        attest=list(options.get("attest", ())),
        attest_file=options.get("attest_file"),
        expect_version=options.get("expect_version"),
        verbose=options["verbose"],
        pytest_args=list(options["pytest_args"]),
    )
    sys.exit(run_suite(request))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="opscheck")
def cli() -> None:
    """Run the operations runbook of a docker-compose stack as checks.

    Each suite command checks one part of the runbook and writes JSON, JUnit XML and
    HTML reports. Exit status: 0 nothing at or above --fail-on, 1 something was,
    2 usage or config error, 3 opscheck itself broke.
    """


def _suite_command(name: str, suite: str) -> None:
    @cli.command(name, help=f"Run the {suite} suite: {SUITE_HELP[suite]}.")
    @suite_options
    def command(**options: Any) -> None:
        _run(suite, suite, **options)


for _name, _suite in (
    ("daily", "daily"),
    ("weekly", "weekly"),
    ("monthly", "monthly"),
    ("security", "security"),
    ("monitor", "monitor"),
):
    _suite_command(_name, _suite)


@cli.command("deploy-gate")
@suite_options
@click.option(
    "--phase",
    type=click.Choice(["pre", "post", "all"]),
    default="all",
    show_default=True,
    help="Which half of the gate to run.",
)
@click.option(
    "--attest",
    multiple=True,
    metavar="KEY[=NOTE]",
    help="Attest a checklist item (repeatable), e.g. staging_tests_passed=build 812.",
)
@click.option(
    "--attest-file",
    type=click.Path(dir_okay=False),
    help="Read attestations from FILE (YAML mapping or KEY[=NOTE] lines).",
)
@click.option(
    "--expect-version",
    metavar="VERSION",
    help="The image tag or digest being deployed.",
)
def deploy_gate(**options: Any) -> None:
    """Run the deploy gate: the checklist and health before a deploy, health and version after."""
    _run("deploy_gate", "deploy_gate", **options)


@cli.command("run")
@click.option(
    "-m",
    "marker",
    required=True,
    metavar="EXPR",
    help='Marker expression, e.g. "daily and not monitor".',
)
@suite_options
def run_command(marker: str, **options: Any) -> None:
    """Run any selection of checks by marker expression (pytest -m syntax)."""
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", marker)
    unknown = [
        word
        for word in words
        if word not in SUITES and word not in ("and", "or", "not")
    ]
    if unknown:
        raise CliError(
            f"-m {marker!r}: {unknown[0]!r} is not a suite; the markers are "
            f"{', '.join(SUITES)} (select checks by id, area or target with -k instead)"
        )
    suite = marker if marker in SUITES else None
    _run(suite, marker, **options)


def _catalogue() -> dict[str, Declaration]:
    try:
        return load_catalogue()
    except ImportError as exc:
        raise CliError(f"the check modules cannot be imported: {exc}", 3) from None


@cli.command("list")
@click.option(
    "--suite", type=click.Choice(SUITES), help="Only the checks of one suite."
)
@click.option("--json", "as_json", is_flag=True, help="Print the declarations as JSON.")
def list_command(suite: str | None, as_json: bool) -> None:
    """List every check: id, title, suites, levels and paired remediation."""
    declarations = [
        d for d in _catalogue().values() if suite is None or suite in d.suites
    ]
    if as_json:
        click.echo(json.dumps([d.to_dict() for d in declarations], indent=2))
        return
    width = max((len(d.id) for d in declarations), default=10)
    for declaration in declarations:
        levels = "; ".join(
            f"{'' if name == '*' else name + ': '}{levels.describe()}"
            for name, levels in declaration.all_levels().items()
        )
        remedy = (
            f"  remediation: {declaration.remediation}"
            if declaration.remediation
            else ""
        )
        click.echo(f"{declaration.id.ljust(width)}  {declaration.title}")
        click.echo(
            f"{''.ljust(width)}  suites: {', '.join(declaration.suites)}; per {declaration.per}"
            f"{'; ' + levels if levels else ''}{remedy}"
        )


@cli.command("explain")
@click.argument("check_id")
def explain(check_id: str) -> None:
    """Explain one check: what it checks, why, its defaults and paired remediation."""
    catalogue = _catalogue()
    declaration = catalogue.get(check_id)
    if declaration is None:
        close = [known for known in catalogue if check_id.split(".")[0] in known]
        hint = (
            f"; did you mean {', '.join(close[:5])}?"
            if close
            else "; 'opscheck list' shows the ids"
        )
        raise CliError(f"unknown check id {check_id!r}{hint}")
    lines = [
        f"{declaration.id}: {declaration.title}",
        "",
        declaration.description or declaration.title,
        "",
        f"runbook:     {declaration.runbook}",
        f"suites:      {', '.join(declaration.suites)}",
        f"runs once per {declaration.per}",
    ]
    for name, levels in declaration.all_levels().items():
        scope = "levels" if name == "*" else f"levels ({name})"
        lines.append(f"{scope + ':':<13}{levels.describe()}")
    if declaration.options:
        options = ", ".join(
            f"{key}={value!r}" for key, value in declaration.options.items()
        )
        lines.append(f"options:     {options}")
    lines.append(f"timeout:     {declaration.default_timeout_s:g} s")
    lines.append(f"remediation: {declaration.remediation or 'none'}")
    keys = sorted(
        {key for levels in declaration.all_levels().values() for key in levels.keys}
        | set(declaration.options)
    )
    if keys:
        lines.append("")
        lines.append(
            f"override in opscheck.yaml:  checks: {{{declaration.id}: {{{keys[0]}: ...}}}}"
        )
    click.echo("\n".join(lines))


@cli.command("remediate")
@click.argument("name")
@click.option(
    "--target",
    metavar="T",
    help="What to act on: a service, or a table for vacuum-analyze.",
)
@click.option("--dry-run", is_flag=True, help="Print what would run, and run nothing.")
@click.option(
    "--config",
    "config",
    metavar="FILE",
    help="Config file (else $OPSCHECK_CONFIG, ./opscheck.yaml, the runbook's defaults).",
)
@click.option("-v", "--verbose", count=True, help="INFO log lines (-vv), DEBUG (-vvv).")
def remediate_command(
    name: str, target: str | None, dry_run: bool, config: str | None, verbose: int
) -> None:
    """Run one remediation by hand: locked, time-limited and written to the audit log."""
    from opscheck.remediation import registry, report, runner

    if name not in registry.REGISTRY:
        raise CliError(
            f"unknown remediation {name!r}; known: {', '.join(sorted(registry.REGISTRY))}"
        )
    log.configure(verbose)
    loaded = _load(config)
    try:
        record = runner.run_by_hand(
            name,
            loaded.config,
            target=target,
            dry_run=dry_run,
            base_dir=loaded.base_dir if loaded.source else None,
        )
    except OpscheckError as exc:
        _fail(exc)
    click.echo(report.describe(record))
    if dry_run and record["argv"]:
        return
    if not record["ran"] or record["exit_status"] != 0:
        sys.exit(1)


@cli.group("config")
def config_group() -> None:
    """Work with the config file."""


@config_group.command("validate")
@click.option(
    "--config",
    "config",
    metavar="FILE",
    help="Config file (else $OPSCHECK_CONFIG, ./opscheck.yaml).",
)
def validate(config: str | None) -> None:
    """Load, interpolate and validate a config; exit 2 with the key path on an error."""
    loaded = _load(config)
    source = loaded.source or "no file (the runbook's defaults)"
    settings = loaded.config
    click.echo(
        f"config {source} is valid: project {settings.compose.project}, "
        f"{len(settings.compose.services)} services, {len(settings.endpoints)} endpoints, "
        f"database {settings.database.name} at {settings.database.host}:{settings.database.port}, "
        f"backups in {settings.backups.path}"
    )


def _add_demo() -> None:
    try:
        from opscheck.demo.cli import demo
    except ImportError:
        return
    cli.add_command(demo)


_add_demo()


def main() -> None:
    """Entry point of the console script: run the CLI, and exit 3 on an unexpected error."""
    try:
        cli.main(prog_name="opscheck", standalone_mode=True)
    except (UsageError, ConfigError) as exc:
        click.echo(f"opscheck: {exc}", err=True)
        sys.exit(2)
    except OpscheckError as exc:
        click.echo(f"opscheck: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("opscheck: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("OPSCHECK_DEBUG"):
            raise
        click.echo(
            f"opscheck: internal error: {type(exc).__name__}: {redaction.current().text(str(exc))}; "
            "run again with OPSCHECK_DEBUG=1 for the traceback and report it",
            err=True,
        )
        sys.exit(3)
