"""Helpers shared by the OCI copy tests (tests/test_copy_integration.py, tests/test_cli_oci.py)."""

from __future__ import annotations

import json

from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.models import ManifestBytes
from shipflow.oci.store import Store


def put_artifact(
    store: Store, payload: bytes, *, artifact_type: str, subject: ManifestBytes | None = None
) -> ManifestBytes:
    """Store a one-layer OCI artifact manifest's blobs (the shape of a cosign signature or an
    attached SBOM) and return the manifest, not yet written; ``subject`` makes it a referrer."""
    empty = b"{}"
    store.put_blob(Digest.of(empty), len(empty), [empty])
    store.put_blob(Digest.of(payload), len(payload), [payload])
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": mt.OCI_EMPTY, "digest": str(Digest.of(empty)), "size": len(empty)},
        "layers": [{"mediaType": artifact_type, "digest": str(Digest.of(payload)), "size": len(payload)}],
    }
    if subject is not None:
        doc["subject"] = {
            "mediaType": subject.media_type,
            "digest": str(subject.digest),
            "size": subject.size,
        }
    return ManifestBytes.create(json.dumps(doc, separators=(",", ":")).encode(), mt.OCI_MANIFEST)
