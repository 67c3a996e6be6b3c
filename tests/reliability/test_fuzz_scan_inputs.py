"""Fuzz what ``scan`` and ``db import`` read: OSV records (and the range evaluation that later
reads them back), OpenVEX, SBOM files, and the three ignore-file formats."""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from reliability.fuzzing import check, json_bytes, mutated, seeds, shaped, shaped_bytes
from shipflow.scan import IgnoreRules, import_paths, load_ignore_file, load_openvex, read_sbom
from shipflow.scan._osv_source import read_records, record_problem
from shipflow.scan._ranges import evaluate, parse_entry
from shipflow.scan.model import Finding, PackageRef
from shipflow.scan.severity import Severity
from shipflow.scan.versions import scheme_for

OSV_SHAPE = {
    "schema_version": "1.6.0",
    "id": "GHSA-xxxx-yyyy-zzzz",
    "modified": "2024-01-01T00:00:00Z",
    "published": "2023-01-01T00:00:00Z",
    "withdrawn": "2025-01-01T00:00:00Z",
    "aliases": ["CVE-2024-0001"],
    "upstream": ["CVE-2024-0002"],
    "related": ["GHSA-other"],
    "summary": "s",
    "details": "d",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [
        {
            "package": {"ecosystem": "npm", "name": "lodash", "purl": "pkg:npm/lodash"},
            "severity": [{"type": "CVSS_V3", "score": "7.5"}],
            "ranges": [
                {
                    "type": "ECOSYSTEM",
                    "repo": "https://x",
                    "events": [{"introduced": "0"}, {"fixed": "4.17.20"}],
                }
            ],
            "versions": ["4.17.15"],
            "ecosystem_specific": {"severity": "HIGH"},
            "database_specific": {"cwe_ids": ["CWE-1321"]},
        }
    ],
    "references": [{"type": "ADVISORY", "url": "https://example.com"}],
    "database_specific": {"severity": "HIGH"},
}
OSV_SEEDS = seeds("osv/records", "osv/derived")


def _import(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"record{suffix}"
        path.write_bytes(data)
        for item in read_records(path):
            record_problem(item.record)
        import_paths([path], Path(tmp) / "db")


@given(mutated(OSV_SEEDS) | shaped_bytes(OSV_SHAPE), st.sampled_from([".json", ".yaml"]))
@example(
    json.dumps(
        {
            **OSV_SHAPE,
            "affected": [
                {
                    "package": {"ecosystem": "npm", "name": "x"},
                    "ranges": [{"type": ["ECOSYSTEM"], "events": []}],
                }
            ],
        }
    ).encode(),
    ".json",
)  # found by this test: TypeError (unhashable range type) in record_problem
def test_fuzz_osv_record_import(data: bytes, suffix: str) -> None:
    check("OSV record (db import)", _import, data, suffix, size=len(data))


ENTRY_SHAPE = OSV_SHAPE["affected"][0]
ECOSYSTEMS = ["npm", "PyPI", "Go", "Debian:12", "Alpine:v3.19", "crates.io", "Maven"]
VERSIONS = st.sampled_from(
    [
        "0",
        "1",
        "1.0.0",
        "4.17.15",
        "1:2.36-9+deb12u3",
        "1.2.3-r0",
        "v0.3.7",
        "1.0.0rc1",
        "",
        "~",
        "*",
        "1.0.0-beta+exp.sha.5114f85",
        "999999999999999999999",
    ]
) | st.text(max_size=12)


def _evaluate(entry: Any, version: str, ecosystem: str) -> None:
    parsed = parse_entry(entry, label="FUZZ-1")
    verdict = evaluate(version, parsed, scheme_for(ecosystem))
    assert isinstance(verdict.affected, bool)


@given(shaped(ENTRY_SHAPE), VERSIONS, st.sampled_from(ECOSYSTEMS))
def test_fuzz_range_evaluation(entry: Any, version: str, ecosystem: str) -> None:
    """The matcher on any stored entry (an old database may hold unvalidated ones)."""
    check("OSV range evaluation", _evaluate, entry, version, ecosystem, size=len(json.dumps(entry)))


VEX_SHAPE = {
    "@context": "https://openvex.dev/ns/v0.2.0",
    "@id": "https://example.com/vex/1",
    "timestamp": "2024-01-01T00:00:00Z",
    "statements": [
        {
            "vulnerability": {"name": "CVE-2024-0001", "@id": "x", "aliases": ["GHSA-x"]},
            "products": [
                {
                    "@id": "pkg:oci/app@sha256%3Aabc",
                    "identifiers": {"purl": "pkg:npm/lodash@4.17.15"},
                    "subcomponents": [{"@id": "pkg:npm/lodash@4.17.15"}],
                }
            ],
            "subcomponents": ["pkg:npm/lodash"],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
            "impact_statement": "i",
            "timestamp": "2024-01-02T00:00:00Z",
        }
    ],
}
FINDING = Finding(
    "GHSA-x",
    ("CVE-2024-0001",),
    PackageRef(
        "lodash",
        "4.17.15",
        "npm",
        "pkg:npm/lodash@4.17.15",
        "npm",
        ("/app/node_modules/lodash/package.json",),
    ),
    Severity.HIGH,
)


def _vex(data: bytes) -> None:
    from shipflow.scan.vex import VexIndex

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "doc.openvex.json"
        path.write_bytes(data)
        index = VexIndex(load_openvex(path))
        index.suppression_for(FINDING, frozenset({"sha256:abc"}))


@given(shaped_bytes(VEX_SHAPE) | mutated([json.dumps(VEX_SHAPE).encode()]))
def test_fuzz_openvex(data: bytes) -> None:
    check("OpenVEX", _vex, data, size=len(data))


SBOM_SEEDS = [
    *seeds("cosign/sbom.spdx.json"),
    json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "metadata": {"component": {"name": "app", "version": "sha256:" + "a" * 64}},
            "components": [
                {
                    "purl": "pkg:deb/debian/libc6@2.36-9?distro=debian-12&upstream=glibc",
                    "components": [{"purl": "pkg:npm/%40scope/x@1.0.0"}],
                }
            ],
        }
    ).encode(),
]
SBOM_VOCABULARY = [
    "spdxVersion",
    "SPDX-2.3",
    "packages",
    "externalRefs",
    "referenceType",
    "purl",
    "referenceLocator",
    "versionInfo",
    "primaryPackagePurpose",
    "CONTAINER",
    "name",
    "bomFormat",
    "CycloneDX",
    "metadata",
    "component",
    "components",
    "version",
    "pkg:npm/x@1",
    "pkg:deb/debian/x@1?distro=debian-12",
]


