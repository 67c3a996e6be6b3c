"""SARIF 2.1.0 for GitHub code scanning: one rule per advisory, one result per (advisory, package).

An advisory published by several databases is one finding (see :mod:`shipflow.scan.aliases`):
its rule is named by the finding's primary id, and lists the other ids (``properties.aliases``,
the help text) and the databases that published it.

Suppressed findings are included with a ``suppressions`` entry carrying the reason, so code
scanning shows them as dismissed instead of losing them. ``security-severity`` (the CVSS score,
or a representative score for the rating) lets GitHub rank the alerts. Files that were
recognised but not read are warning-level ``toolExecutionNotifications`` of the run's
invocation: the run completed, but its results are missing those files' packages.
"""

from __future__ import annotations

import hashlib
from typing import Any

from shipflow import __version__
from shipflow.sbom.model import NotRead
from shipflow.scan.model import Finding, ScanReport, Suppression
from shipflow.scan.severity import Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.UNKNOWN: "note",
}
_REPRESENTATIVE_SCORE = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 2.0,
    Severity.UNKNOWN: 0.0,
}


def _rule(finding: Finding) -> dict[str, Any]:
    score = finding.cvss_score if finding.cvss_score is not None else _REPRESENTATIVE_SCORE[finding.severity]
    summary = finding.summary or finding.advisory_id
    help_lines = [summary, "", f"Aliases: {', '.join(finding.aliases) or 'none'}"]
    if finding.sources:
        help_lines.append(
            "Published by: " + ", ".join(f"{r.source} ({r.id}, {r.severity.name})" for r in finding.sources)
        )
    help_lines += [f"- {url}" for url in finding.references]
    rule: dict[str, Any] = {
        "id": finding.advisory_id,
        "name": "Vulnerability",
        "shortDescription": {"text": summary},
        "fullDescription": {"text": summary},
        "help": {"text": "\n".join(help_lines), "markdown": "\n".join(help_lines)},
        "defaultConfiguration": {"level": _LEVEL[finding.severity]},
        "properties": {
            "security-severity": f"{score:.1f}",
            "tags": ["security", "vulnerability", finding.severity.name],
            "aliases": list(finding.aliases),
            "sources": [r.source for r in finding.sources],
        },
    }
    if finding.references:
        rule["helpUri"] = finding.references[0]
    return rule


def _result(
    finding: Finding, rule_index: int, subject: str, suppression: Suppression | None
) -> dict[str, Any]:
    package = finding.package
    fixed = ", ".join(finding.fixed_versions) or "no fixed version"
    uri = package.locations[0].lstrip("/") if package.locations else subject
    result: dict[str, Any] = {
        "ruleId": finding.advisory_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[finding.severity],
        "message": {
            "text": (
                f"{package.name} {package.version} is affected by {finding.advisory_id} "
                f"({finding.severity.name}); fixed in: {fixed}"
            )
        },
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": 1}},
                "message": {"text": package.purl},
            }
        ],
        "partialFingerprints": {
            "shipflowFinding/v1": hashlib.sha256(f"{finding.advisory_id}|{package.purl}".encode()).hexdigest()
        },
        "properties": {
            "purl": package.purl,
            "fixedVersions": list(finding.fixed_versions),
            "advisoryIds": [finding.advisory_id, *finding.aliases],
        },
    }
    if suppression is not None:
        result["suppressions"] = [{"kind": "external", "justification": suppression.reason}]
    return result


def _notification(item: NotRead) -> dict[str, Any]:
    where = item.location.path + (f" (layer {item.location.layer})" if item.location.layer else "")
    return {
        "level": "warning",
        "descriptor": {"id": "shipflow/not-read"},
        "message": {"text": f"not read: {where}: {item.reason}; its packages are missing from this scan"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": item.location.path.lstrip("/")}}}],
        "properties": {"cataloger": item.cataloger, "layer": item.location.layer, "reason": item.reason},
    }


def report_to_sarif(report: ScanReport) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    entries: list[tuple[Finding, Suppression | None]] = [(f, None) for f in report.sorted_findings()]
    entries += [(s.finding, s.suppression) for s in report.suppressed]
    for finding, suppression in entries:
        if finding.advisory_id not in index:
            index[finding.advisory_id] = len(rules)
            rules.append(_rule(finding))
        results.append(_result(finding, index[finding.advisory_id], report.subject, suppression))
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "shipflow",
                "version": __version__,
                "informationUri": "https://github.com/shipflow/shipflow",
                "rules": rules,
            }
        },
        "results": results,
        "invocations": [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": [_notification(n) for n in report.not_read],
            }
        ],
        "properties": {
            "subject": report.subject,
            "subjectDigest": report.subject_digest,
            "dbIdentity": report.db.identity if report.db else None,
        },
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
