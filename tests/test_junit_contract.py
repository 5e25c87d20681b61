"""The JUnit XML report as CI systems read it: parsed with junitparser, checked by schema.

The report is validated against the Jenkins xUnit junit-10 schema in tests/data. That
schema allows no ``<properties>`` inside ``<testcase>``, but opscheck's report puts the
check_id, outcome, severity, runbook and remediation properties in every case, so a
copy without the testcase properties is validated and the properties are checked on
their own. One run covers every outcome: endpoints on real HTTP servers answer fast,
slow, 503 or not at all, a waiver covers one failure, and services.image_version is
skipped because no version is given.
"""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import xmlschema
import yaml
from junitparser import (
    Error,
    Failure,
    JUnitXml,
    Properties,
    Skipped,
    TestCase,
    TestSuite,
)

from tests.support.cli import clean_environment, opscheck_executable
from tests.support.engines import free_port
from tests.support.servers import HttpServer

SCHEMA = Path(__file__).parent / "data" / "junit-10.xsd"
HEALTHY = {"status": "healthy"}
CASE_PROPERTIES = ("check_id", "outcome", "severity", "runbook", "remediation")


@dataclass(frozen=True)
class ContractRuns:
    """The JUnit reports of the same checks, by default and under --fail-on warning."""

    default: Path
    default_exit: int
    strict: Path


def _write_config(folder: Path, server: HttpServer) -> Path:
    down = f"http://127.0.0.1:{free_port()}/api/health"
    waivers = folder / "waivers.yaml"
    waivers.write_text(
        yaml.safe_dump(
            {
                "waivers": [
                    {
                        "check": "health.latency",
                        "target": "bad",
                        "justification": "bad endpoint is being replaced",
                        "expires": (date.today() + timedelta(days=7)).isoformat(),
                    }
                ]
            }
        )
    )
    config = folder / "opscheck.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "compose": {"services": ["backend"]},
                "endpoints": {
                    "ok": {"url": server.url("/ok")},
                    "slow": {"url": server.url("/slow")},
                    "bad": {"url": server.url("/bad")},
                    "down": {"url": down},
                },
                "deploy": {"latency_requests": 2},
                "waivers": str(waivers),
            }
        )
    )
    return config


def _run(folder: Path, config: Path, report: str, *extra: str) -> int:
    completed = subprocess.run(
        [
            str(opscheck_executable()),
            "deploy-gate",
            "--phase",
            "post",
            "--config",
            str(config),
            "-k",
            "health. or image_version",
            "--junit-xml",
            report,
            *extra,
        ],
        cwd=folder,
        env=clean_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (folder / report).is_file(), completed.stdout + completed.stderr
    return completed.returncode


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractRuns]:
    # One pair of runs for the module: each test reads the same two reports.
    folder = tmp_path_factory.mktemp("junit")
    server = HttpServer(
        {
            "/ok": (200, HEALTHY),
            "/slow": (200, HEALTHY, {}, 0.35),
            "/bad": (503, {"status": "unhealthy"}),
        }
    )
    try:
        config = _write_config(folder, server)
        default_exit = _run(folder, config, "default.xml")
        _run(folder, config, "strict.xml", "--fail-on", "warning")
        yield ContractRuns(folder / "default.xml", default_exit, folder / "strict.xml")
    finally:
        server.stop()


def _without_case_properties(path: Path) -> str:
    tree = ET.parse(path)
    for case in tree.getroot().iter("testcase"):
        for properties in case.findall("properties"):
            case.remove(properties)
    return ET.tostring(tree.getroot(), encoding="unicode")


def _suites(path: Path) -> list[TestSuite]:
    # junitparser wraps a lone <testsuite> root in a JUnitXml of one suite.
    return list(JUnitXml.fromfile(str(path)))


def _cases(path: Path) -> dict[str, TestCase]:
    (suite,) = _suites(path)
    return {case.name: case for case in suite}


