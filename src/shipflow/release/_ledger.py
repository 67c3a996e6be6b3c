"""The ledger: pipeline facts (history entries, promotion records, approvals) kept in the store.

The registry is the database. Each fact is a small OCI artifact — an image manifest with an
empty config and one layer holding the fact's bytes — stored under a tag of its own:

    sf.<kind>.<digest hex, 16>.<environment>.<UTC time to the microsecond>.<random>
    sf.hist.3f2a9c0e41b7d5a2.staging.20261201T101502123456Z.8c1f0a

Why a tag per fact: a registry offers no compare-and-swap on tags, so any design that moves one
"head" tag loses an update when two writers race. Tags that are never reused cannot be
overwritten: two promotions racing on one environment both leave their entry. The tag name
carries what listing needs (kind, image, environment, time), so ``history``, ``status`` and
``where`` read one tag list and then only the manifests they show; the manifest's annotations
repeat the summary and the layer holds the full fact (for records and approvals, a signed
DSSE envelope). Any registry UI shows them, and ``shipflow copy --with-attachments``-style
tools carry them as ordinary tags.

Writes keep the house order: blobs, then the manifest under its new tag, then nothing else —
a fact is either listed whole or not at all.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from shipflow.errors import BlobNotFound, ManifestError, ManifestNotFound
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.models import ManifestBytes
from shipflow.oci.store import Store
from shipflow.timeutil import utc_now

__all__ = ["ARTIFACT_TYPE", "Fact", "FactRef", "list_facts", "read_fact", "write_fact"]

ARTIFACT_TYPE = "application/vnd.shipflow.fact.v1"
FACT_MEDIA_TYPES = {
    "hist": "application/vnd.shipflow.history.v1+json",
    "rec": mt.DSSE_ENVELOPE,
    "appr": mt.DSSE_ENVELOPE,
}
ANNOTATION_PREFIX = "dev.shipflow."
_TAG = re.compile(
    r"^sf\.(?P<kind>hist|rec|appr)\.(?P<hex>[0-9a-f]{16})\.(?P<env>[a-z][a-z0-9-]{0,31})"
    r"\.(?P<time>\d{8}T\d{12}Z)\.(?P<rand>[0-9a-f]{6})$"
)
_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"
_EMPTY_CONFIG = b"{}"
MAX_FACT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, order=True)
class FactRef:
    """What a fact's tag says about it (enough to sort and filter without reading it)."""

    time: str  # first: refs sort chronologically
    kind: str
    digest_hex: str
    environment: str
    tag: str

    def names(self, digest: Digest) -> bool:
        return digest.hex.startswith(self.digest_hex)

    @property
    def moment(self) -> datetime:
        from datetime import UTC

        return datetime.strptime(self.time, _TIME_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Fact:
    ref: FactRef
    manifest_digest: Digest
    annotations: Mapping[str, str]
    payload: bytes


def parse_fact_tag(tag: str) -> FactRef | None:
    match = _TAG.match(tag)
    if match is None:
        return None
    return FactRef(match["time"], match["kind"], match["hex"], match["env"], tag)


def new_fact_tag(kind: str, digest: Digest, environment: str, moment: datetime | None = None) -> str:
    stamp = (moment or utc_now()).strftime(_TIME_FORMAT)
    return f"sf.{kind}.{digest.hex[:16]}.{environment}.{stamp}.{secrets.token_hex(3)}"


def write_fact(
    store: Store,
    kind: str,
    digest: Digest,
    environment: str,
    payload: bytes,
    *,
    annotations: Mapping[str, str] | None = None,
    moment: datetime | None = None,
    tag: str | None = None,
) -> FactRef:
    """Store one fact about ``digest`` in ``environment`` under a new, never reused tag (or
    under ``tag``, made beforehand with :func:`new_fact_tag` so another fact can name it)."""
    if len(payload) > MAX_FACT_BYTES:
        raise ManifestError(f"a {kind} fact of {len(payload)} bytes is over the {MAX_FACT_BYTES} byte limit")
    media_type = FACT_MEDIA_TYPES[kind]
    if tag is None:
        tag = new_fact_tag(kind, digest, environment, moment)
    elif (parsed := parse_fact_tag(tag)) is None or parsed.kind != kind:
        raise ManifestError(f"{tag!r} is not a {kind} fact tag")
    config_digest = Digest.of(_EMPTY_CONFIG)
    payload_digest = Digest.of(payload)
    store.put_blob(config_digest, len(_EMPTY_CONFIG), [_EMPTY_CONFIG])
    store.put_blob(payload_digest, len(payload), [payload])
    notes = {f"{ANNOTATION_PREFIX}{k}": v for k, v in (annotations or {}).items()}
    notes[f"{ANNOTATION_PREFIX}kind"] = kind
    notes[f"{ANNOTATION_PREFIX}subject"] = str(digest)
    notes[f"{ANNOTATION_PREFIX}environment"] = environment
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": mt.OCI_EMPTY, "digest": str(config_digest), "size": len(_EMPTY_CONFIG)},
        "layers": [{"mediaType": media_type, "digest": str(payload_digest), "size": len(payload)}],
        "annotations": dict(sorted(notes.items())),
    }
    data = json.dumps(manifest, separators=(",", ":")).encode()
    store.put_manifest(ManifestBytes.create(data, mt.OCI_MANIFEST), tag=tag)
    ref = parse_fact_tag(tag)
    assert ref is not None
    return ref


