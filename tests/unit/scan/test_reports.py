"""Report formats: SARIF validated against the official 2.1.0 schema, JSON shape, Markdown,
and every OutputFormat wired."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from shipflow.sbom.model import Inventory, Package
from shipflow.scan import (
    AdvisoryDB,
    OutputFormat,
    ScanOptions,
    Severity,
    evaluate_gate,
    import_paths,
    render,
    scan_inventory,
)
from shipflow.scan.ignore import IgnoreEntry, IgnoreRules
from shipflow.scan.model import ScanReport
from shipflow.scan.reports.json_report import SCHEMA_FILE
from support.paths import DATA_DIR

DATA = DATA_DIR
SCHEMA = json.loads((DATA / "scan" / "sarif-schema-2.1.0.json").read_text())


@pytest.fixture
def report(tmp_path: Path) -> ScanReport:
    import_paths([DATA / "osv" / "records"], tmp_path / "r.db")
    db = AdvisoryDB.open(tmp_path / "r.db")
    inventory = Inventory(
        subject="127.0.0.1:5000/app@sha256:" + "b" * 64,
        subject_digest="sha256:" + "b" * 64,
        packages=[
            Package("lodash", "4.17.15", "npm", "pkg:npm/lodash@4.17.15"),
            Package("minimist", "1.2.0", "npm", "pkg:npm/minimist@1.2.0"),
            Package("jinja2", "2.11.2", "pypi", "pkg:pypi/jinja2@2.11.2"),
        ],
    )
    ignore = IgnoreRules([IgnoreEntry("CVE-2020-7598", "build-time only", "x.yaml", "ignore-file")])
    result = scan_inventory(inventory, db, ScanOptions(ignore=ignore, now=datetime(2026, 1, 1, tzinfo=UTC)))
    db.close()
    return result


def test_sarif_is_valid_against_the_official_schema(report: ScanReport) -> None:
    document = json.loads(render(report, OutputFormat.SARIF))
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    jsonschema.Draft4Validator(SCHEMA).validate(document)
    run = document["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert sorted(rule_ids) == sorted(
        ["GHSA-p6mc-m468-83gw", "GHSA-35jh-r3h4-6jhm", "PYSEC-2021-66", "GHSA-vh95-rmgr-6w4m"]
    )
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["GHSA-p6mc-m468-83gw"]["level"] == "error"
    assert (
        run["tool"]["driver"]["rules"][by_rule["GHSA-p6mc-m468-83gw"]["ruleIndex"]]["properties"][
            "security-severity"
        ]
        == "7.4"
    )
    assert by_rule["GHSA-vh95-rmgr-6w4m"]["suppressions"] == [
        {"kind": "external", "justification": "build-time only"}
    ]
    assert "suppressions" not in by_rule["GHSA-35jh-r3h4-6jhm"]


def test_schema_rejects_a_broken_sarif(report: ScanReport) -> None:
    document = json.loads(render(report, OutputFormat.SARIF))
    document["runs"][0]["results"][0]["level"] = "catastrophic"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(document)


def test_json_report_shape(report: ScanReport) -> None:
    gate = evaluate_gate(report, Severity.HIGH)
    data = json.loads(render(report, OutputFormat.JSON, gate))
    assert data["schema"] == "shipflow.dev/scan-report/v1"
    assert data["subjectDigest"] == "sha256:" + "b" * 64
    assert data["db"]["identity"].startswith("sha256:")
    assert data["counts"] == {"CRITICAL": 0, "HIGH": 2, "MEDIUM": 0, "LOW": 0, "UNKNOWN": 1}
    assert [f["id"] for f in data["findings"]][:2] == ["GHSA-35jh-r3h4-6jhm", "GHSA-p6mc-m468-83gw"]
    assert data["suppressed"][0]["suppression"] == {
        "kind": "ignore-file", "reason": "build-time only", "source": "x.yaml", "expires": None,
    }  # fmt: skip
    assert data["gate"]["passed"] is False and data["gate"]["failOn"] == ["CRITICAL", "HIGH"]
    assert data["findings"][0]["package"]["purl"] == "pkg:npm/lodash@4.17.15"
    assert data["findings"][0]["fixedVersions"] == ["4.17.21"]
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(data)
    no_gate = json.loads(render(report, OutputFormat.JSON))
    jsonschema.Draft202012Validator(schema).validate(no_gate)


def test_markdown_and_table(report: ScanReport) -> None:
    gate = evaluate_gate(report, Severity.CRITICAL)
    markdown = render(report, OutputFormat.MARKDOWN, gate)
    assert "| HIGH | GHSA-p6mc-m468-83gw | lodash | 4.17.15 | 4.17.20 |" in markdown
    assert "gate passed" in markdown and "build-time only" in markdown
    table = render(report, OutputFormat.TABLE, gate)
    assert "GHSA-35jh-r3h4-6jhm" in table and "suppressed:1" in table


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_format_renders(report: ScanReport, fmt: OutputFormat) -> None:
    assert render(report, fmt).strip()
