"""The OCI 1.1 referrers *tag scheme* fallback, shared by every store without a referrers API.

distribution-spec 1.1: where a registry has no ``/v2/<name>/referrers/<digest>`` endpoint, a
client that pushes a manifest with a ``subject`` keeps an image index under the tag
``<alg>-<hex>`` (the subject digest with ``:`` replaced by ``-``), listing a descriptor of
every referrer with its ``artifactType`` and ``annotations``. Readers list that index.
This index is ours: we create and serialise it (nothing foreign is re-serialised).
"""

from __future__ import annotations

import json

from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.models import Descriptor, ManifestBytes

# distribution-spec 1.1 "Referrers Tag Schema": <alg>-<ref>, <ref> limited to 64 characters.
_MAX_REF = 64


def fallback_tag(subject: Digest) -> str:
    """The tag holding the referrers index for ``subject`` (``sha256-<hex>``; a sha512 hex is
    cut to its first 64 characters, as the spec says)."""
    return f"{subject.algorithm}-{subject.hex[:_MAX_REF]}"


def referrer_descriptor(manifest: ManifestBytes) -> Descriptor:
    """Descriptor of a referrer as listed in a referrers index: artifactType + annotations."""
    doc = json.loads(manifest.data)
    artifact_type = doc.get("artifactType")
    if not artifact_type and not manifest.is_index:
        artifact_type = (doc.get("config") or {}).get("mediaType")
    annotations = doc.get("annotations") or None
    return Descriptor(
        media_type=manifest.media_type,
        digest=manifest.digest,
        size=manifest.size,
        artifact_type=artifact_type,
        annotations=annotations,
    )


def subject_of(manifest: ManifestBytes) -> Digest | None:
    """The ``subject`` digest a manifest refers to, if any."""
    subject = json.loads(manifest.data).get("subject")
    if not isinstance(subject, dict) or "digest" not in subject:
        return None
    return Digest.parse(str(subject["digest"]))


def _index_bytes(descriptors: list[Descriptor]) -> ManifestBytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [json.loads(d.to_json_bytes()) for d in descriptors],
    }
    return ManifestBytes.create(json.dumps(doc, separators=(",", ":")).encode(), mt.OCI_INDEX)


def empty_index() -> ManifestBytes:
    return _index_bytes([])


def merge_referrer(existing: ManifestBytes | None, referrer: Descriptor) -> ManifestBytes | None:
    """The fallback index with ``referrer`` added; None if it is already listed (no write needed)."""
    current = list_referrers(existing) if existing is not None else []
    if any(d.digest == referrer.digest for d in current):
        return None
    return _index_bytes([*current, referrer])


def remove_referrer(existing: ManifestBytes, digest: Digest) -> ManifestBytes | None:
    """The fallback index without ``digest``; None if it was not listed."""
    current = list_referrers(existing)
    kept = [d for d in current if d.digest != digest]
    if len(kept) == len(current):
        return None
    return _index_bytes(kept)


def list_referrers(index: ManifestBytes, artifact_type: str | None = None) -> list[Descriptor]:
    """Descriptors in a referrers index (API response or fallback tag), optionally filtered."""
    manifests = index.as_index().manifests
    if artifact_type is None:
        return list(manifests)
    return [d for d in manifests if d.artifact_type == artifact_type]
