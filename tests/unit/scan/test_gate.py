"""The vulnerability gates: level semantics (one level = that level and above, a list =
exactly those), the report gate, and the promotion gate that re-scans a digest now — from its
layers, or from a verified SBOM attestation when one exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipflow.errors import GateFailed, UsageError
from shipflow.gate import GateContext
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
from shipflow.sbom import SbomFormat, catalog_image, render
from shipflow.scan import ScanOptions, import_paths
from shipflow.scan.gate import ReportSubject, SeverityGate, VulnerabilityGate, parse_fail_on
from shipflow.scan.model import Finding, PackageRef, ScanReport
from shipflow.scan.severity import Severity
from shipflow.signing import attest, generate_private_key, trusted_keys
from support.paths import DATA_DIR
from support.sbom import TarBuilder, compress, write_layout

H, C, M, L, U = Severity.HIGH, Severity.CRITICAL, Severity.MEDIUM, Severity.LOW, Severity.UNKNOWN


@pytest.mark.parametrize(
    ("text", "levels"),
    [
        ("HIGH", {H, C}),
        ("high", {H, C}),
        ("CRITICAL,HIGH", {C, H}),
        ("LOW,CRITICAL", {L, C}),
        ("MEDIUM", {M, H, C}),
        ("UNKNOWN", {U, L, M, H, C}),
        (["CRITICAL", "HIGH"], {C, H}),
        (["HIGH"], {H, C}),
    ],
)
def test_levels(text: str | list[str], levels: set[Severity]) -> None:
    assert parse_fail_on(text) == frozenset(levels)


@pytest.mark.parametrize("bad", ["", " ", "HIGH,", ",", "SEVERE", []])
def test_empty_or_unknown_levels_are_usage_errors(bad: str | list[str]) -> None:
    with pytest.raises(UsageError):
        parse_fail_on(bad)


def _report(*severities: Severity) -> ScanReport:
    report = ScanReport(
        subject="app",
        subject_digest="sha256:" + "a" * 64,
        engine="shipflow",
        db=None,
        started_at="",
        finished_at="",
        packages_scanned=len(severities),
    )
    for i, severity in enumerate(severities):
        package = PackageRef(
            name=f"p{i}", version="1.0", type="npm", purl=f"pkg:npm/p{i}@1.0", ecosystem="npm"
        )
        report.findings.append(Finding(f"GHSA-{i}", (), package, severity))
    return report


def test_fail_on_high_fails_on_a_critical_finding() -> None:
    """Grype users read --fail-on high as "HIGH and above": a CRITICAL must not pass."""
    with pytest.raises(GateFailed) as failed:
        SeverityGate(parse_fail_on("HIGH")).check(ReportSubject(_report(C)))
    evidence = failed.value.evidence
    assert evidence is not None and evidence.inputs["failOn"] == ["CRITICAL", "HIGH"]
    assert evidence.details["failing"][0]["id"] == "GHSA-0"
    assert evidence.subject == "sha256:" + "a" * 64


def test_an_explicit_list_means_exactly_those_levels() -> None:
    evidence = SeverityGate(parse_fail_on("CRITICAL,MEDIUM")).check(ReportSubject(_report(H, L)))
    assert evidence.passed and evidence.details["findings"] == {"HIGH": 1, "LOW": 1}


# --- re-scanning a digest ----------------------------------------------------------------------

LODASH = json.dumps({"name": "lodash", "version": "4.17.15", "license": "MIT"}).encode()


@pytest.fixture
def image(tmp_path: Path) -> tuple[LayoutStore, Digest]:
    layer = TarBuilder().file("app/node_modules/lodash/package.json", LODASH).bytes()
    digest = write_layout(tmp_path / "layout", [compress(layer, "gzip")])
    return LayoutStore(tmp_path / "layout"), Digest.parse(digest)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "advisories.db"
    import_paths([DATA_DIR / "osv" / "records"], path)
    return path


def test_rescan_from_layers_fails_on_a_vulnerable_package(
    image: tuple[LayoutStore, Digest], db: Path
) -> None:
    store, digest = image
    gate = VulnerabilityGate(parse_fail_on("HIGH"), db_path=db, options=ScanOptions())
    with pytest.raises(GateFailed) as failed:
        gate.check(GateContext(store, digest))
    evidence = failed.value.evidence
    assert evidence is not None and evidence.inputs["source"] == "layers"
    assert evidence.inputs["advisoryDb"].startswith("sha256:")
    assert {f["id"] for f in evidence.details["failing"]} == {"GHSA-p6mc-m468-83gw", "GHSA-35jh-r3h4-6jhm"}


def test_rescan_prefers_a_verified_sbom_attestation(
    image: tuple[LayoutStore, Digest], db: Path, tmp_path: Path
) -> None:
    store, digest = image
    key = generate_private_key()
    sbom = render(catalog_image(store, str(digest)), SbomFormat.SPDX_JSON)
    attest(
        store,
        digest,
        key,
        predicate_type="https://spdx.dev/Document",
        predicate=sbom.encode(),
        subject_name="app",
    )
    gate = VulnerabilityGate(
        parse_fail_on("CRITICAL"), db_path=db, options=ScanOptions(), sbom_policy=trusted_keys([key.verifier])
    )
    evidence = gate.check(GateContext(store, digest))  # lodash's findings are HIGH: CRITICAL passes
    assert evidence.inputs["source"].startswith("sbom-attestation (spdxjson, key ")
    assert evidence.details["findings"] == {"HIGH": 2}
    # An attestation by a key that is not trusted is not used: the layers are read instead.
    other = trusted_keys([generate_private_key().verifier])
    gate = VulnerabilityGate(parse_fail_on("CRITICAL"), db_path=db, options=ScanOptions(), sbom_policy=other)
    assert gate.check(GateContext(store, digest)).inputs["source"] == "layers (no verified SBOM attestation)"
