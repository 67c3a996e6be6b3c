"""Signature verification as a gate: evidence names the keys; an unsigned image or one signed
only by an untrusted key fails with the reasons attached."""

from __future__ import annotations

import json

import pytest

from shipflow.errors import GateFailed, SignatureVerificationError
from shipflow.gate import GateContext, GateStatus
from shipflow.signing import generate_private_key, sign, trusted_keys
from shipflow.signing.gate import SignatureGate
from support.memory_store import MemoryStore, add_image


def test_signed_image_passes_with_key_evidence() -> None:
    store = MemoryStore()
    digest = add_image(store, [b"layer"], tag="dev").digest
    key = generate_private_key()
    sign(store, digest, key, reference="example/app")  # type: ignore[arg-type]
    evidence = SignatureGate(trusted_keys([key.verifier])).check(GateContext(store, digest))  # type: ignore[arg-type]
    assert evidence.status is GateStatus.PASSED
    assert evidence.details["keyIds"] == [key.verifier.key_id]
    assert evidence.inputs["trustedKeyIds"] == [key.verifier.key_id]
    payload = json.loads(evidence.details["signatures"][0]["payload"])
    assert payload["critical"]["image"]["docker-manifest-digest"] == str(digest)


def test_unsigned_and_untrusted_images_fail_with_reasons() -> None:
    store = MemoryStore()
    digest = add_image(store, [b"layer"], tag="dev").digest
    trusted = generate_private_key()
    gate = SignatureGate(trusted_keys([trusted.verifier]))
    with pytest.raises(GateFailed) as unsigned:
        gate.check(GateContext(store, digest))  # type: ignore[arg-type]
    assert isinstance(unsigned.value.__cause__, SignatureVerificationError)
    assert "has no signatures" in unsigned.value.message
    sign(store, digest, generate_private_key(), reference="example/app")  # type: ignore[arg-type]
    with pytest.raises(GateFailed) as untrusted:
        gate.check(GateContext(store, digest))  # type: ignore[arg-type]
    evidence = untrusted.value.evidence
    assert evidence is not None and evidence.status is GateStatus.FAILED
    assert "no valid signature" in untrusted.value.message
