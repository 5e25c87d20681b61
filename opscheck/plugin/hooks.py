"""The pytest plugin: suite markers, options, per-target parametrizing, outcomes, reports.

Loaded with ``-p opscheck.plugin.hooks`` by the CLI, and by the repository's root
conftest for a plain ``pytest checks/ -m daily``. Results travel from xdist workers to
the main process inside each report's ``user_properties``; only the main process writes
report files.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from opscheck.catalogue import check_package_path, load_catalogue
from opscheck.config.loader import load as load_config
from opscheck.declaration import SUITE_HELP, SUITES, Declaration, declaration_of
from opscheck.errors import ConfigError
from opscheck.log import logger
from opscheck.plugin import outcomes
from opscheck.plugin.attestations import collect_attestations, reject_unknown
from opscheck.plugin.results import RESULT_PROPERTY, Result, exit_status, result_data
from opscheck.plugin.state import STATE_KEY, ReportPaths, RunState, utc_now
from opscheck.plugin.targets import targets_for
from opscheck.plugin.verdict import Verdict
from opscheck.plugin.waivers import find_waiver, load_waivers

pytest_plugins = [
    "opscheck.fixtures.context",
    "opscheck.fixtures.docker",
    "opscheck.fixtures.compose",
    "opscheck.fixtures.http",
    "opscheck.fixtures.database",
    "opscheck.fixtures.backups",
    "opscheck.fixtures.logs",
    "opscheck.fixtures.images",
    "opscheck.fixtures.stats",
    "opscheck.fixtures.disk",
    "opscheck.fixtures.host",
    "opscheck.fixtures.secrets",
    "opscheck.fixtures.scanner",
    "opscheck.fixtures.tls",
]

VERDICT_KEY = pytest.StashKey[Verdict]()
TIMEOUT_KEY = pytest.StashKey[float]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opscheck", "opscheck runbook checks")
    group.addoption(
        "--opscheck-config",
        metavar="FILE",
        help="config file (else $OPSCHECK_CONFIG, ./opscheck.yaml, defaults)",
    )
    group.addoption(
        "--opscheck-suite",
        metavar="NAME",
        choices=SUITES,
        help="the suite being run: its levels and report names",
    )
    group.addoption(
        "--opscheck-json", metavar="FILE", help="write the JSON report to FILE"
    )
    group.addoption(
        "--opscheck-junit", metavar="FILE", help="write the JUnit XML report to FILE"
    )
    group.addoption(
        "--opscheck-html",
        metavar="FILE",
        help="write the HTML report to FILE (through pytest-html)",
    )
    group.addoption(
        "--opscheck-copy",
        metavar="FORMAT=FILE",
        action="append",
        default=[],
        help="also write a copy of one report (json, junit, html) to FILE",
    )
    group.addoption(
        "--opscheck-latest",
        metavar="PREFIX",
        help="point PREFIX-latest.{json,xml,html} at the reports of this run",
    )
    group.addoption(
        "--opscheck-fail-on",
        choices=("warning", "critical"),
        default="critical",
        help="lowest severity that fails the run (default: critical)",
    )
    group.addoption(
        "--opscheck-timeout",
        type=float,
        metavar="SECONDS",
        help="time limit of one check (default: the check's own, 60 s for most)",
    )
    group.addoption(
        "--opscheck-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="re-run checks that did not pass until they pass or SECONDS are up",
    )
    group.addoption(
        "--opscheck-wait-interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="pause between re-runs under --opscheck-wait (default: 5)",
    )
    group.addoption(
        "--opscheck-remediate",
        choices=("off", "dry-run", "ask", "auto"),
        default="off",
        help="run the paired remediation of a failed check (default: off)",
    )
    group.addoption(
        "--opscheck-attest",
        action="append",
        default=[],
        metavar="KEY[=NOTE]",
        help="attest a deploy checklist item for this run",
    )
    group.addoption(
        "--opscheck-attest-file",
        metavar="FILE",
        help="read attestations from FILE (YAML mapping or KEY[=NOTE] lines)",
    )
    group.addoption(
        "--opscheck-expect-version",
        metavar="VERSION",
        help="the version being deployed",
    )
    group.addoption(
        "--opscheck-phase",
        choices=("pre", "post", "all"),
        default="all",
        help="deploy gate phase (default: all)",
    )


def _infer_suite(config: pytest.Config) -> str | None:
    chosen = config.getoption("--opscheck-suite")
    if chosen:
        return str(chosen)
    expression = (config.getoption("-m", default="") or "").strip()
    return expression if expression in SUITES else None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for suite in SUITES:
        config.addinivalue_line(
            "markers", f"{suite}: opscheck suite, {SUITE_HELP[suite]}"
        )

    html = config.getoption("--opscheck-html")
    is_worker = hasattr(config, "workerinput")
    if html and not is_worker:
        # pytest-html writes its file at session end; opscheck moves it into place
        # atomically afterwards, so a reader never sees half a report.
        config.option.htmlpath = str(
            Path(html).with_name(f".{Path(html).name}.partial")
        )
        config.option.self_contained_html = True
        stylesheet = str(
            Path(__file__).resolve().parent.parent / "reporting" / "report.css"
        )
        config.option.css = [*(getattr(config.option, "css", None) or []), stylesheet]

    try:
        loaded = load_config(config.getoption("--opscheck-config"))
        waivers = load_waivers(loaded.config.waivers, set(load_catalogue()))
        attestations = collect_attestations(
            config.getoption("--opscheck-attest"),
            config.getoption("--opscheck-attest-file"),
        )
        reject_unknown(attestations, loaded.config.deploy.attestations)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None

    reports = ReportPaths(
        json=_path_option(config, "--opscheck-json"),
        junit=_path_option(config, "--opscheck-junit"),
        html=_path_option(config, "--opscheck-html"),
        copies=_copies(config.getoption("--opscheck-copy")),
        latest_prefix=_path_option(config, "--opscheck-latest"),
    )
    config.stash[STATE_KEY] = RunState(
        loaded=loaded,
        suite=_infer_suite(config),
        fail_on=config.getoption("--opscheck-fail-on"),
        reports=reports,
        waivers=waivers,
        attestations=attestations,
        expect_version=config.getoption("--opscheck-expect-version"),
        phase=config.getoption("--opscheck-phase"),
        timeout_s=config.getoption("--opscheck-timeout"),
        wait_s=config.getoption("--opscheck-wait"),
        wait_interval_s=config.getoption("--opscheck-wait-interval"),
        remediate=config.getoption("--opscheck-remediate"),
    )

    if not is_worker:
        config.pluginmanager.register(
            ResultCollector(config.stash[STATE_KEY]), "opscheck-results"
        )

    if config.pluginmanager.hasplugin("html") and not is_worker:
        from opscheck.reporting import html as html_report

        config.pluginmanager.register(html_report.HtmlColumns(config), "opscheck-html")


def _path_option(config: pytest.Config, name: str) -> Path | None:
    value = config.getoption(name)
    return Path(value) if value else None


def _copies(values: list[str]) -> dict[str, Path]:
    copies: dict[str, Path] = {}
    for value in values:
        kind, _, path = value.partition("=")
        if kind not in ("json", "junit", "html") or not path:
            raise pytest.UsageError(
                f"--opscheck-copy {value!r}: write json=FILE, junit=FILE or html=FILE"
            )
        copies[kind] = Path(path)
    return copies


def run_state(config: pytest.Config) -> RunState:
    """Return the state of this run."""
    return config.stash[STATE_KEY]


def pytest_collect_file(
    file_path: Path, parent: pytest.Collector
) -> pytest.Module | None:
    # Check modules are named after runbook sections, not test_*.py, so they are
    # collected here by folder rather than by pytest's file name pattern.
    if file_path.suffix != ".py" or file_path.name.startswith("_"):
        return None
    if file_path.parent != Path(check_package_path()):
        return None
    return pytest.Module.from_parent(parent, path=file_path)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    declaration = declaration_of(metafunc.function)
    if declaration is None:
        return
    state = run_state(metafunc.config)
    targets = targets_for(declaration.per, state.loaded.config)
    if targets is None:
        metafunc.parametrize("target", [None], ids=[""])
        return
    metafunc.parametrize("target", targets, ids=[str(target) for target in targets])


# Results follow the runbook's order of a morning check, whatever the module names.
AREA_ORDER = (
    "deploy",
    "services",
    "health",
    "resources",
    "disk",
    "logs",
    "db",
    "backup",
    "host",
    "security",
    "tls",
)


def _area_rank(item: pytest.Item) -> int:
    declaration = _declaration(item)
    if declaration is None or declaration.area not in AREA_ORDER:
        return len(AREA_ORDER)
    return AREA_ORDER.index(declaration.area)


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    state = run_state(config)
    _deselect_other_phase(config, items, state)
    _deselect_without_targets(config, items)
    items.sort(key=_area_rank)
    for item in items:
        declaration = _declaration(item)
        if declaration is None:
            continue
        # "-k services.running" and "-k backup" select by check id and area.
        item.extra_keyword_matches.add(declaration.id)
        settings = state.loaded.config.check_settings(declaration.id)
        timeout = state.timeout_s or settings.timeout_s or declaration.default_timeout_s
        item.stash[TIMEOUT_KEY] = float(timeout)
        waiver, _ = find_waiver(
            state.waivers, declaration.id, _target(item), date.today()
        )
        if waiver is not None and not waiver.runs:
            item.add_marker(
                pytest.mark.skip(
                    reason=f"not run: waived until {waiver.expires}: {waiver.justification}"
                )
            )
        if not settings.enabled:
            item.add_marker(
                pytest.mark.skip(
                    reason=f"disabled in the config (checks.{declaration.id}.enabled)"
                )
            )


def _deselect_other_phase(
    config: pytest.Config, items: list[pytest.Item], state: RunState
) -> None:
    """Keep only the checks of the chosen deploy gate phase (``--opscheck-phase``)."""
    if state.suite != "deploy_gate" or state.phase == "all":
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        declaration = _declaration(item)
        phases = declaration.phases if declaration is not None else ()
        if phases and state.phase not in phases:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _deselect_without_targets(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the placeholder pytest makes for a check whose config lists no target.

    With ``compose.services: []`` there is nothing to check per service. That is
    the config's choice, not a result to report.
    """
    empty = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or _declaration(item) is None:
            continue
        if type(callspec.params.get("target")).__name__ == "NotSetType":
            empty.append(item)
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [item for item in items if item not in empty]


