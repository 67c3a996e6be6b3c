"""Verify cosign signatures and attestations attached to an image.

Every layer of the ``.sig`` (``.att``) image is judged on its own, in cosign's order:

1. shape: the layer media type, the base64 signature annotation, the blob (present, intact);
2. cryptography: which of the policy's keys produced the signature over the stored bytes
   (the payload; for attestations the DSSE PAE of the envelope's payload);
3. claims: the payload names *this* image digest (a signature copied onto another image
   fails here), the payload type, and, if asked, annotations and the docker-reference.

Layers that pass are :class:`VerifiedSignature`; the others are :class:`Rejection` with a
reason. The policy then decides whether the keys behind the valid ones are enough. One valid
signature among broken ones verifies; the report still lists the broken ones.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipflow.errors import ManifestError, SignatureVerificationError, VerificationError
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.store import Store
from shipflow.signing.attachments import (
    PREDICATE_TYPE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    AttachedLayer,
    AttachmentImage,
    LayerUnavailable,
    attestation_tag,
    read_attachments,
    read_layer,
    signature_tag,
)
from shipflow.signing.dsse import INTOTO_PAYLOAD_TYPE, EnvelopeError, parse_envelope, parse_statement
from shipflow.signing.keys import Verifier
from shipflow.signing.payload import COSIGN_SIGNATURE_TYPE, PayloadError, parse_payload
from shipflow.signing.policy import Policy


@dataclass(frozen=True)
class VerifiedSignature:
    """A signature that verified: the exact payload bytes and who signed them."""

    image_digest: Digest
    layer_digest: Digest
    payload: bytes
    signature: bytes
    key_ids: tuple[str, ...]
    docker_reference: str
    annotations: dict[str, Any] | None

    def payload_json(self) -> Any:
        return json.loads(self.payload)


@dataclass(frozen=True)
class VerifiedAttestation:
    """An attestation whose envelope verified and whose statement names the image."""

    image_digest: Digest
    layer_digest: Digest
    envelope: bytes
    statement: bytes
    predicate_type: str
    predicate: Any
    key_ids: tuple[str, ...]

    def statement_json(self) -> Any:
        return json.loads(self.statement)


@dataclass(frozen=True)
class Rejection:
    """A signature layer that did not verify, and why."""

    index: int
    layer_digest: str
    reason: str

    def __str__(self) -> str:
        if self.index < 0:  # the attachment image as a whole
            return f"{self.layer_digest}: {self.reason}"
        return f"layer {self.index} ({self.layer_digest[:19]}…): {self.reason}"


@dataclass
class Report:
    """The full outcome: what verified, what did not, and whether the policy is met."""

    image_digest: Digest
    kind: str  # "signature" or "attestation"
    verified: list[Any] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    skipped: int = 0  # attestations of another predicate type
    unmet: list[str] = field(default_factory=list)
    found: bool = False

    @property
    def ok(self) -> bool:
        return self.found and bool(self.verified) and not self.unmet


def verification_failure(report: Report, what: str) -> SignatureVerificationError:
    """The error for a failed report: the reason for every rejected layer, and the unmet policy."""
    lines = [f"no valid {what} for {report.image_digest}"]
    if not report.found:
        lines = [f"{report.image_digest} has no {what}s (nothing under {_tag_for(report)})"]
        hint = (
            "sign it first: shipflow sign IMAGE --key cosign.key"
            if what == "signature"
            else ("attest it first: shipflow attest IMAGE --predicate FILE --type TYPE --key cosign.key")
        )
    else:
        hint = "check that --key is the public half of the key the image was signed with"
    for rejection in report.rejected:
        lines.append(f"  - {rejection}")
    if report.skipped:
        lines.append(f"  - {report.skipped} attestation(s) of other predicate types ignored")
    if report.found:  # for an unsigned image "missing a signature by K" says nothing new
        lines.extend(f"  - policy not met: missing {part}" for part in report.unmet)
    return SignatureVerificationError("\n".join(lines), report=report, hint=hint)


def _tag_for(report: Report) -> str:
    return (
        signature_tag(report.image_digest)
        if report.kind == "signature"
        else attestation_tag(report.image_digest)
    )


def _read_image(store: Store, tag: str, report: Report) -> AttachmentImage | None:
    """The attachment image under ``tag``; a broken one is a failed check, not a crash."""
    try:
        image = read_attachments(store, tag)
    except ManifestError as exc:
        # Someone overwrote the tag with something that is not a signature image: the
        # signatures are unusable, which is a verification failure (exit 1), not an outage.
        report.found = True
        report.rejected.append(Rejection(-1, tag, exc.message))
        return None
    if image is None or not image.layers:
        return None
    report.found = True
    return image


def _matching_keys(keys: list[Verifier], signatures: list[bytes], data: bytes) -> tuple[str, ...]:
    return tuple(key.key_id for key in keys if any(key.verify(sig, data) for sig in signatures))


def _decode_signature_annotation(layer: AttachedLayer) -> bytes:
    text = layer.annotations.get(SIGNATURE_ANNOTATION)
    if not text:
        raise LayerUnavailable(f"no {SIGNATURE_ANNOTATION} annotation")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise LayerUnavailable("signature annotation is not valid base64") from exc


def _check_signature_layer(
    store: Store,
    layer: AttachedLayer,
    digest: Digest,
    keys: list[Verifier],
    annotations: Mapping[str, str] | None,
    reference: str | None,
) -> VerifiedSignature:
    if layer.media_type != mt.COSIGN_SIMPLESIGNING:
        raise LayerUnavailable(f"layer media type {layer.media_type!r} is not {mt.COSIGN_SIMPLESIGNING}")
    signature = _decode_signature_annotation(layer)
    payload = read_layer(store, layer)
    key_ids = _matching_keys(keys, [signature], payload)
    if not key_ids:
        raise LayerUnavailable(
            "signature does not verify with any trusted key (wrong key or tampered payload)"
        )
    try:
        parsed = parse_payload(payload)
    except PayloadError as exc:
        raise LayerUnavailable(str(exc)) from exc
    if parsed.type != COSIGN_SIGNATURE_TYPE:
        raise LayerUnavailable(f"payload type {parsed.type!r} is not {COSIGN_SIGNATURE_TYPE!r}")
    if parsed.manifest_digest != str(digest):
        raise LayerUnavailable(
            f"payload claims digest {parsed.manifest_digest}, not this image's {digest} "
            "(a signature copied from another image?)"
        )
    if annotations:
        have = parsed.optional or {}
        for key, value in annotations.items():
            if have.get(key) != value:
                raise LayerUnavailable(f"annotation {key}={value!r} missing or different ({have.get(key)!r})")
    if reference is not None and parsed.docker_reference != reference:
        raise LayerUnavailable(f"docker-reference {parsed.docker_reference!r} is not {reference!r}")
    return VerifiedSignature(
        image_digest=digest,
        layer_digest=layer.digest,
        payload=payload,
        signature=signature,
        key_ids=key_ids,
        docker_reference=parsed.docker_reference,
        annotations=parsed.optional,
    )


# Judges one layer with the policy's keys: the verified item, None to skip it (valid but not
# asked for), or LayerUnavailable with the reason it is rejected.
_LayerCheck = Callable[[AttachedLayer, list[Verifier]], VerifiedSignature | VerifiedAttestation | None]


def _judge_layers(store: Store, report: Report, policy: Policy, check: _LayerCheck) -> Report:
    """Fill ``report`` with every layer of the attachment image judged by ``check``, then the
    policy parts the keys behind the verified layers leave unmet."""
    image = _read_image(store, _tag_for(report), report)
    if image is None:
        return report
    keys = policy.verifiers()
    for layer in image.layers:
        try:
            verified = check(layer, keys)
        except LayerUnavailable as exc:
            report.rejected.append(Rejection(layer.index, str(layer.digest), exc.reason))
            continue
        if verified is None:
            report.skipped += 1
        else:
            report.verified.append(verified)
    report.unmet = policy.unmet({key_id for item in report.verified for key_id in item.key_ids})
    return report


def verify_report(
    store: Store,
    digest: Digest,
    policy: Policy,
    *,
    annotations: Mapping[str, str] | None = None,
    reference: str | None = None,
) -> Report:
    """Judge every signature on ``digest``; never raises for a bad signature (see :func:`verify`)."""
    return _judge_layers(
        store,
        Report(digest, "signature"),
        policy,
        lambda layer, keys: _check_signature_layer(store, layer, digest, keys, annotations, reference),
    )


def verify(
    store: Store,
    digest: Digest,
    policy: Policy,
    *,
    annotations: Mapping[str, str] | None = None,
    reference: str | None = None,
) -> list[VerifiedSignature]:
    """The signatures on ``digest`` that verify under ``policy``.

    Raises :class:`SignatureVerificationError` (a VerificationError, exit 1) when the image is
    unsigned or the valid signatures do not satisfy the policy; its ``report`` lists every
    broken signature.
    """
    report = verify_report(store, digest, policy, annotations=annotations, reference=reference)
    if not report.ok:
        raise verification_failure(report, "signature")
    return list(report.verified)


def _check_attestation_layer(
    store: Store, layer: AttachedLayer, digest: Digest, keys: list[Verifier], predicate_type: str | None
) -> VerifiedAttestation | None:
    """The verified attestation, None if it is valid but of another predicate type."""
    if layer.media_type != mt.DSSE_ENVELOPE:
        raise LayerUnavailable(f"layer media type {layer.media_type!r} is not {mt.DSSE_ENVELOPE}")
    return _check_envelope(read_layer(store, layer), layer.digest, digest, keys, predicate_type)


def _check_envelope(
    envelope_bytes: bytes,
    layer_digest: Digest,
    digest: Digest,
    keys: list[Verifier],
    predicate_type: str | None,
) -> VerifiedAttestation | None:
    try:
        envelope = parse_envelope(envelope_bytes)
    except EnvelopeError as exc:
        raise LayerUnavailable(str(exc)) from exc
    if envelope.payload_type != INTOTO_PAYLOAD_TYPE:
        raise LayerUnavailable(f"envelope payloadType {envelope.payload_type!r} is not {INTOTO_PAYLOAD_TYPE}")
    key_ids = _matching_keys(keys, [sig for _, sig in envelope.signatures], envelope.pae)
    if not key_ids:
        raise LayerUnavailable(
            "envelope signature does not verify with any trusted key (wrong key or tampered)"
        )
    try:
        statement = parse_statement(envelope.payload)
    except EnvelopeError as exc:
        raise LayerUnavailable(str(exc)) from exc
    if not statement.names_digest(digest):
        raise LayerUnavailable(
            f"statement subject does not name {digest} (an attestation copied from another image?)"
        )
    if predicate_type is not None and statement.predicate_type != predicate_type:
        return None
    return VerifiedAttestation(
        image_digest=digest,
        layer_digest=layer_digest,
        envelope=envelope_bytes,
        statement=envelope.payload,
        predicate_type=statement.predicate_type,
        predicate=statement.predicate,
        key_ids=key_ids,
    )


def verify_envelope(
    envelope: bytes, digest: Digest, policy: Policy, *, predicate_type: str
) -> VerifiedAttestation:
    """Verify one DSSE envelope held outside cosign's ``.att`` image (e.g. a promotion record in
    the pipeline ledger): signed by a key the policy accepts (and enough of them), an in-toto
    statement naming ``digest``, of ``predicate_type``. VerificationError says why not."""
    try:
        verified = _check_envelope(envelope, Digest.of(envelope), digest, policy.verifiers(), predicate_type)
    except LayerUnavailable as exc:
        raise VerificationError(exc.reason) from exc
    if verified is None:
        raise VerificationError(f"the statement's predicate type is not {predicate_type}")
    unmet = policy.unmet(set(verified.key_ids))
    if unmet:
        raise VerificationError("policy not met: missing " + "; ".join(unmet))
    return verified


def verify_attestations_report(
    store: Store, digest: Digest, policy: Policy, *, predicate_type: str | None = None
) -> Report:
    """Judge every attestation on ``digest``; those of another predicate type are counted as
    skipped. Never raises for a bad attestation (see :func:`verify_attestations`)."""
    return _judge_layers(
        store,
        Report(digest, "attestation"),
        policy,
        lambda layer, keys: _check_attestation_layer(store, layer, digest, keys, predicate_type),
    )


def verify_attestations(
    store: Store, digest: Digest, policy: Policy, *, predicate_type: str | None = None
) -> list[VerifiedAttestation]:
    """The attestations on ``digest`` (of ``predicate_type`` if given) that verify under ``policy``.

    The predicate type is read from the signed statement, never from the unsigned
    ``predicateType`` layer annotation.
    """
    report = verify_attestations_report(store, digest, policy, predicate_type=predicate_type)
    if not report.ok:
        raise verification_failure(
            report, "attestation" if predicate_type is None else f"{predicate_type} attestation"
        )
    return list(report.verified)


__all__ = [
    "PREDICATE_TYPE_ANNOTATION",
    "Rejection",
    "Report",
    "SignatureVerificationError",
    "VerifiedAttestation",
    "VerifiedSignature",
    "verification_failure",
    "verify",
    "verify_attestations",
    "verify_attestations_report",
    "verify_report",
]
