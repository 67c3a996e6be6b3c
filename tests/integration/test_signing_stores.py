"""sign / verify / attest through the Store protocol, on the real registry AND an OCI layout.

Every refusal of issue 3 point 3 is exercised on both stores: unsigned image, wrong key,
digest mismatch (a signature copied onto another image), tampered payload, malformed base64,
a ``.sig`` layer of another media type; and one valid signature among broken ones verifies.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.registry import Registry
from shipflow.errors import VerificationError
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
from shipflow.oci.models import ManifestBytes
from shipflow.oci.open import open_store
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import RegistryConfig
from shipflow.oci.registry.store import RegistryStore
from shipflow.oci.store import Store
from shipflow.signing import (
    AllOf,
    KeyPolicy,
    SignatureVerificationError,
    attest,
    attestation_tag,
    generate_private_key,
    sign,
    signature_tag,
    trusted_keys,
    verify,
    verify_attestations,
    verify_report,
)
from shipflow.signing.attachments import SIGNATURE_ANNOTATION, build_attachment_manifest
from shipflow.signing.keys import PrivateKey
from shipflow.signing.payload import build_payload
from support.signing import make_image, put_bytes

SPDX = b'{"spdxVersion":"SPDX-2.3","name":"x","packages":[]}'
SPDX_TYPE = "https://spdx.dev/Document"


@pytest.fixture(params=["layout", "registry"])
def store(request: pytest.FixtureRequest, tmp_path: Path, repo_name: str) -> Iterator[Store]:
    if request.param == "layout":
        yield LayoutStore(tmp_path / "store", create=True)
    else:
        registry: Registry = request.getfixturevalue("registry")
        yield open_store(registry.ref(repo_name))


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return generate_private_key()


@pytest.fixture(scope="module")
def other_key() -> PrivateKey:
    return generate_private_key()


def _write_sig_image(store: Store, digest: Digest, layers: list[tuple[str, bytes, dict[str, str]]]) -> None:
    """Write a hand-made .sig image (media type, blob, annotations per layer) for ``digest``."""
    descriptors: list[dict[str, Any]] = []
    for media_type, blob, layer_annotations in layers:
        put_bytes(store, blob)
        descriptors.append(
            {
                "mediaType": media_type,
                "size": len(blob),
                "digest": str(Digest.of(blob)),
                "annotations": layer_annotations,
            }
        )
    config, manifest = build_attachment_manifest(descriptors)
    put_bytes(store, config)
    store.put_manifest(ManifestBytes.create(manifest, mt.OCI_MANIFEST), tag=signature_tag(digest))


def _signed_layer(key: PrivateKey, payload: bytes) -> tuple[str, bytes, dict[str, str]]:
    return (
        mt.COSIGN_SIMPLESIGNING,
        payload,
        {SIGNATURE_ANNOTATION: base64.b64encode(key.sign(payload)).decode()},
    )


def test_sign_then_verify(store: Store, key: PrivateKey) -> None:
    digest = make_image(store, "one", tag="v1")
    result = sign(store, digest, key, reference="example.com/app", annotations={"env": "prod"})
    assert result.added and result.tag == f"sha256-{digest.hex}.sig"
    assert result.payload == build_payload(digest, "example.com/app", {"env": "prod"})
    verified = verify(store, digest, trusted_keys([key.verifier]))
    assert len(verified) == 1
    assert verified[0].payload == result.payload
    assert verified[0].key_ids == (key.verifier.key_id,)
    assert verified[0].annotations == {"env": "prod"}
    verify(
        store, digest, trusted_keys([key.verifier]), annotations={"env": "prod"}, reference="example.com/app"
    )


def test_identical_signature_is_skipped_and_new_keys_append(
    store: Store, key: PrivateKey, other_key: PrivateKey
) -> None:
    digest = make_image(store, "two")
    first = sign(store, digest, key, reference="r/x")
    again = sign(store, digest, key, reference="r/x")
    assert not again.added and again.manifest_digest == first.manifest_digest
    second = sign(store, digest, other_key, reference="r/x")
    assert second.added
    layers = json.loads(store.get_manifest(signature_tag(digest)).data)["layers"]
    assert len(layers) == 2
    # the first layer is kept exactly as it was
    assert json.loads(store.get_manifest(str(first.manifest_digest)).data)["layers"][0] == layers[0]
    both = AllOf([KeyPolicy(key.verifier), KeyPolicy(other_key.verifier)])
    assert {s.key_ids[0] for s in verify(store, digest, both)} == {
        key.verifier.key_id,
        other_key.verifier.key_id,
    }
    third = generate_private_key()
    with pytest.raises(SignatureVerificationError) as info:
        verify(store, digest, AllOf([KeyPolicy(key.verifier), KeyPolicy(third.verifier)]))
    assert info.value.report.unmet and "policy not met" in info.value.message


def test_unsigned_image_is_refused(store: Store, key: PrivateKey) -> None:
    digest = make_image(store, "unsigned")
    with pytest.raises(VerificationError) as info:
        verify(store, digest, trusted_keys([key.verifier]))
    assert info.value.exit_code == 1
    assert "has no signatures" in info.value.message


def test_wrong_key_is_refused(store: Store, key: PrivateKey, other_key: PrivateKey) -> None:
    digest = make_image(store, "wrong-key")
    sign(store, digest, key, reference="r/x")
    with pytest.raises(SignatureVerificationError) as info:
        verify(store, digest, trusted_keys([other_key.verifier]))
    [rejection] = info.value.report.rejected
    assert "does not verify with any trusted key" in rejection.reason


def test_signature_copied_to_another_image_is_refused(store: Store, key: PrivateKey) -> None:
    signed = make_image(store, "original")
    victim = make_image(store, "victim")
    result = sign(store, signed, key, reference="r/x")
    store.tag(result.manifest_digest, signature_tag(victim))  # the attacker copies the .sig image
    with pytest.raises(SignatureVerificationError) as info:
        verify(store, victim, trusted_keys([key.verifier]))
    [rejection] = info.value.report.rejected
    assert f"claims digest {signed}" in rejection.reason


def test_tampered_payload_is_refused(store: Store, key: PrivateKey) -> None:
    digest = make_image(store, "tampered")
    payload = build_payload(digest, "r/x")
    _, _, annotations = _signed_layer(key, payload)
    forged = build_payload(digest, "r/x", {"approved": "yes"})  # same signature, other bytes
    _write_sig_image(store, digest, [(mt.COSIGN_SIMPLESIGNING, forged, annotations)])
    with pytest.raises(SignatureVerificationError, match="tampered payload"):
        verify(store, digest, trusted_keys([key.verifier]))


def test_malformed_base64_is_refused(store: Store, key: PrivateKey) -> None:
    digest = make_image(store, "bad-b64")
    payload = build_payload(digest, "r/x")
    _write_sig_image(
        store, digest, [(mt.COSIGN_SIMPLESIGNING, payload, {SIGNATURE_ANNOTATION: "MEUC!!not*base64"})]
    )
    with pytest.raises(SignatureVerificationError, match="not valid base64"):
        verify(store, digest, trusted_keys([key.verifier]))


def test_wrong_layer_media_type_is_refused(store: Store, key: PrivateKey) -> None:
    digest = make_image(store, "bad-media-type")
    _, payload, annotations = _signed_layer(key, build_payload(digest, "r/x"))
    _write_sig_image(store, digest, [("application/json", payload, annotations)])
    with pytest.raises(
        SignatureVerificationError, match=r"is not application/vnd\.dev\.cosign\.simplesigning"
    ):
        verify(store, digest, trusted_keys([key.verifier]))


def test_one_valid_signature_among_broken_ones_verifies(store: Store, key: PrivateKey) -> None:
    digest = make_image(store, "mixed")
    other_digest = make_image(store, "mixed-other")
    good = _signed_layer(key, build_payload(digest, "r/x"))
    copied = _signed_layer(key, build_payload(other_digest, "r/x"))
    bad_b64 = (mt.COSIGN_SIMPLESIGNING, build_payload(digest, "r/y"), {SIGNATURE_ANNOTATION: "%%%"})
    wrong_type = ("text/plain", good[1], good[2])
    _write_sig_image(store, digest, [copied, bad_b64, good, wrong_type])
    report = verify_report(store, digest, trusted_keys([key.verifier]))
    assert report.ok
    assert [s.layer_digest for s in report.verified] == [Digest.of(good[1])]
    assert [r.index for r in report.rejected] == [0, 1, 3]
    assert len(verify(store, digest, trusted_keys([key.verifier]))) == 1


def test_required_annotation_and_reference_are_checked(store: Store, key: PrivateKey) -> None:
    digest = make_image(store, "claims")
    sign(store, digest, key, reference="example.com/app", annotations={"env": "dev"})
    policy = trusted_keys([key.verifier])
    with pytest.raises(SignatureVerificationError, match="annotation env='prod'"):
        verify(store, digest, policy, annotations={"env": "prod"})
    with pytest.raises(SignatureVerificationError, match="docker-reference"):
        verify(store, digest, policy, reference="example.com/other")


def test_attest_and_verify_attestations(store: Store, key: PrivateKey, other_key: PrivateKey) -> None:
    digest = make_image(store, "attested")
    result = attest(store, digest, key, predicate_type=SPDX_TYPE, predicate=SPDX, subject_name="r/x")
    layer = json.loads(store.get_manifest(attestation_tag(digest)).data)["layers"][0]
    assert layer["mediaType"] == mt.DSSE_ENVELOPE
    assert layer["annotations"] == {SIGNATURE_ANNOTATION: "", "predicateType": SPDX_TYPE}
    [verified] = verify_attestations(store, digest, trusted_keys([key.verifier]), predicate_type=SPDX_TYPE)
    assert verified.statement == result.statement
    assert SPDX in verified.statement  # the predicate bytes are kept
    assert verified.predicate == json.loads(SPDX)
    with pytest.raises(SignatureVerificationError, match="1 attestation\\(s\\) of other predicate types"):
        verify_attestations(
            store, digest, trusted_keys([key.verifier]), predicate_type="https://cyclonedx.org/bom"
        )
    with pytest.raises(SignatureVerificationError, match="does not verify"):
        verify_attestations(store, digest, trusted_keys([other_key.verifier]))


def test_attestation_copied_to_another_image_is_refused(store: Store, key: PrivateKey) -> None:
    digest = make_image(store, "att-original")
    victim = make_image(store, "att-victim")
    result = attest(store, digest, key, predicate_type=SPDX_TYPE, predicate=SPDX)
    store.tag(result.manifest_digest, attestation_tag(victim))
    with pytest.raises(SignatureVerificationError, match="subject does not name"):
        verify_attestations(store, victim, trusted_keys([key.verifier]))


def test_tampered_attestation_is_refused(store: Store, key: PrivateKey) -> None:
    digest = make_image(store, "att-tampered")
    result = attest(store, digest, key, predicate_type=SPDX_TYPE, predicate=SPDX)
    envelope = json.loads(result.envelope)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["packages"] = [{"name": "backdoor"}]
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    forged = json.dumps(envelope).encode()
    put_bytes(store, forged)
    layers = [{"mediaType": mt.DSSE_ENVELOPE, "size": len(forged), "digest": str(Digest.of(forged))}]
    config, manifest = build_attachment_manifest(layers)
    put_bytes(store, config)
    store.put_manifest(ManifestBytes.create(manifest, mt.OCI_MANIFEST), tag=attestation_tag(digest))
    with pytest.raises(SignatureVerificationError, match="does not verify"):
        verify_attestations(store, digest, trusted_keys([key.verifier]))


class _CountingTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_verify_by_digest_makes_at_most_three_registry_requests(
    registry: Registry, repo_name: str, key: PrivateKey
) -> None:
    store = open_store(registry.ref(repo_name))
    digest = make_image(store, "count requests")
    sign(store, digest, key, reference="r/x")
    counting = _CountingTransport()
    with RegistryClient(registry.host, RegistryConfig(), transport=counting) as client:
        verify(RegistryStore(client, repo_name), digest, trusted_keys([key.verifier]))
    assert len(counting.requests) <= 3, counting.requests
    assert counting.requests == [
        f"GET /v2/{repo_name}/manifests/{signature_tag(digest)}",
        f"GET /v2/{repo_name}/blobs/{Digest.of(build_payload(digest, 'r/x'))}",
    ]


def test_signature_tag_overwritten_with_an_index_is_a_failed_check(store: Store, key: PrivateKey) -> None:
    digest = make_image(store, "overwritten")
    image = store.get_manifest(str(digest))
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [{"mediaType": mt.OCI_MANIFEST, "digest": str(digest), "size": image.size}],
        }
    ).encode()
    store.put_manifest(ManifestBytes.create(index, mt.OCI_INDEX), tag=signature_tag(digest))
    with pytest.raises(SignatureVerificationError, match="not an image manifest") as info:
        verify(store, digest, trusted_keys([key.verifier]))
    assert info.value.exit_code == 1
