"""The JSON report: a stable, documented shape (``schema: shipflow.dev/scan-report/v1``).

Keys are only ever added within v1 (``sources`` and ``severitySource`` of a finding came with
alias merging: one finding per advisory however many databases published it). Findings are
sorted by severity (highest first), then package name, version and advisory id, so the same
inputs give the same document apart from the timestamps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipflow.sbom.model import NotRead
from shipflow.scan.gate import GateResult
from shipflow.scan.model import Finding, ScanReport, SuppressedFinding
from shipflow.scan.severity import Severity

SCHEMA = "shipflow.dev/scan-report/v1"
# The JSON Schema of this document, shipped with the package.
SCHEMA_FILE = Path(__file__).with_name("scan-report-v1.schema.json")


def finding_to_json(finding: Finding) -> dict[str, Any]:
    package = finding.package
    return {
        "id": finding.advisory_id,
        "aliases": list(finding.aliases),
        # Every advisory record merged into this finding, and whose rating it took.
        "sources": [
            {
                "id": record.id,
                "source": record.source,
                "severity": record.severity.name,
                "cvssScore": record.cvss_score,
            }
            for record in finding.sources
        ],
        "severitySource": finding.severity_source,
        "severity": finding.severity.name,
        "cvssScore": finding.cvss_score,
        "cvssVector": finding.cvss_vector,
        "summary": finding.summary,
        "package": {
            "name": package.name,
            "version": package.version,
            "type": package.type,
            "purl": package.purl,
            "ecosystem": package.ecosystem,
            "locations": list(package.locations),
        },
        "fixedVersions": list(finding.fixed_versions),
        "references": list(finding.references),
    }


def _suppressed(item: SuppressedFinding) -> dict[str, Any]:
    data = finding_to_json(item.finding)
    s = item.suppression
    data["suppression"] = {"kind": s.kind, "reason": s.reason, "source": s.source, "expires": s.expires}
    return data


def not_read_to_json(item: NotRead) -> dict[str, Any]:
    return {
        "path": item.location.path,
        "layer": item.location.layer,
        "cataloger": item.cataloger,
        "reason": item.reason,
    }


def gate_to_json(gate: GateResult) -> dict[str, Any]:
    return {
        "passed": gate.passed,
        "failOn": [s.name for s in sorted(gate.fail_on, reverse=True)],
        "failing": [f.advisory_id + " " + f.package.purl for f in gate.failing],
    }


def report_to_json(report: ScanReport, gate: GateResult | None = None) -> dict[str, Any]:
    counts = report.counts()
    suppressed = sorted(
        report.suppressed, key=lambda s: (-s.finding.severity, s.finding.package.name, s.finding.advisory_id)
    )
    return {
        "schema": SCHEMA,
        "subject": report.subject,
        "subjectDigest": report.subject_digest,
        "engine": report.engine,
        "startedAt": report.started_at,
        "finishedAt": report.finished_at,
        "db": (
            {
                "identity": report.db.identity,
                "lastImport": report.db.last_import,
                "newestModified": report.db.newest_modified,
                "advisories": report.db.advisories,
            }
            if report.db
            else None
        ),
        "packagesScanned": report.packages_scanned,
        "counts": {s.name: counts[s] for s in sorted(Severity, reverse=True)},
        "suppressedCount": len(report.suppressed),
        "findings": [finding_to_json(f) for f in report.sorted_findings()],
        "suppressed": [_suppressed(s) for s in suppressed],
        "notes": list(report.notes),
        "notRead": [not_read_to_json(n) for n in report.not_read],
        "gate": gate_to_json(gate) if gate else None,
    }
