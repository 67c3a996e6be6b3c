"""SPDX 2.3 and CycloneDX 1.6 writers: validity (real validators), determinism, licences."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shipflow.sbom import Distro, Inventory, Location, Package, SbomFormat, render
from shipflow.sbom._licenses import resolve
from shipflow.sbom.cyclonedx import cyclonedx_json
from shipflow.sbom.spdx import spdx_json
from support.sbom import validate_cyclonedx, validate_spdx

DIGEST = "sha256:" + "ab" * 32
LAYER = "sha256:" + "cd" * 32
DEBIAN = Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)")


def sample_inventory() -> Inventory:
    packages = [
        Package(
            name="libc6",
            version="2.36-9+deb12u4",
            type="deb",
            purl="pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc",
            source_name="glibc",
            source_version="2.36-9+deb12u4",
            locations=(Location("/var/lib/dpkg/status", LAYER),),
            distro=DEBIAN,
        ),
        Package(
            name="@babel/core",
            version="7.0.0",
            type="npm",
            purl="pkg:npm/%40babel/core@7.0.0",
            licenses=("MIT",),
            locations=(Location("/app/node_modules/@babel/core/package.json", LAYER),),
        ),
        Package(
            name="musl-utils",
            version="1.1.14-r10",
            type="apk",
            purl="pkg:apk/alpine/musl-utils@1.1.14-r10?arch=x86_64&upstream=musl",
            licenses=("MIT BSD GPL2+",),  # real apk data: not an SPDX expression
            source_name="musl",
        ),
        Package(
            name="dual",
            version="1.0",
            type="npm",
            purl="pkg:npm/dual@1.0",
            licenses=("MIT", "Apache-2.0 OR BSD-3-Clause"),
        ),
        Package(
            name="Jinja2",
            version="2.11.2",
            type="pypi",
            purl="pkg:pypi/jinja2@2.11.2",
            licenses=("BSD-3-Clause", "Public Domain"),
            locations=(Location("Jinja2-2.11.2.dist-info/METADATA"), Location("requirements.txt")),
        ),
    ]
    return Inventory(
        subject=f"127.0.0.1:5000/app@{DIGEST}", subject_digest=DIGEST, distro=DEBIAN, packages=packages
    )


def test_spdx_validates_and_has_the_image_as_root(tmp_path: Path) -> None:
    doc = validate_spdx(spdx_json(sample_inventory()), tmp_path)
    packages = doc["packages"]
    assert isinstance(packages, list)
    root = packages[0]
    assert root["name"] == "127.0.0.1:5000/app" and root["versionInfo"] == DIGEST
    assert root["checksums"] == [{"algorithm": "SHA256", "checksumValue": "ab" * 32}]
    relationships = doc["relationships"]
    assert isinstance(relationships, list)
    assert relationships[0] == {
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": root["SPDXID"],
    }
    assert len(relationships) == 1 + 5
    by_name = {p["name"]: p for p in packages[1:]}
    assert by_name["musl-utils"]["licenseDeclared"].startswith("LicenseRef-MIT-BSD-GPL2")
    assert by_name["dual"]["licenseDeclared"] == "MIT AND (Apache-2.0 OR BSD-3-Clause)"
    assert "layer " + LAYER in by_name["libc6"]["sourceInfo"]
    assert "built from source package glibc" in by_name["libc6"]["sourceInfo"]
    extracted = doc["hasExtractedLicensingInfos"]
    assert isinstance(extracted, list)
    assert sorted(e["extractedText"] for e in extracted) == ["MIT BSD GPL2+", "Public Domain"]


def test_cyclonedx_validates_with_licence_forms() -> None:
    doc = validate_cyclonedx(cyclonedx_json(sample_inventory()))
    components = {c["name"]: c for c in doc["components"]}  # type: ignore[attr-defined]
    assert components["debian"]["type"] == "operating-system"
    assert components["@babel/core"]["licenses"] == [{"license": {"id": "MIT"}}]
    assert components["dual"]["licenses"] == [{"expression": "MIT AND (Apache-2.0 OR BSD-3-Clause)"}]
    assert components["musl-utils"]["licenses"] == [{"license": {"name": "MIT BSD GPL2+"}}]
    assert components["Jinja2"]["licenses"] == [
        {"license": {"id": "BSD-3-Clause"}},
        {"license": {"name": "Public Domain"}},
    ]
    props = {p["name"]: p["value"] for p in components["libc6"]["properties"]}
    assert props["shipflow:location:0:layer"] == LAYER
    assert props["shipflow:package:source-name"] == "glibc"
    assert doc["metadata"]["component"]["hashes"] == [{"alg": "SHA-256", "content": "ab" * 32}]  # type: ignore[index]


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_output_is_deterministic_apart_from_time_and_namespace(fmt: SbomFormat) -> None:
    inventory = sample_inventory()
    shuffled = sample_inventory()
    shuffled.packages.reverse()
    first, second = json.loads(render(inventory, fmt)), json.loads(render(shuffled, fmt))
    for doc in (first, second):
        if fmt is SbomFormat.SPDX_JSON:
            doc["creationInfo"]["created"] = doc["documentNamespace"] = None
        else:
            doc["serialNumber"] = doc["metadata"]["timestamp"] = None
    assert first == second


def test_fixed_time_and_namespace_give_identical_bytes() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    serial = uuid.UUID(int=7)
    spdx = [spdx_json(sample_inventory(), now=now, namespace="https://example.invalid/x") for _ in range(2)]
    assert spdx[0] == spdx[1] and '"created": "2026-01-02T03:04:05Z"' in spdx[0]
    cdx = [cyclonedx_json(sample_inventory(), now=now, serial=serial) for _ in range(2)]
    assert cdx[0] == cdx[1] and str(serial) in cdx[0]


def test_spdx_ids_are_stable_and_unique(tmp_path: Path) -> None:
    one = json.loads(spdx_json(sample_inventory()))
    two = json.loads(spdx_json(sample_inventory()))
    ids = [p["SPDXID"] for p in one["packages"]]
    assert ids == [p["SPDXID"] for p in two["packages"]]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("SPDXRef-") for i in ids)


def test_directory_subject_and_empty_inventory(tmp_path: Path) -> None:
    inventory = Inventory(subject="/src/project")
    spdx = validate_spdx(render(inventory, SbomFormat.SPDX_JSON), tmp_path)
    assert spdx["name"] == "/src/project"
    cdx = validate_cyclonedx(render(inventory, SbomFormat.CYCLONEDX_JSON))
    assert cdx["components"] == []


def test_format_names_and_every_format_renders() -> None:
    assert SbomFormat.parse("spdx") is SbomFormat.SPDX_JSON
    assert SbomFormat.parse("cyclonedx") is SbomFormat.CYCLONEDX_JSON
    assert SbomFormat.parse("cyclonedx-json") is SbomFormat.CYCLONEDX_JSON
    for fmt in SbomFormat:  # exhaustiveness: every choice is wired to a writer
        assert json.loads(render(sample_inventory(), fmt))
        assert fmt.media_type and fmt.predicate_type.startswith("https://")


def test_licence_resolution() -> None:
    assert resolve(()).expression is None
    assert resolve(("mit",)).expression == "MIT"
    assert resolve(("GPL-2.0+",)).expression == "GPL-2.0-or-later"
    mixed = resolve(("MIT", "GPL2+"))
    assert mixed.expression is not None and mixed.expression.startswith("MIT AND LicenseRef-GPL2")
    assert [r.text for r in mixed.refs] == ["GPL2+"]


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_scanner_reads_back_what_we_write(fmt: SbomFormat, tmp_path: Path) -> None:
    """Round trip through the scanner's SBOM reader: purls, source packages, distro, subject."""
    from shipflow.scan._sbom_input import read_sbom

    path = tmp_path / "sbom.json"
    path.write_text(render(sample_inventory(), fmt))
    back = read_sbom(path).inventory
    assert back.subject_digest == DIGEST
    assert sorted(p.purl for p in back.packages) == sorted(p.purl for p in sample_inventory().packages)
    libc = next(p for p in back.packages if p.name == "libc6")
    assert libc.source_name == "glibc" and libc.distro == Distro("debian", "12")
    assert next(p for p in back.packages if p.type == "npm" and p.name == "@babel/core")