def list_facts(
    store: Store,
    *,
    kind: str | None = None,
    environment: str | None = None,
    digest: Digest | None = None,
    tags: Iterable[str] | None = None,
) -> list[FactRef]:
    """The facts whose tags match, newest first. ``tags`` reuses a tag list already read."""
    found: list[FactRef] = []
    for tag in store.list_tags() if tags is None else tags:
        ref = parse_fact_tag(tag)
        if ref is None:
            continue
        if kind is not None and ref.kind != kind:
            continue
        if environment is not None and ref.environment != environment:
            continue
        if digest is not None and not ref.names(digest):
            continue
        found.append(ref)
    found.sort(reverse=True)
    return found


def read_fact(store: Store, ref: FactRef) -> Fact:
    """The fact behind ``ref``: its manifest's annotations and its payload (digest-verified).

    A fact whose manifest or payload is malformed or missing raises ManifestError (the caller
    reports it and goes on; one bad fact must not hide the others).
    """
    try:
        manifest = store.get_manifest(ref.tag)
    except ManifestNotFound as exc:
        raise ManifestError(f"fact {ref.tag} vanished while it was read") from exc
    try:
        doc = json.loads(manifest.data)
        layers = doc["layers"]
        if not isinstance(layers, list) or len(layers) != 1:
            raise ValueError("a fact has exactly one layer")
        layer = layers[0]
        size = int(layer["size"])
        layer_digest = Digest.parse(str(layer["digest"]))
        raw_annotations = doc.get("annotations") or {}
        if not isinstance(raw_annotations, dict):
            raise ValueError("annotations must be an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"fact {ref.tag} is malformed: {exc}") from exc
    if size > MAX_FACT_BYTES:
        raise ManifestError(f"fact {ref.tag} has a {size} byte payload, over the {MAX_FACT_BYTES} byte limit")
    payload = _read_blob(store, layer_digest, size, ref.tag)
    annotations = {
        k[len(ANNOTATION_PREFIX) :]: str(v)
        for k, v in raw_annotations.items()
        if isinstance(k, str) and k.startswith(ANNOTATION_PREFIX)
    }
    return Fact(ref, manifest.digest, annotations, payload)


def _read_blob(store: Store, digest: Digest, size: int, tag: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        with store.open_blob(digest) as stream:
            for chunk in stream:
                total += len(chunk)
                if total > size:
                    raise ManifestError(f"fact {tag}: payload longer than its descriptor says")
                chunks.append(chunk)
    except BlobNotFound as exc:
        raise ManifestError(f"fact {tag}: its payload blob {digest} is missing") from exc
    return b"".join(chunks)
