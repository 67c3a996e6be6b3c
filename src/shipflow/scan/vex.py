"""OpenVEX documents: ``not_affected`` statements suppress findings, with their justification.

A statement applies to a finding when its vulnerability (``name``, ``@id`` or ``aliases``)
is the finding's advisory id or one of its aliases, and one of its products is the finding's
package (by purl, version only if the product names one) — directly, as a subcomponent, or as
the whole scanned image (a product naming the subject digest with no subcomponents). When
several statements apply, the latest (by ``timestamp``, else document order) decides: a later
``affected`` or ``under_investigation`` takes a suppression back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipflow.errors import ConfigError
from shipflow.fsutil import read_capped
from shipflow.scan._purls import purl_matches
from shipflow.scan.model import Finding, Suppression
from shipflow.signing.jsondoc import parse_json

_STATUSES = {"not_affected", "affected", "fixed", "under_investigation"}
# A VEX document with thousands of statements is a few MB.
MAX_VEX_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class VexStatement:
    vulnerabilities: frozenset[str]
    products: tuple[str, ...]
    subcomponents: tuple[str, ...]
    status: str
    justification: str | None
    impact_statement: str | None
    timestamp: str
    order: int
    source: str

    def names_package(self, finding: Finding, subject_ids: frozenset[str]) -> bool:
        purl = finding.package.purl
        if any(purl_matches(p, purl) for p in self.subcomponents):
            # Subcomponents narrow an image product: the image must be this subject.
            return not self.products or any(_is_subject(p, subject_ids) for p in self.products)
        if any(p.startswith("pkg:") and not _is_oci(p) and purl_matches(p, purl) for p in self.products):
            return True
        return not self.subcomponents and any(_is_subject(p, subject_ids) for p in self.products)


def _is_oci(product: str) -> bool:
    return product.startswith("pkg:oci/")


def _is_subject(product: str, subject_ids: frozenset[str]) -> bool:
    if product in subject_ids:
        return True
    # pkg:oci/app@sha256%3Aabc… names an image by digest.
    if _is_oci(product) and "@" in product:
        version = product.split("@", 1)[1].split("?", 1)[0].replace("%3A", ":").replace("%3a", ":")
        return version in subject_ids
    return False


def _ids(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        out = [v for k in ("name", "@id") if isinstance(v := value.get(k), str)]
        out += [a for a in value.get("aliases") or () if isinstance(a, str)]
        return out
    return []


def _products(value: Any) -> tuple[list[str], list[str]]:
    products: list[str] = []
    subcomponents: list[str] = []
    for item in value or ():
        if isinstance(item, str):
            products.append(item)
        elif isinstance(item, Mapping):
            if isinstance(item.get("@id"), str):
                products.append(item["@id"])
            identifiers = item.get("identifiers")
            if isinstance(identifiers, Mapping) and isinstance(identifiers.get("purl"), str):
                products.append(identifiers["purl"])
            for sub in item.get("subcomponents") or ():
                if isinstance(sub, str):
                    subcomponents.append(sub)
                elif isinstance(sub, Mapping) and isinstance(sub.get("@id"), str):
                    subcomponents.append(sub["@id"])
    return products, subcomponents


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def load_openvex(path: Path) -> list[VexStatement]:
    document = parse_json(
        read_capped(path, MAX_VEX_BYTES, what="VEX document"),
        what=f"VEX document {path}",
        error=ConfigError,
        hint="pass an OpenVEX JSON document (https://openvex.dev)",
    )
    if not isinstance(document, Mapping) or not isinstance(document.get("statements"), list):
        raise ConfigError(f"{path} is not an OpenVEX document (no 'statements' list)")
    doc_timestamp = str(document.get("timestamp") or "")
    statements = []
    for order, raw in enumerate(document["statements"]):
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{path}: statement {order + 1} is not an object")
        status = raw.get("status")
        if not isinstance(status, str) or status not in _STATUSES:
            raise ConfigError(f"{path}: statement {order + 1} has unknown status {str(status)[:40]!r}")
        vulnerabilities = _ids(raw.get("vulnerability"))
        if not vulnerabilities:
            raise ConfigError(f"{path}: statement {order + 1} names no vulnerability")
        products, subcomponents = _products(raw.get("products"))
        more_subs = _products(raw.get("subcomponents"))[0]
        statements.append(
            VexStatement(
                vulnerabilities=frozenset(vulnerabilities),
                products=tuple(products),
                subcomponents=tuple(subcomponents + more_subs),
                status=str(status),
                justification=_text(raw.get("justification")),
                impact_statement=_text(raw.get("impact_statement")),
                timestamp=str(raw.get("timestamp") or doc_timestamp),
                order=order,
                source=str(path),
            )
        )
    return statements


class VexIndex:
    def __init__(self, statements: Iterable[VexStatement]) -> None:
        self.statements = tuple(statements)

    def suppression_for(self, finding: Finding, subject_ids: frozenset[str]) -> Suppression | None:
        applicable = [
            s
            for s in self.statements
            if s.vulnerabilities & finding.ids and s.names_package(finding, subject_ids)
        ]
        if not applicable:
            return None
        latest = max(applicable, key=lambda s: (s.timestamp, s.order))
        if latest.status != "not_affected":
            return None
        reason = latest.justification or "not_affected"
        if latest.impact_statement:
            reason = f"{reason}: {latest.impact_statement}"
        return Suppression("vex", reason, latest.source)
