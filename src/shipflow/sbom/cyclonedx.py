"""CycloneDX 1.6 JSON for an Inventory.

Written as plain JSON: cyclonedx-python-lib's model sorts and cross-checks dependencies with
linear searches, which took seconds for an image of a few hundred packages and grows
quadratically. The document here is flat (one root containing every package), so writing it
directly is simple; licence ids are checked with the library's own SPDX list (the one its
schema enumerates), and the tests validate every document with its strict JSON validator.
Deterministic apart from ``serialNumber`` and ``metadata.timestamp``.

Dev dependencies have ``scope: excluded`` (CycloneDX: "not included in the runtime
environment"). Files that were recognised but not read are ``metadata.properties``
``shipflow:not-read:N:path`` / ``:layer`` / ``:cataloger`` / ``:reason``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from cyclonedx.spdx import fixup_id

from shipflow import __version__
from shipflow.sbom._licenses import spdx_expression
from shipflow.sbom.jsontext import dumps_indented
from shipflow.sbom.model import Inventory, Package
from shipflow.timeutil import utc_timestamp

SCHEMA = "http://cyclonedx.org/schema/bom-1.6.schema.json"
PROPERTY_PREFIX = "shipflow"


def _licenses(package: Package) -> list[dict[str, Any]]:
    """One SPDX expression when every licence string is valid SPDX; otherwise one entry per
    string (SPDX id where it is one, else the name as written). CycloneDX forbids mixing an
    expression with other entries."""
    texts = [t.strip() for t in package.licenses if t.strip()]
    if not texts:
        return []
    expressions = [spdx_expression(t) for t in texts]
    ids = [fixup_id(e) if e and " " not in e else None for e in expressions]
    if len(texts) == 1 and ids[0]:
        return [{"license": {"id": ids[0]}}]
    if all(expressions) and any(" " in (e or "") for e in expressions):
        joined = " AND ".join(f"({e})" if " " in (e or "") else str(e) for e in expressions)
        return [{"expression": joined}]
    return [
        {"license": {"id": spdx_id}} if spdx_id else {"license": {"name": text}}
        for text, spdx_id in zip(texts, ids, strict=True)
    ]


def _properties(package: Package) -> list[dict[str, str]]:
    props: list[tuple[str, str]] = [(f"{PROPERTY_PREFIX}:package:type", package.type)]
    for number, location in enumerate(package.locations):
        props.append((f"{PROPERTY_PREFIX}:location:{number}:path", location.path))
        if location.layer:
            props.append((f"{PROPERTY_PREFIX}:location:{number}:layer", location.layer))
    if package.source_name:
        props.append((f"{PROPERTY_PREFIX}:package:source-name", package.source_name))
    if package.source_version:
        props.append((f"{PROPERTY_PREFIX}:package:source-version", package.source_version))
    if package.dev:
        props.append((f"{PROPERTY_PREFIX}:package:dev", "true"))
    return [{"name": name, "value": value} for name, value in props]


def _not_read_properties(inventory: Inventory) -> list[dict[str, str]]:
    props: list[dict[str, str]] = []
    for number, item in enumerate(inventory.sorted_not_read()):
        prefix = f"{PROPERTY_PREFIX}:not-read:{number}"
        props.append({"name": f"{prefix}:path", "value": item.location.path})
        if item.location.layer:
            props.append({"name": f"{prefix}:layer", "value": item.location.layer})
        props.append({"name": f"{prefix}:cataloger", "value": item.cataloger})
        props.append({"name": f"{prefix}:reason", "value": item.reason})
    return props


def _component(package: Package) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": package.purl,
        "name": package.name,
        "version": package.version,
        "purl": package.purl,
    }
    if package.dev:
        component["scope"] = "excluded"
    licenses = _licenses(package)
    if licenses:
        component["licenses"] = licenses
    component["properties"] = _properties(package)
    return component


def _root(inventory: Inventory) -> dict[str, Any]:
    if inventory.subject_digest:
        algorithm, _, hex_value = inventory.subject_digest.partition(":")
        return {
            "type": "container",
            "bom-ref": inventory.subject,
            "name": inventory.subject.partition("@")[0],
            "version": inventory.subject_digest,
            "hashes": [{"alg": algorithm.upper().replace("SHA", "SHA-"), "content": hex_value}],
        }
    return {"type": "application", "bom-ref": f"directory:{inventory.subject}", "name": inventory.subject}


def render_cyclonedx(
    inventory: Inventory, *, now: datetime | None = None, serial: uuid.UUID | None = None
) -> dict[str, Any]:
    root = _root(inventory)
    components: list[dict[str, Any]] = []
    if inventory.distro:
        distro = inventory.distro
        os_component: dict[str, Any] = {
            "type": "operating-system",
            "bom-ref": f"os:{distro.id}@{distro.version_id}",
            "name": distro.id,
            "version": distro.version_id,
        }
        if distro.pretty_name:
            os_component["description"] = distro.pretty_name
        components.append(os_component)
    components += [_component(p) for p in inventory.sorted_packages()]
    timestamp = utc_timestamp(now)
    metadata: dict[str, Any] = {
        "timestamp": timestamp,
        "tools": {"components": [{"type": "application", "name": "shipflow", "version": __version__}]},
        "component": root,
    }
    not_read = _not_read_properties(inventory)
    if not_read:
        metadata["properties"] = not_read
    return {
        "$schema": SCHEMA,
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": (serial or uuid.uuid4()).urn,
        "version": 1,
        "metadata": metadata,
        "components": components,
        # The root contains every package. Packages get no entries of their own: their
        # dependencies are not cataloged, and an empty entry would claim "none".
        "dependencies": [{"ref": root["bom-ref"], "dependsOn": [c["bom-ref"] for c in components]}],
    }


def cyclonedx_json(
    inventory: Inventory, *, now: datetime | None = None, serial: uuid.UUID | None = None
) -> str:
    document = render_cyclonedx(inventory, now=now, serial=serial)
    return dumps_indented(document, ensure_ascii=False) + "\n"