def _declaration(item: pytest.Item) -> Declaration | None:
    function = getattr(item, "function", None)
    return declaration_of(function) if function is not None else None


def _target(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    target = callspec.params.get("target")
    return None if target is None else str(target)


@pytest.fixture
def target() -> str | None:
    """The target of a per-target check; each check's parametrizing replaces this value."""
    return None


@pytest.fixture(autouse=True)
def _opscheck_verdict(
    request: pytest.FixtureRequest, target: str | None
) -> Verdict | None:
    declaration = declaration_of(getattr(request, "function", None))
    if declaration is None:
        return None
    state = run_state(request.config)
    settings = state.loaded.config.check_settings(declaration.id)
    extra = dict(settings.model_extra or {})
    levels = declaration.levels_for(state.suite)
    if levels is not None:
        levels = levels.with_overrides(extra)
    options = {
        name: extra.get(name, default) for name, default in declaration.options.items()
    }
    verdict = Verdict(declaration, _target(request.node), levels, options)
    request.node.stash[VERDICT_KEY] = verdict
    return verdict


@pytest.fixture
def verdict(_opscheck_verdict: Verdict | None) -> Verdict:
    """The handle of the running check: evidence, levels, options and outcome."""
    if _opscheck_verdict is None:
        raise RuntimeError("the verdict fixture only works inside a declared check")
    return _opscheck_verdict


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> bool | None:
    if _declaration(item) is None:
        return None
    from opscheck.plugin.rerun import run_with_retries

    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for report in run_with_retries(item, nextitem, run_state(item.config)):
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    declaration = _declaration(item)
    if declaration is None:
        return

    is_final = report.when == "call" or (report.when == "setup" and not report.passed)
    if not is_final:
        return

    state = run_state(item.config)
    verdict = item.stash.get(VERDICT_KEY, None)
    result = outcomes.build_result(
        item, declaration, _target(item), verdict, call, report
    )
    _apply_waiver(result, state)
    result = outcomes.redacted(result)
    outcomes.shape_report(report, result)
    report.user_properties.append((RESULT_PROPERTY, result.to_dict()))


def _apply_waiver(result: Result, state: RunState) -> None:
    waiver, expired = find_waiver(state.waivers, result.id, result.target, date.today())
    if expired is not None and waiver is None:
        result.evidence["expired_waiver"] = expired.to_dict()
        if result.outcome in ("failed", "warning", "error"):
            result.message = (
                f"{result.message} (its waiver expired on {expired.expires})"
            )
    if waiver is not None and not waiver.runs and result.outcome == "skipped":
        result.waiver = {**waiver.to_dict(), "original_outcome": None}
        result.outcome = "waived"
        return
    if waiver is None or result.outcome not in ("failed", "warning", "error"):
        return
    result.waiver = {**waiver.to_dict(), "original_outcome": result.outcome}
    result.outcome = "waived"
    result.message = (
        f"{result.message} (waived until {waiver.expires}: {waiver.justification})"
    )


def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    result = result_data(report)
    if result is None:
        return None
    letters = {
        "warning": ("warning", "W", "WARNING"),
        "waived": ("waived", "w", "WAIVED"),
    }
    if result["outcome"] in letters:
        return letters[result["outcome"]]
    if result["outcome"] == "error" and report.when == "call":
        return ("error", "E", "ERROR")
    return None


class ResultCollector:
    """Gathers results in the main process, from its own items and from xdist workers."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        data = result_data(report)
        if data is not None:
            self.state.results.append(Result.from_dict(data))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.failed:
            return
        lines = str(report.longrepr).strip().splitlines()
        reason = lines[-1] if lines else "unknown reason"
        where = report.nodeid or "the check folder"
        self.state.problems.append(f"collecting {where} failed: {reason}")
        self.state.results.append(
            Result(
                id="opscheck.collection",
                target=report.nodeid or None,
                outcome="error",
                severity="critical",
                message=f"opscheck could not load the checks in {where}: {reason}",
                internal_error=True,
            )
        )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    state = run_state(config)
    state.finished_at = utc_now()
    state.exit_status = exit_status(state.results, state.fail_on)

    from opscheck.reporting.writer import write_data_reports

    try:
        write_data_reports(state)
    except OSError as exc:
        logger.error("writing the reports failed: %s", exc)
        state.problems.append(f"writing the reports failed: {exc}")


def pytest_unconfigure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or STATE_KEY not in config.stash:
        return
    state = run_state(config)
    from opscheck.reporting.writer import finish_html_report

    try:
        finish_html_report(
            state, config.option.htmlpath if state.reports.html else None
        )
    except OSError as exc:
        logger.error("writing the HTML report failed: %s", exc)
        state.problems.append(f"writing the HTML report failed: {exc}")
