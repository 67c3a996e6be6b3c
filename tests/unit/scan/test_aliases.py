"""One finding per advisory however many databases published it (issue 12, item 4).

Real records that alias each other: GitHub's GHSA-q2q7-5pp4-w6pg and PyPA's PYSEC-2021-108 are
both CVE-2021-33503 in urllib3; GHSA-g3rq-g295-4j3m and PYSEC-2021-66 are both CVE-2020-28493 in
Jinja2 (tests/data/osv/aliases/ and records/, CC-BY-4.0, sources in tests/data/osv/README.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from shipflow.errors import UsageError
from shipflow.sbom.model import Inventory, Package
from shipflow.scan import (
    AdvisoryDB,
    IgnoreRules,
    ScanOptions,
    ScanReport,
    Severity,
    VexIndex,
    evaluate_gate,
    import_paths,
    load_ignore_file,
    load_openvex,
    scan_inventory,
)
from shipflow.scan._engines import report_from_engine
from shipflow.scan.aliases import choose_severity, merge_aliases, parse_severity_sources, source_of
from shipflow.scan.model import AdvisorySource, Finding, PackageRef
from shipflow.scan.reports import OutputFormat, render
from shipflow.scan.reports.json_report import SCHEMA_FILE, report_to_json
from shipflow.scan.reports.sarif import report_to_sarif

OSV = Path(__file__).resolve().parents[2] / "data" / "osv"
NOW = datetime(2026, 6, 1, tzinfo=UTC)

URLLIB3 = Package("urllib3", "1.26.4", "pypi", "pkg:pypi/urllib3@1.26.4")
JINJA = Package("Jinja2", "2.11.2", "pypi", "pkg:pypi/jinja2@2.11.2")
LODASH = Package("lodash", "4.17.15", "npm", "pkg:npm/lodash@4.17.15")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[AdvisoryDB]:
    import_paths([OSV / "records", OSV / "aliases"], tmp_path / "adv.db")
    handle = AdvisoryDB.open(tmp_path / "adv.db")
    yield handle
    handle.close()


def _scan(db: AdvisoryDB, **options: object) -> ScanReport:
    inventory = Inventory(
        subject="test", subject_digest="sha256:" + "b" * 64, packages=[URLLIB3, JINJA, LODASH]
    )
    return scan_inventory(inventory, db, ScanOptions(now=NOW, **options))  # type: ignore[arg-type]


def _by_package(report: ScanReport) -> dict[str, list[Finding]]:
    found: dict[str, list[Finding]] = {}
    for finding in report.findings:
        found.setdefault(finding.package.name, []).append(finding)
    return found


def test_ghsa_and_pysec_of_one_cve_are_one_finding(db: AdvisoryDB) -> None:
    found = _by_package(_scan(db))
    [urllib3] = found["urllib3"]
    assert urllib3.advisory_id == "GHSA-q2q7-5pp4-w6pg"  # GitHub's id stands for the advisory
    assert urllib3.aliases == ("PYSEC-2021-108", "CVE-2021-33503")
    assert urllib3.ids == {"GHSA-q2q7-5pp4-w6pg", "PYSEC-2021-108", "CVE-2021-33503"}
    assert [(s.id, s.source, s.severity) for s in urllib3.sources] == [
        ("GHSA-q2q7-5pp4-w6pg", "ghsa", Severity.HIGH),  # CVSS 7.5
        ("PYSEC-2021-108", "pypa", Severity.UNKNOWN),  # PyPA's record carries no rating
    ]
    # The highest rating of the records, with the score and vector of the record it came from.
    assert (urllib3.severity, urllib3.severity_source, urllib3.cvss_score) == (Severity.HIGH, "ghsa", 7.5)
    assert urllib3.fixed_versions == ("1.26.5",)
    assert urllib3.summary is not None and urllib3.summary.startswith("Catastrophic backtracking")

    [jinja] = found["Jinja2"]
    assert (jinja.advisory_id, jinja.aliases) == (
        "GHSA-g3rq-g295-4j3m",
        ("PYSEC-2021-66", "CVE-2020-28493", "SNYK-PYTHON-JINJA2-1012994"),
    )
    assert (jinja.severity, jinja.severity_source) == (Severity.MEDIUM, "ghsa")  # CVSS 5.3

    # Two different advisories on one package stay two findings.
    assert {f.advisory_id for f in found["lodash"]} == {"GHSA-p6mc-m468-83gw", "GHSA-35jh-r3h4-6jhm"}
    assert all(len(f.sources) == 1 for f in found["lodash"])


def test_counts_and_the_gate_see_one_finding_per_advisory(db: AdvisoryDB) -> None:
    report = _scan(db)
    assert len(report.findings) == 4  # urllib3 1, Jinja2 1, lodash 2 (six records matched)
    gate = evaluate_gate(report, Severity.HIGH)
    assert sorted(f.advisory_id for f in gate.failing) == [
        "GHSA-35jh-r3h4-6jhm",
        "GHSA-p6mc-m468-83gw",
        "GHSA-q2q7-5pp4-w6pg",
    ]


def test_severity_source_names_the_database_that_wins(db: AdvisoryDB) -> None:
    # PyPA rates neither record, so the highest rating still applies and says so.
    pypa_first = _by_package(_scan(db, severity_source=("pypa",)))
    assert (pypa_first["urllib3"][0].severity, pypa_first["urllib3"][0].severity_source) == (
        Severity.HIGH,
        "ghsa",
    )
    # With ratings that disagree, the first named database that rates the advisory wins.
    records = [
        AdvisorySource("GHSA-x", "ghsa", Severity.MEDIUM, 5.3),
        AdvisorySource("DSA-1", "debian", Severity.LOW),
        AdvisorySource("CVE-1", "nvd", Severity.CRITICAL, 9.8),
    ]
    assert choose_severity(records) == records[2]
    assert choose_severity(records, ("debian", "ghsa")) == records[1]
    assert choose_severity(records, ("ubuntu", "ghsa")) == records[0]
    assert choose_severity(records, ("ubuntu",)) == records[2]
    assert choose_severity([AdvisorySource("PYSEC-1", "pypa", Severity.UNKNOWN)]) is None


def _finding(
    advisory_id: str, aliases: tuple[str, ...], severity: Severity, purl: str = "pkg:npm/x@1"
) -> Finding:
    return Finding(advisory_id, aliases, PackageRef("x", "1", "npm", purl, "npm"), severity)


def test_merge_is_transitive_per_package_and_keeps_unrelated_apart() -> None:
    chain = [
        _finding("PYSEC-2", ("CVE-2",), Severity.UNKNOWN),
        _finding("GHSA-b", ("CVE-1", "CVE-2"), Severity.MEDIUM),
        _finding("PYSEC-1", ("CVE-1",), Severity.LOW),
        _finding("GHSA-other", ("CVE-9",), Severity.LOW),
        # The same advisory on another package is that package's finding.
        _finding("PYSEC-1", ("CVE-1",), Severity.LOW, purl="pkg:npm/y@1"),
    ]
    merged = merge_aliases(chain)
    assert [(f.advisory_id, f.package.purl) for f in merged] == [
        ("GHSA-b", "pkg:npm/x@1"),
        ("GHSA-other", "pkg:npm/x@1"),
        ("PYSEC-1", "pkg:npm/y@1"),
    ]
    first = merged[0]
    assert first.aliases == ("PYSEC-1", "PYSEC-2", "CVE-1", "CVE-2")
    assert [s.id for s in first.sources] == ["GHSA-b", "PYSEC-1", "PYSEC-2"]
    assert (first.severity, first.severity_source) == (Severity.MEDIUM, "ghsa")
    # A finding that stands alone keeps its rating and names its source.
    assert (merged[2].severity_source, [s.source for s in merged[2].sources]) == ("pypa", ["pypa"])


def test_cve_records_stand_for_an_advisory_only_when_nothing_else_does() -> None:
    merged = merge_aliases(
        [
            _finding("CVE-2023-4911", (), Severity.HIGH),
            _finding("DSA-5514-1", ("CVE-2023-4911",), Severity.UNKNOWN),
        ]
    )
    assert [(f.advisory_id, f.aliases, f.severity_source) for f in merged] == [
        ("DSA-5514-1", ("CVE-2023-4911",), "nvd")
    ]


def test_ignore_entries_and_vex_match_any_merged_id(db: AdvisoryDB, tmp_path: Path) -> None:
    ignore = tmp_path / ".shipflowignore.yaml"
    ignore.write_text(
        "ignore:\n"
        "  - id: PYSEC-2021-108\n    reason: authority parsing is not reachable\n"
        "  - id: CVE-2020-28493\n    reason: urlize is not used\n"
    )
    report = _scan(db, ignore=IgnoreRules(load_ignore_file(ignore)))
    suppressed = {s.finding.advisory_id: s.suppression.reason for s in report.suppressed}
    assert suppressed == {
        "GHSA-q2q7-5pp4-w6pg": "authority parsing is not reachable",
        "GHSA-g3rq-g295-4j3m": "urlize is not used",
    }
    assert {f.package.name for f in report.findings} == {"lodash"}

    vex = tmp_path / "vex.json"
    vex.write_text(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "@id": "https://example.com/vex/1",
                "author": "test",
                "timestamp": "2026-01-01T00:00:00Z",
                "version": 1,
                "statements": [
                    {
                        "vulnerability": {"name": "PYSEC-2021-66"},
                        "products": [{"@id": "pkg:pypi/jinja2@2.11.2"}],
                        "status": "not_affected",
                        "justification": "vulnerable_code_not_in_execute_path",
                    }
                ],
            }
        )
    )
    report = _scan(db, vex=VexIndex(load_openvex(vex)))
    [vexed] = report.suppressed
    assert (vexed.finding.advisory_id, vexed.suppression.kind) == ("GHSA-g3rq-g295-4j3m", "vex")


def test_report_formats_show_the_merged_ids(db: AdvisoryDB) -> None:
    report = _scan(db)
    document = report_to_json(report)
    jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate(document)
    [urllib3] = [f for f in document["findings"] if f["package"]["name"] == "urllib3"]
    assert urllib3["id"] == "GHSA-q2q7-5pp4-w6pg"
    assert urllib3["aliases"] == ["PYSEC-2021-108", "CVE-2021-33503"]
    assert urllib3["severitySource"] == "ghsa"
    assert [(s["id"], s["source"], s["severity"]) for s in urllib3["sources"]] == [
        ("GHSA-q2q7-5pp4-w6pg", "ghsa", "HIGH"),
        ("PYSEC-2021-108", "pypa", "UNKNOWN"),
    ]

    table = render(report, OutputFormat.TABLE)
    assert "GHSA-q2q7-5pp4-w6pg" in table and "PYSEC-2021-108, CVE-2021-33503" in table
    assert table.count("urllib3") == 1

    markdown = render(report, OutputFormat.MARKDOWN)
    [row] = [line for line in markdown.splitlines() if "urllib3" in line]
    assert row.startswith("| HIGH | GHSA-q2q7-5pp4-w6pg | urllib3 | 1.26.4 | 1.26.5 |")
    assert row.endswith("| PYSEC-2021-108, CVE-2021-33503 |")

    sarif = report_to_sarif(report)
    rules = {r["id"]: r for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert "PYSEC-2021-108" not in rules
    assert rules["GHSA-q2q7-5pp4-w6pg"]["properties"]["aliases"] == ["PYSEC-2021-108", "CVE-2021-33503"]
    assert rules["GHSA-q2q7-5pp4-w6pg"]["properties"]["sources"] == ["ghsa", "pypa"]
    [result] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "GHSA-q2q7-5pp4-w6pg"]
    assert result["properties"]["advisoryIds"] == ["GHSA-q2q7-5pp4-w6pg", "PYSEC-2021-108", "CVE-2021-33503"]


def test_external_engine_results_are_merged_too() -> None:
    # Grype reports GitHub's and PyPA's record of one CVE as two matches on one package.
    artifact = {"name": "urllib3", "version": "1.26.4", "type": "python", "purl": "pkg:pypi/urllib3@1.26.4"}
    document = {
        "source": {"type": "image", "target": {"userInput": "app"}},
        "matches": [
            {
                "vulnerability": {
                    "id": "GHSA-q2q7-5pp4-w6pg",
                    "severity": "High",
                    "fix": {"versions": ["1.26.5"]},
                },
                "relatedVulnerabilities": [{"id": "CVE-2021-33503"}],
                "artifact": artifact,
            },
            {
                "vulnerability": {
                    "id": "PYSEC-2021-108",
                    "severity": "Unknown",
                    "fix": {"versions": ["1.26.5"]},
                },
                "relatedVulnerabilities": [{"id": "CVE-2021-33503"}],
                "artifact": artifact,
            },
        ],
    }
    report = report_from_engine("grype", document, ScanOptions(now=NOW))
    [finding] = report.findings
    assert finding.advisory_id == "GHSA-q2q7-5pp4-w6pg"
    assert set(finding.aliases) == {"PYSEC-2021-108", "CVE-2021-33503"}
    assert finding.severity is Severity.HIGH


def test_source_names_and_the_option() -> None:
    assert [
        source_of(i)
        for i in ("GHSA-x", "PYSEC-2021-1", "DSA-5514-1", "DEBIAN-CVE-1", "CVE-1", "ALPINE-CVE-1")
    ] == [
        "ghsa",
        "pypa",
        "debian",
        "debian",
        "nvd",
        "alpine",
    ]
    assert source_of("FOO-1") == "foo" and source_of("nodash") == "unknown"
    assert parse_severity_sources("highest") == ()
    assert parse_severity_sources(" Debian, ghsa ,debian") == ("debian", "ghsa")
    with pytest.raises(UsageError):
        parse_severity_sources("highest,ghsa")
    with pytest.raises(UsageError):
        parse_severity_sources("gh sa")


def test_cli_severity_source_option(db: AdvisoryDB, tmp_path: Path) -> None:
    """`shipflow scan --severity-source` reaches the matcher, and a bad value is a usage error."""
    from click.testing import CliRunner

    from shipflow.cli.main import cli

    report = tmp_path / "report.json"
    base = ["scan", str(OSV / "project"), "--db", str(db.path), "--format", "json", "--max-db-age", "off"]
    result = CliRunner().invoke(cli, [*base, "--severity-source", "pypa,ghsa", "-o", str(report)])
    assert result.exit_code == 0, result.output
    document = json.loads(report.read_text())
    [urllib3] = [f for f in document["findings"] if f["package"]["name"] == "urllib3"]
    assert (urllib3["id"], urllib3["severity"], urllib3["severitySource"]) == (
        "GHSA-q2q7-5pp4-w6pg",
        "HIGH",
        "ghsa",
    )
    assert urllib3["aliases"] == ["PYSEC-2021-108", "CVE-2021-33503"]

    bad = CliRunner().invoke(cli, [*base, "--severity-source", "highest,ghsa"])
    # main() turns shipflow's errors into exit codes; the bare command group raises them.
    assert isinstance(bad.exception, UsageError) and bad.exception.exit_code == 2