def _properties(case: TestCase) -> dict[str, str]:
    found = case.child(Properties)
    assert found is not None, f"{case.name} has no <properties>"
    return {prop.name: prop.value for prop in found}


def _only_result(case: TestCase) -> Any:
    results = list(case.result)
    assert len(results) <= 1, f"{case.name} has {len(results)} results"
    return results[0] if results else None


def test_junit_matches_schema(runs: ContractRuns) -> None:
    schema = xmlschema.XMLSchema(str(SCHEMA))

    schema.validate(_without_case_properties(runs.default))
    schema.validate(_without_case_properties(runs.strict))


def test_junit_one_suite_per_run(runs: ContractRuns) -> None:
    path = runs.default

    root = ET.parse(path).getroot()
    assert root.tag == "testsuite"
    assert len(_suites(path)) == 1
    assert root.get("name") == "opscheck.deploy_gate"
    assert root.get("tests") == "9"
    assert root.get("failures") == "1"
    assert root.get("errors") == "2"
    assert root.get("skipped") == "2"


def test_junit_case_names_and_outcomes(runs: ContractRuns) -> None:
    cases = _cases(runs.default)

    assert runs.default_exit == 1
    assert sorted(cases) == sorted(
        [
            "health.endpoint[ok]",
            "health.endpoint[slow]",
            "health.endpoint[bad]",
            "health.endpoint[down]",
            "health.latency[ok]",
            "health.latency[slow]",
            "health.latency[bad]",
            "health.latency[down]",
            "services.image_version[backend]",
        ]
    )
    assert cases["health.latency[ok]"].classname == "health"
    assert cases["services.image_version[backend]"].classname == "services"

    assert _only_result(cases["health.latency[ok]"]) is None
    failure = _only_result(cases["health.endpoint[bad]"])
    assert isinstance(failure, Failure)
    assert failure.type == "critical"
    assert "expected 200" in failure.message
    error = _only_result(cases["health.endpoint[down]"])
    assert isinstance(error, Error)
    assert "was refused" in error.message


def test_junit_warning_passes_by_default(runs: ContractRuns) -> None:
    case = _cases(runs.default)["health.latency[slow]"]

    assert _only_result(case) is None
    assert _properties(case)["severity"] == "warning"
    assert _properties(case)["outcome"] == "warning"


def test_junit_warning_fails_under_fail_on_warning(runs: ContractRuns) -> None:
    case = _cases(runs.strict)["health.latency[slow]"]

    failure = _only_result(case)
    assert isinstance(failure, Failure)
    assert failure.type == "warning"
    assert "above the warning level 300 ms" in failure.message
    assert ET.parse(runs.strict).getroot().get("failures") == "2"


def test_junit_skipped_and_waived(runs: ContractRuns) -> None:
    cases = _cases(runs.default)

    skipped = _only_result(cases["services.image_version[backend]"])
    assert isinstance(skipped, Skipped)
    assert skipped.message.startswith(
        "no version to compare with; pass --expect-version"
    )
    waived = _only_result(cases["health.latency[bad]"])
    assert isinstance(waived, Skipped)
    assert "waived until" in waived.message
    assert "bad endpoint is being replaced" in waived.message


def test_junit_case_properties(runs: ContractRuns) -> None:
    path = runs.default

    for name, case in _cases(path).items():
        properties = _properties(case)
        for key in CASE_PROPERTIES:
            assert key in properties, f"{name} lacks property {key}"
        assert properties["check_id"] == name.split("[", 1)[0]
        assert properties["runbook"], f"{name} has an empty runbook property"
    endpoint = _properties(_cases(path)["health.endpoint[bad]"])
    assert endpoint["outcome"] == "failed"
    assert endpoint["severity"] == "critical"
    assert endpoint["remediation"] == "restart-service"
    waived = _properties(_cases(path)["health.latency[bad]"])
    assert waived["outcome"] == "waived"
    assert "waiver" in waived
