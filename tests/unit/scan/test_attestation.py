"""The cosign vuln predicate built from a scan report: its shape (cosign's CosignVulnPredicate),
the invocation taken from GitHub Actions' environment, and a report about another subject
refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shipflow.errors import UsageError
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
from shipflow.scan.attestation import (
    Invocation,
    attest_report,
    invocation_from_environment,
    vuln_predicate,
)
from shipflow.scan.db import DbInfo
from shipflow.scan.gate import evaluate_gate
from shipflow.scan.model import Finding, PackageRef, ScanReport
from shipflow.scan.severity import Severity
from shipflow.signing import generate_private_key
from support.paths import DATA_DIR

OSV = DATA_DIR / "osv"
PASSWORD = "scan-attest-pass"


# --- the predicate (unit) --------------------------------------------------------------------------


def _report(subject_digest: str | None) -> ScanReport:
    package = PackageRef("lodash", "4.17.15", "npm", "pkg:npm/lodash@4.17.15", "npm", ("/app/package.json",))
    report = ScanReport(
        subject=f"oci:/x@{subject_digest}" if subject_digest else "/src",
        subject_digest=subject_digest,
        engine="shipflow",
        db=DbInfo(
            path="/var/cache/shipflow/advisories.db",
            identity="sha256:" + "d" * 64,
            advisories=6,
            per_ecosystem={"npm": 3},
            last_import="2026-01-01T00:00:00Z",
            newest_modified="2025-12-01T00:00:00Z",
        ),
        started_at="2026-02-01T10:00:00Z",
        finished_at="2026-02-01T10:00:03Z",
        packages_scanned=1,
    )
    report.findings.append(
        Finding(
            "GHSA-p6mc-m468-83gw", ("CVE-2020-8203",), package, Severity.HIGH, fixed_versions=("4.17.19",)
        )
    )
    return report


def test_predicate_has_cosigns_vuln_shape() -> None:
    report = _report("sha256:" + "a" * 64)
    gate = evaluate_gate(report, Severity.HIGH)
    predicate = vuln_predicate(report, gate, invocation=Invocation(parameters={"failOn": ["HIGH"]}))
    # CosignVulnPredicate's JSON field names, every one present (Go writes empty strings too).
    assert set(predicate) == {"invocation", "scanner", "metadata"}
    assert predicate["invocation"] == {
        "parameters": {"failOn": ["HIGH"]},
        "uri": "",
        "event_id": "",
        "builder.id": "",
    }
    scanner = predicate["scanner"]
    assert set(scanner) == {"uri", "version", "db", "result"}
    assert scanner["db"] == {
        "uri": "file:///var/cache/shipflow/advisories.db",
        "version": "sha256:" + "d" * 64,
    }
    assert scanner["result"]["schema"] == "shipflow.dev/scan-report/v1"
    assert scanner["result"]["gate"]["passed"] is False
    assert [f["id"] for f in scanner["result"]["findings"]] == ["GHSA-p6mc-m468-83gw"]
    assert predicate["metadata"] == {
        "scanStartedOn": "2026-02-01T10:00:00Z",
        "scanFinishedOn": "2026-02-01T10:00:03Z",
    }


def test_invocation_from_github_actions_environment() -> None:
    environ = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "org/app",
        "GITHUB_RUN_ID": "1234",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_WORKFLOW_REF": "org/app/.github/workflows/build.yml@refs/heads/main",
    }
    invocation = invocation_from_environment({"engine": "shipflow"}, environ)
    assert invocation.to_json() == {
        "parameters": {"engine": "shipflow"},
        "uri": "https://github.com/org/app/actions/runs/1234/attempts/2",
        "event_id": "1234",
        "builder.id": "org/app/.github/workflows/build.yml@refs/heads/main",
    }
    assert invocation_from_environment(None, {}) == Invocation()


def test_attest_report_refuses_a_report_about_another_subject(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "layout", create=True)
    digest = Digest.parse("sha256:" + "b" * 64)
    key = generate_private_key()
    with pytest.raises(UsageError, match="not sha256:b"):
        attest_report(store, digest, key, _report("sha256:" + "a" * 64), None, invocation=Invocation())
    with pytest.raises(UsageError, match="names no image digest"):
        attest_report(store, digest, key, _report(None), None, invocation=Invocation())
    assert store.list_tags() == []  # nothing written
