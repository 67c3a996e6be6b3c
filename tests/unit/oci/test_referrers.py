"""The OCI referrers tag-scheme fallback index (shared by layouts and registries without the API)."""

from __future__ import annotations

import json

from shipflow.oci import mediatypes as mt
from shipflow.oci._referrers import (
    empty_index,
    fallback_tag,
    list_referrers,
    merge_referrer,
    referrer_descriptor,
    remove_referrer,
    subject_of,
)
from shipflow.oci.digest import Digest
from shipflow.oci.models import ManifestBytes
from shipflow.oci.reference import validate_tag

SUBJECT = Digest.of(b"the image manifest")
EMPTY = {"mediaType": mt.OCI_EMPTY, "digest": str(Digest.of(b"{}")), "size": 2}


def referrer(artifact_type: str | None, note: str, *, config_type: str = mt.OCI_EMPTY) -> ManifestBytes:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {**EMPTY, "mediaType": config_type},
        "layers": [],
        "subject": {"mediaType": mt.OCI_MANIFEST, "digest": str(SUBJECT), "size": 18},
        "annotations": {"note": note},
    }
    if artifact_type:
        doc["artifactType"] = artifact_type
    return ManifestBytes.create(json.dumps(doc).encode())


def test_fallback_tag_follows_the_spec() -> None:
    assert fallback_tag(SUBJECT) == f"sha256-{SUBJECT.hex}"
    # distribution-spec: <alg>-<ref>, <ref> limited to 64 characters
    long = Digest.of(b"x", "sha512")
    assert fallback_tag(long) == f"sha512-{long.hex[:64]}"
    assert validate_tag(fallback_tag(long))


def test_referrer_descriptor_carries_artifact_type_and_annotations() -> None:
    sbom = referrer("application/spdx+json", "sbom")
    descriptor = referrer_descriptor(sbom)
    assert (descriptor.digest, descriptor.size, descriptor.media_type) == (
        sbom.digest,
        sbom.size,
        mt.OCI_MANIFEST,
    )
    assert descriptor.artifact_type == "application/spdx+json"
    assert descriptor.annotations == {"note": "sbom"}
    # without artifactType the config media type stands in (as the spec says for the API)
    legacy = referrer(None, "sig", config_type="application/vnd.example.sig")
    assert referrer_descriptor(legacy).artifact_type == "application/vnd.example.sig"
    assert subject_of(sbom) == SUBJECT


def test_merge_lists_each_referrer_once_and_filters() -> None:
    sbom, sig = referrer("application/spdx+json", "sbom"), referrer("application/example.sig", "sig")
    first = merge_referrer(None, referrer_descriptor(sbom))
    assert first is not None and first.media_type == mt.OCI_INDEX
    both = merge_referrer(first, referrer_descriptor(sig))
    assert both is not None
    assert merge_referrer(both, referrer_descriptor(sbom)) is None  # already listed: no write
    assert [d.digest for d in list_referrers(both)] == [sbom.digest, sig.digest]
    assert [d.digest for d in list_referrers(both, "application/spdx+json")] == [sbom.digest]
    assert list_referrers(both, "application/none") == []
    doc = json.loads(both.data)
    assert doc["schemaVersion"] == 2 and doc["mediaType"] == mt.OCI_INDEX
    assert doc["manifests"][0]["artifactType"] == "application/spdx+json"


def test_remove_referrer() -> None:
    sbom, sig = referrer("application/spdx+json", "sbom"), referrer("application/example.sig", "sig")
    both = merge_referrer(merge_referrer(None, referrer_descriptor(sbom)), referrer_descriptor(sig))
    assert both is not None
    without = remove_referrer(both, sbom.digest)
    assert without is not None
    assert [d.digest for d in list_referrers(without)] == [sig.digest]
    assert remove_referrer(without, sbom.digest) is None
    assert list_referrers(empty_index()) == []
