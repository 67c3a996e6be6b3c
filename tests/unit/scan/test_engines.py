"""Mapping trivy/grype JSON into shipflow's report and gate. The documents below are small,
hand-made instances of the shapes in trivy's pkg/types/report.go + vulnerability.go and grype's
grype/presenter/models/document.go + match.go (neither tool is installed here)."""

from __future__ import annotations

import json

import jsonschema

from shipflow.scan import ScanOptions, Severity, evaluate_gate
from shipflow.scan._engines import engine_command, report_from_engine
from shipflow.scan.ignore import IgnoreEntry, IgnoreRules
from shipflow.scan.reports.json_report import SCHEMA_FILE, report_to_json
from support.engine_reports import GRYPE, TRIVY


def test_trivy_mapping_and_gate() -> None:
    report = report_from_engine("trivy", TRIVY, ScanOptions())
    assert report.engine == "trivy" and report.subject_digest == "sha256:" + "d" * 64
    by_id = {f.advisory_id: f for f in report.findings}
    assert by_id["CVE-2021-23337"].severity is Severity.HIGH
    assert by_id["CVE-2021-23337"].cvss_score == 7.2
    assert by_id["CVE-2020-7598"].fixed_versions == ("1.2.3", "0.2.1")
    gate = evaluate_gate(report, Severity.HIGH)
    assert not gate.passed
    # The mapped report is a valid shipflow scan report.
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator(schema).validate(report_to_json(report, gate))


def test_grype_mapping_with_exception_by_alias() -> None:
    ignore = IgnoreRules([IgnoreEntry("CVE-2020-8203", "accepted", "x.yaml", "ignore-file")])
    report = report_from_engine("grype", GRYPE, ScanOptions(ignore=ignore))
    assert report.findings == []
    [suppressed] = report.suppressed
    assert suppressed.finding.fixed_versions == ("4.17.20",)
    assert suppressed.finding.package.locations == ("/app/package-lock.json",)
    assert report.subject == "app:1" and evaluate_gate(report, Severity.HIGH).passed


def test_engine_commands() -> None:
    assert engine_command("trivy", "trivy", "registry.example/app:1")[:2] == ["trivy", "image"]
    assert engine_command("grype", "grype", "registry.example/app:1")[-1] == "registry:registry.example/app:1"
