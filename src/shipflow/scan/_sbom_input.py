"""Read an SBOM file (SPDX 2.x JSON or CycloneDX JSON) back into an Inventory for scanning.

Packages are taken from their purls (SPDX ``externalRefs`` of type ``purl``; CycloneDX
``components[].purl``, nested components included). OS packages carry their release in the
``distro`` qualifier (``debian-12``, ``alpine-3.19.1``) and their source package in
``upstream`` (``glibc`` or ``glibc@2.36-9``; for rpm also syft's ``bash-5.1.8-6.el9.src.rpm``),
the conventions shipflow, syft and Trivy write; an rpm's ``epoch`` qualifier goes back into
its version. Package types shipflow cannot match (nuget, hex…) are skipped and counted.

The files a shipflow SBOM says were not read (SPDX annotations of the root package,
CycloneDX ``metadata.properties``) come back as the inventory's ``not_read``, so a scan of
the SBOM reports them as a scan of the image would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

from packageurl import PackageURL

from shipflow.errors import ConfigError
from shipflow.fsutil import read_capped
from shipflow.sbom.catalogers.rpmheader import split_source_rpm
from shipflow.sbom.model import (
    OS_PACKAGE_TYPES,
    PACKAGE_TYPES,
    Distro,
    Inventory,
    Location,
    NotRead,
    Package,
    PackageType,
)
from shipflow.signing.jsondoc import parse_json

_TYPES: dict[str, PackageType] = {kind: kind for kind in PACKAGE_TYPES}
# How a purl's namespace joins its name in the name OSV uses.
_NAMESPACE_SEPARATOR = {"npm": "/", "golang": "/", "composer": "/", "maven": ":"}
_NOT_READ_PREFIX = "shipflow:not-read "
_DIGEST_PREFIXES = ("sha256:", "sha512:")
# syft's SPDX of a large image with file entries is tens of MB; this leaves room.
MAX_SBOM_BYTES = 512 * 1024 * 1024


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
    separator = _NAMESPACE_SEPARATOR.get(kind)
    if separator and purl.namespace:
        name = f"{purl.namespace}{separator}{purl.name}"
    version = unquote(purl.version)
    epoch = qualifiers.get("epoch", "") if kind == "rpm" else ""
    if epoch.isdigit() and int(epoch):
        version = f"{int(epoch)}:{version}"
    source_name = source_version = None
    upstream = qualifiers.get("upstream")
    if upstream:
        source_name, source_version = _upstream(kind, unquote(upstream), epoch)
    return Package(
        name=name,
        version=version,
        type=kind,
        purl=purl_text,
        source_name=source_name,
        source_version=source_version,
        locations=(Location(path=location),),
        distro=_distro(qualifiers.get("distro")) if kind in OS_PACKAGE_TYPES else None,
    )


def _upstream(kind: str, upstream: str, epoch: str) -> tuple[str, str | None]:
    """``glibc``, ``glibc@2.36-9``, or (rpm, as syft writes it) ``bash-5.1.8-6.el9.src.rpm``."""
    split = split_source_rpm(upstream) if kind == "rpm" else None
    if split is not None:
        name, version = split
    else:
        name, _, version = upstream.partition("@")
    if version and epoch.isdigit() and int(epoch) and ":" not in version:
        version = f"{int(epoch)}:{version}"
    return name, version or None


def _not_read_item(data: Mapping[str, Any]) -> NotRead | None:
    path, reason = data.get("path"), data.get("reason")
    if not isinstance(path, str) or not isinstance(reason, str) or not path or not reason:
        return None
    layer = data.get("layer")
    cataloger = data.get("cataloger")
    return NotRead(
        location=Location(path=path, layer=layer if isinstance(layer, str) and layer else None),
        cataloger=cataloger if isinstance(cataloger, str) and cataloger else "unknown",
        reason=reason,
    )


def _spdx_not_read(annotations: Any) -> list[NotRead]:
    found: list[NotRead] = []
    for annotation in annotations or ():
        comment = annotation.get("comment") if isinstance(annotation, Mapping) else None
        if not isinstance(comment, str) or not comment.startswith(_NOT_READ_PREFIX):
            continue
        try:
            data = json.loads(comment[len(_NOT_READ_PREFIX) :])
        except (ValueError, RecursionError):
            continue
        item = _not_read_item(data) if isinstance(data, Mapping) else None
        if item is not None:
            found.append(item)
    return found


def _cyclonedx_not_read(properties: Any) -> list[NotRead]:
    grouped: dict[str, dict[str, str]] = {}
    for prop in properties or ():
        if not isinstance(prop, Mapping):
            continue
        name, value = prop.get("name"), prop.get("value")
        if (
            not isinstance(name, str)
            or not isinstance(value, str)
            or not name.startswith("shipflow:not-read:")
        ):
            continue
        number, _, field_name = name[len("shipflow:not-read:") :].partition(":")
        grouped.setdefault(number, {})[field_name] = value
    items = (_not_read_item(fields) for _, fields in sorted(grouped.items()))
    return [item for item in items if item is not None]


def _spdx(document: Mapping[str, Any], origin: str) -> tuple[Inventory, int]:
    subject, digest = str(document.get("name") or Path(origin).name), None
    packages: list[Package] = []
    not_read: list[NotRead] = []
    skipped = 0
    for raw in document.get("packages") or ():
        if not isinstance(raw, Mapping):
            continue
        version = str(raw.get("versionInfo") or "")
        if raw.get("primaryPackagePurpose") in ("CONTAINER", "SOURCE"):
            not_read.extend(_spdx_not_read(raw.get("annotations")))
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
    inventory = Inventory(subject=subject, subject_digest=digest, packages=packages, not_read=not_read)
    return inventory, skipped


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
        if component.get("scope") == "excluded":
            found = replace(found, dev=True)
        packages.append(found)
    not_read = _cyclonedx_not_read(metadata.get("properties") if isinstance(metadata, Mapping) else None)
    inventory = Inventory(subject=subject, subject_digest=digest, packages=packages, not_read=not_read)
    return inventory, skipped


def read_sbom(path: Path) -> SbomReadResult:
    document = parse_json(
        read_capped(path, MAX_SBOM_BYTES, what="SBOM"),
        what=f"SBOM {path}",
        error=ConfigError,
        hint="pass an SPDX or CycloneDX JSON document",
    )
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