def _sbom(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sbom.json"
        path.write_bytes(data)
        read_sbom(path)


@given(mutated(SBOM_SEEDS) | json_bytes(SBOM_VOCABULARY))
def test_fuzz_sbom_input(data: bytes) -> None:
    check("SBOM input (SPDX/CycloneDX)", _sbom, data, size=len(data))


SHIPFLOWIGNORE = (
    b"ignore:\n  - id: CVE-2024-0001\n    reason: fine\n    expires: 2030-01-01\n    package: lodash\n"
    b"    purl: pkg:npm/lodash@4.17.15\n"
)
TRIVYIGNORE = b"# comment\nCVE-2024-0001 exp:2030-01-01\nGHSA-x # reason\n"
TRIVY_YAML = (
    b"vulnerabilities:\n  - id: CVE-2024-0001\n    paths: ['app/**/package.json', '{a,b}/*']\n"
    b"    purls: ['pkg:npm/lodash']\n    expired_at: 2030-01-01\n    statement: ok\n"
    b"misconfigurations:\n  - id: AVD-1\n    paths: [x]\nsecrets: []\nlicenses:\n  - id: GPL-3.0\n"
)
IGNORE_NAMES = {
    ".shipflowignore.yaml": SHIPFLOWIGNORE,
    ".trivyignore": TRIVYIGNORE,
    ".trivyignore.yaml": TRIVY_YAML,
}
GLOBS = st.text(alphabet="*?[]{},!/\\^-ab.", max_size=20)


def _ignore(name: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        rules = IgnoreRules(load_ignore_file(path))
        rules.decide(FINDING, date(2026, 1, 1))


@pytest.mark.parametrize("name", sorted(IGNORE_NAMES))
@given(data=st.data())
def test_fuzz_ignore_files(name: str, data: st.DataObject) -> None:
    content = data.draw(mutated([IGNORE_NAMES[name]]), label="content")
    check(f"ignore file ({name})", _ignore, name, content, size=len(content))


@given(st.lists(GLOBS, min_size=1, max_size=3))
def test_fuzz_trivyignore_yaml_path_patterns(patterns: list[str]) -> None:
    data = json.dumps({"vulnerabilities": [{"id": "CVE-2024-0001", "paths": patterns}]}).encode()
    check("ignore file (.trivyignore.yaml path globs)", _ignore, ".trivyignore.yaml", data, size=len(data))
