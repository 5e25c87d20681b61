"""The JSON, JUnit XML and HTML reports of a run: content, schema, escaping, no secrets."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import junitparser
import pytest
import xmlschema

from tests.helpers import run_suite, write_config

SCHEMA = Path(__file__).parent / "data" / "junit-10.xsd"
SECRET = "hunter2-" + "x7q9z"
HOSTILE = "<script>alert('owned')</script>"


@pytest.fixture
def mixed_run(
    opscheck_cli: Any, http_server: Any, tmp_path: Path
) -> tuple[Any, dict[str, Any], Path]:
    server = http_server(
        {
            "/ok": (200, {"status": "healthy"}),
            "/bad": (500, f"{HOSTILE} token={SECRET}"),
        }
    )
    (tmp_path / ".env").write_text(f"API_TOKEN={SECRET}\n")
    config = write_config(
        tmp_path,
        {
            "compose": {"services": []},
            "endpoints": {
                "backend": {"url": server.url("/ok")},
                "frontend": {"url": server.url("/bad")},
            },
        },
    )
    outcome, report, _ = run_suite(
        opscheck_cli, tmp_path, config, "-k", "health.endpoint"
    )
    return outcome, report, tmp_path


def report_files(folder: Path, suffix: str) -> list[Path]:
    return sorted((folder / "reports").glob(f"daily-2*{suffix}"))


def test_json_report_contract(mixed_run: tuple[Any, dict[str, Any], Path]) -> None:
    outcome, report, _ = mixed_run
    run = report["run"]
    for key in (
        "id",
        "suite",
        "started_at",
        "finished_at",
        "host",
        "user",
        "opscheck_version",
        "config_sha256",
        "exit_status",
    ):
        assert key in run
    assert run["suite"] == "daily"
    assert run["started_at"].endswith("Z")
    assert run["exit_status"] == outcome.exit_code == 1
    results = {item["target"]: item for item in report["results"]}
    for key in (
        "id",
        "target",
        "outcome",
        "severity",
        "message",
        "evidence",
        "duration_s",
        "runbook",
        "remediation",
        "waiver",
    ):
        assert key in results["backend"]
    assert results["backend"]["outcome"] == "passed"
    assert results["frontend"]["outcome"] == "failed"
    assert results["frontend"]["severity"] == "critical"
    assert results["frontend"]["remediation"] == {
        "name": "restart-service",
        "mode": "off",
    }
    assert results["frontend"]["runbook"].startswith(
        "Daily Operations > Morning Health Check"
    )


def test_no_secret_in_any_report(mixed_run: tuple[Any, dict[str, Any], Path]) -> None:
    outcome, _, folder = mixed_run
    texts = [outcome.stdout, outcome.stderr] + [
        path.read_text() for path in (folder / "reports").iterdir() if path.is_file()
    ]
    for text in texts:
        assert SECRET not in text
    assert "token=***" in (folder / "reports" / "daily-latest.json").read_text()


def test_latest_links_point_at_timestamped(
    mixed_run: tuple[Any, dict[str, Any], Path],
) -> None:
    _, _, folder = mixed_run
    for suffix in (".json", ".xml", ".html"):
        latest = folder / "reports" / f"daily-latest{suffix}"
        assert latest.is_symlink()
        assert latest.resolve() == report_files(folder, suffix)[-1].resolve()
    leftovers = [
        path.name
        for path in (folder / "reports").iterdir()
        if path.name.startswith(".")
    ]
    assert leftovers == []


def strip_case_properties(path: Path) -> bytes:
    # The published junit-10 schema has no <properties> inside <testcase>; opscheck puts
    # the check's id, outcome, severity, runbook and remediation there, as Jenkins,
    # GitLab and pytest's xunit1 format read them. The copy without them must validate.
    tree = ET.parse(path)
    root = copy.deepcopy(tree.getroot())
    for case in root.iter("testcase"):
        for properties in case.findall("properties"):
            case.remove(properties)
    return ET.tostring(root)


def test_junit_validates_and_has_properties(
    mixed_run: tuple[Any, dict[str, Any], Path],
) -> None:
    _, _, folder = mixed_run
    path = folder / "reports" / "daily-latest.xml"
    xmlschema.XMLSchema(SCHEMA).validate(strip_case_properties(path))

    parsed = junitparser.JUnitXml.fromfile(str(path))
    suites = [parsed] if isinstance(parsed, junitparser.TestSuite) else list(parsed)
    assert len(suites) == 1
    suite = suites[0]
    assert suite.name == "opscheck.daily"
    assert ET.parse(path).getroot().tag == "testsuite"
    cases = {case.name: case for case in suite}
    assert set(cases) == {"health.endpoint[backend]", "health.endpoint[frontend]"}
    failed = cases["health.endpoint[frontend]"]
    assert failed.classname == "health"
    assert isinstance(failed.result[0], junitparser.Failure)
    assert "answered HTTP 500" in failed.result[0].message
    assert cases["health.endpoint[backend]"].is_passed

    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        names = {prop.get("name") for prop in case.iter("property")}
        assert {"check_id", "outcome", "severity", "runbook", "remediation"} <= names


def test_html_is_self_contained_and_escaped(
    mixed_run: tuple[Any, dict[str, Any], Path],
) -> None:
    _, _, folder = mixed_run
    html = (folder / "reports" / "daily-latest.html").read_text()
    assert HOSTILE not in html
    assert "health.endpoint" in html
    assert "Daily Operations" in html
    assert "opscheck daily report" in html
    assert '<link rel="stylesheet"' not in html
    assert "<script src=" not in html


def test_xdist_workers_do_not_corrupt_reports(
    opscheck_cli: Any, http_server: Any, tmp_path: Path
) -> None:
    server = http_server({"/ok": (200, {"status": "healthy"})})
    endpoints = {f"e{index}": {"url": server.url("/ok")} for index in range(6)}
    config = write_config(
        tmp_path, {"compose": {"services": []}, "endpoints": endpoints}
    )
    outcome, report, results = run_suite(
        opscheck_cli, tmp_path, config, "-k", "health.endpoint", "--", "-n", "2"
    )
    assert outcome.exit_code == 0
    assert len(report["results"]) == 6
    assert {target for _, target in results} == set(endpoints)
    ET.parse(tmp_path / "reports" / "daily-latest.xml")
    assert len(report_files(tmp_path, ".json")) == 1


def test_extra_report_copies(
    opscheck_cli: Any, http_server: Any, tmp_path: Path
) -> None:
    server = http_server({"/ok": (200, {"status": "healthy"})})
    config = write_config(
        tmp_path,
        {
            "compose": {"services": []},
            "endpoints": {"backend": {"url": server.url("/ok")}},
        },
    )
    run_suite(
        opscheck_cli,
        tmp_path,
        config,
        "-k",
        "health.endpoint",
        "--junit-xml",
        "out/junit.xml",
        "--json",
        "out/r.json",
        "--html",
        "out/r.html",
    )
    assert (
        json.loads((tmp_path / "out" / "r.json").read_text())["results"][0]["outcome"]
        == "passed"
    )
    ET.parse(tmp_path / "out" / "junit.xml")
    assert "opscheck daily report" in (tmp_path / "out" / "r.html").read_text()


def test_plain_pytest_runs_the_checks(http_server: Any, tmp_path: Path) -> None:
    server = http_server({"/ok": (200, {"status": "healthy"}), "/bad": (503, "down")})
    config = write_config(
        tmp_path,
        {
            "compose": {"services": []},
            "endpoints": {
                "backend": {"url": server.url("/ok")},
                "frontend": {"url": server.url("/bad")},
            },
        },
    )
    repo = Path(__file__).resolve().parent.parent
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "checks/",
            "-m",
            "daily",
            "-k",
            "health",
            "--opscheck-config",
            str(config),
            "-p",
            "no:cacheprovider",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1, completed.stdout
    assert "1 failed, 1 passed" in completed.stdout
    assert "health.endpoint[frontend]: endpoint frontend at" in completed.stdout
    assert "Traceback" not in completed.stdout
