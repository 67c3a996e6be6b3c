"""Read an SBOM file (SPDX 2.x JSON or CycloneDX JSON) back into an Inventory for scanning.

Packages are taken from their purls (SPDX ``externalRefs`` of type ``purl``; CycloneDX
``components[].purl``, nested components included). OS packages carry their release in the
``distro`` qualifier (``debian-12``, ``alpine-3.19.1``) and their source package in
``upstream`` (``glibc`` or ``glibc@2.36-9``), the conventions shipflow, syft and Trivy write.
Package types shipflow cannot match (maven, cargo…) are skipped and counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

from packageurl import PackageURL

from shipflow.errors import ConfigError
from shipflow.sbom.model import Distro, Inventory, Location, Package, PackageType

_TYPES: dict[str, PackageType] = {
    "apk": "apk",
    "deb": "deb",
    "npm": "npm",
    "pypi": "pypi",
    "golang": "golang",
}
_DIGEST_PREFIXES = ("sha256:", "sha512:")


@dataclass(frozen=True, slots=True)
class SbomReadResult:
    inventory: Inventory
    format: str  # "spdx" or "cyclonedx"
    skipped: int  # packages without a purl shipflow can match


def _distro(qualifier: str | None) -> Distro | None:
    if not qualifier:
        return None
    text = unquote(qualifier)
    ident, sep, version = text.partition("-")
    if not sep or not version:
        return None
    return Distro(id=ident.lower(), version_id=version)


def package_from_purl(purl_text: str, location: str) -> Package | None:
    """A Package for a purl, or None when its type is not one shipflow matches."""
    try:
        purl = PackageURL.from_string(purl_text)
    except ValueError:
        return None
    kind = _TYPES.get(purl.type)
    if kind is None or not purl.version:
        return None
    qualifiers = cast(dict[str, str], purl.qualifiers or {})
    name = purl.name
    if kind in ("npm", "golang") and purl.namespace:
        name = f"{purl.namespace}/{purl.name}"
    source_name = source_version = None
    upstream = qualifiers.get("upstream")
    if upstream:
        source_name, _, version_part = unquote(upstream).partition("@")
        source_version = version_part or None
    return Package(
        name=name,
        version=unquote(purl.version),
        type=kind,
        purl=purl_text,
        source_name=source_name,
        source_version=source_version,
        locations=(Location(path=location),),
        distro=_distro(qualifiers.get("distro")) if kind in ("apk", "deb") else None,
    )


def _spdx(document: Mapping[str, Any], origin: str) -> tuple[Inventory, int]:
    subject, digest = str(document.get("name") or Path(origin).name), None
    packages: list[Package] = []
    skipped = 0
    for raw in document.get("packages") or ():
        if not isinstance(raw, Mapping):
            continue
        version = str(raw.get("versionInfo") or "")
        if raw.get("primaryPackagePurpose") == "CONTAINER" and version.startswith(_DIGEST_PREFIXES):
            subject, digest = f"{raw.get('name')}@{version}", version
            continue
        purls = [
            ref.get("referenceLocator")
            for ref in raw.get("externalRefs") or ()
            if isinstance(ref, Mapping) and ref.get("referenceType") == "purl"
        ]
        found = next(
            (p for p in (package_from_purl(str(x), origin) for x in purls if isinstance(x, str)) if p),
            None,
        )
        if found is None:
            skipped += 1 if purls else 0
            continue
        packages.append(found)
    return Inventory(subject=subject, subject_digest=digest, packages=packages), skipped


def _components(items: Any) -> Iterator[Mapping[str, Any]]:
    for item in items or ():
        if isinstance(item, Mapping):
            yield item
            yield from _components(item.get("components"))


def _cyclonedx(document: Mapping[str, Any], origin: str) -> tuple[Inventory, int]:
    metadata = document.get("metadata") or {}
    root = metadata.get("component") if isinstance(metadata, Mapping) else None
    subject, digest = Path(origin).name, None
    if isinstance(root, Mapping):
        version = str(root.get("version") or "")
        subject = str(root.get("name") or Path(origin).name)
        if version.startswith(_DIGEST_PREFIXES):
            subject, digest = f"{subject}@{version}", version
    packages: list[Package] = []
    skipped = 0
    for component in _components(document.get("components")):
        purl = component.get("purl")
        if not isinstance(purl, str):
            continue
        found = package_from_purl(purl, origin)
        if found is None:
            skipped += 1
            continue
        packages.append(found)
    return Inventory(subject=subject, subject_digest=digest, packages=packages), skipped


def read_sbom(path: Path) -> SbomReadResult:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(
            f"cannot read SBOM {path}: {exc}", hint="pass an SPDX or CycloneDX JSON document"
        ) from exc
    return read_sbom_document(document, str(path))


def read_sbom_document(document: Any, origin: str) -> SbomReadResult:
    """The inventory of an already parsed SPDX or CycloneDX JSON document (e.g. the predicate
    of a verified SBOM attestation); ``origin`` names it in locations and messages."""
    if isinstance(document, Mapping) and str(document.get("spdxVersion", "")).startswith("SPDX-"):
        inventory, skipped = _spdx(document, origin)
        fmt = "spdx"
    elif isinstance(document, Mapping) and document.get("bomFormat") == "CycloneDX":
        inventory, skipped = _cyclonedx(document, origin)
        fmt = "cyclonedx"
    else:
        raise ConfigError(
            f"{origin} is neither SPDX JSON nor CycloneDX JSON",
            hint="pass an SBOM written by `shipflow sbom`, syft or Trivy",
        )
    # One distro for the whole inventory when the OS packages agree on it.
    distros = {p.distro for p in inventory.packages if p.distro is not None}
    if len(distros) == 1:
        inventory.distro = distros.pop()
    return SbomReadResult(inventory, fmt, skipped)
