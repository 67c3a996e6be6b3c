"""SPDX 2.3 JSON for an Inventory.

Written as plain JSON (the document is small and flat, and writing it directly keeps the
output byte-stable); the tests validate every document with ``spdx-tools``. Deterministic
apart from ``created`` and ``documentNamespace``: packages are sorted and their SPDXIDs are
derived from the purl.

Dev dependencies get a ``DEV_DEPENDENCY_OF`` relationship to the root besides ``CONTAINS``.
Files that were recognised but not read are annotations (type ``OTHER``) of the root package,
each comment ``shipflow:not-read`` followed by a JSON object (path, layer, cataloger,
reason), so people and ``shipflow scan SBOM`` both can read them.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime
from typing import Any

from shipflow import __version__
from shipflow.sbom._licenses import LicenseRef, resolve
from shipflow.sbom.jsontext import dumps_indented
from shipflow.sbom.model import Inventory, Package
from shipflow.timeutil import utc_timestamp

NAMESPACE_BASE = "https://shipflow.dev/spdxdocs"
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
NOASSERTION = "NOASSERTION"

_CATALOG_SOURCE = {
    "apk": "APK DB",
    "deb": "DPKG DB",
    "rpm": "RPM DB",
    "npm": "npm package",
    "pypi": "Python package",
    "golang": "Go module",
    "cargo": "Rust crate",
    "composer": "PHP package",
    "gem": "Ruby gem",
    "maven": "Java archive",
}
NOT_READ_PREFIX = "shipflow:not-read "


def spdx_id(kind: str, key: str, readable: str) -> str:
    """``SPDXRef-<kind>-<readable>-<hash of key>``: stable for the same key, and unique."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    text = _ID_UNSAFE.sub("-", readable).strip("-")[:60]
    return f"SPDXRef-{kind}-{text}-{digest}"


def _created(now: datetime | None) -> str:
    return utc_timestamp(now)


def _root_package(inventory: Inventory) -> dict[str, Any]:
    subject = inventory.subject
    name, _, _ = subject.partition("@") if inventory.subject_digest else (subject, "", "")
    root: dict[str, Any] = {
        "SPDXID": spdx_id("Image" if inventory.subject_digest else "Directory", subject, name),
        "name": name,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": NOASSERTION,
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": "CONTAINER" if inventory.subject_digest else "SOURCE",
    }
    if inventory.subject_digest:
        algorithm, _, hex_value = inventory.subject_digest.partition(":")
        root["versionInfo"] = inventory.subject_digest
        root["checksums"] = [{"algorithm": algorithm.upper(), "checksumValue": hex_value}]
    if inventory.distro:
        distro = inventory.distro
        root["comment"] = f"distro: {distro.id} {distro.version_id}" + (
            f" ({distro.pretty_name})" if distro.pretty_name else ""
        )
    return root


def _source_info(package: Package) -> str:
    where = "; ".join(
        f"{loc.path} (layer {loc.layer})" if loc.layer else loc.path for loc in package.locations
    )
    text = (
        f"acquired package info from {_CATALOG_SOURCE.get(package.type, package.type)}: {where or 'unknown'}"
    )
    if package.source_name and (
        package.source_name != package.name or package.source_version != package.version
    ):
        text += (
            f"; built from source package {package.source_name} {package.source_version or package.version}"
        )
    return text


def _package(package: Package, refs: dict[str, LicenseRef]) -> dict[str, Any]:
    resolved = resolve(package.licenses)
    for ref in resolved.refs:
        refs[ref.id] = ref
    entry: dict[str, Any] = {
        "SPDXID": spdx_id("Package", package.purl, f"{package.type}-{package.name}"),
        "name": package.name,
        "versionInfo": package.version,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": resolved.expression or NOASSERTION,
        "copyrightText": NOASSERTION,
        "sourceInfo": _source_info(package),
        "externalRefs": [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": package.purl,
            }
        ],
        "primaryPackagePurpose": "LIBRARY",
    }
    return entry


def _not_read_annotations(inventory: Inventory, created: str) -> list[dict[str, Any]]:
    return [
        {
            "annotationDate": created,
            "annotationType": "OTHER",
            "annotator": f"Tool: shipflow-{__version__}",
            "comment": NOT_READ_PREFIX
            + json.dumps(
                {
                    "path": item.location.path,
                    "layer": item.location.layer,
                    "cataloger": item.cataloger,
                    "reason": item.reason,
                },
                ensure_ascii=False,
            ),
        }
        for item in inventory.sorted_not_read()
    ]


def render_spdx(
    inventory: Inventory, *, now: datetime | None = None, namespace: str | None = None
) -> dict[str, Any]:
    root = _root_package(inventory)
    created = _created(now)
    annotations = _not_read_annotations(inventory, created)
    if annotations:
        root["annotations"] = annotations
    refs: dict[str, LicenseRef] = {}
    ordered = inventory.sorted_packages()
    packages = [_package(p, refs) for p in ordered]
    relationships = [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": root["SPDXID"],
        }
    ]
    relationships += [
        {"spdxElementId": root["SPDXID"], "relationshipType": "CONTAINS", "relatedSpdxElement": p["SPDXID"]}
        for p in packages
    ]
    relationships += [
        {
            "spdxElementId": entry["SPDXID"],
            "relationshipType": "DEV_DEPENDENCY_OF",
            "relatedSpdxElement": root["SPDXID"],
        }
        for package, entry in zip(ordered, packages, strict=True)
        if package.dev
    ]
    document: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": root["name"],
        "documentNamespace": namespace
        or f"{NAMESPACE_BASE}/{_ID_UNSAFE.sub('-', root['name'])}-{uuid.uuid4()}",
        "creationInfo": {"created": created, "creators": [f"Tool: shipflow-{__version__}"]},
        "packages": [root, *packages],
        "relationships": relationships,
    }
    if refs:
        document["hasExtractedLicensingInfos"] = [
            {"licenseId": ref.id, "extractedText": ref.text, "name": ref.text}
            for ref in sorted(refs.values(), key=lambda r: r.id)
        ]
    return document


def spdx_json(inventory: Inventory, *, now: datetime | None = None, namespace: str | None = None) -> str:
    return dumps_indented(render_spdx(inventory, now=now, namespace=namespace), ensure_ascii=False) + "\n"
