"""Sign an image and attest facts about it, writing what ``cosign sign`` / ``cosign attest`` write.

Both take the image *digest* (resolving a tag is the caller's job, done once, so a tag that
moves mid-way cannot split the work across two images).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from shipflow.errors import UsageError
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.store import Store
from shipflow.signing.attachments import (
    MAX_LAYER_BYTES,
    MAX_PREDICATE_BYTES,
    PREDICATE_TYPE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    AttachedLayer,
    append_layer,
    attestation_tag,
    signature_tag,
)
from shipflow.signing.dsse import (
    INTOTO_PAYLOAD_TYPE,
    STATEMENT_V01,
    build_envelope,
    build_statement,
    pae,
)
from shipflow.signing.jsondoc import MAX_DEPTH, parse_json
from shipflow.signing.keys import Signer
from shipflow.signing.payload import build_payload

log = logging.getLogger(__name__)

# The statement wraps the predicate one level deeper; the reader allows MAX_DEPTH in all.
# (The size cap, MAX_PREDICATE_BYTES, is the reader's layer limit less base64 and headers.)
MAX_PREDICATE_DEPTH = MAX_DEPTH - 1


@dataclass(frozen=True)
class SignResult:
    image_digest: Digest
    tag: str
    manifest_digest: Digest  # of the .sig image after signing
    payload: bytes
    signature: bytes
    key_id: str
    added: bool  # False: an equivalent signature by this key was already there


def sign(
    store: Store,
    digest: Digest,
    key: Signer,
    *,
    reference: str | None = None,
    annotations: Mapping[str, str] | None = None,
) -> SignResult:
    """Sign ``digest`` in ``store`` with ``key``; append to ``sha256-<hex>.sig``.

    ``reference`` is the ``docker-reference`` claim (default: the store's name). An existing
    signature with the same payload that verifies with this key is kept and nothing is added
    (cosign's duplicate detection).
    """
    for name, value in (annotations or {}).items():
        if not isinstance(name, str) or not isinstance(value, str) or not name:
            raise UsageError(f"annotation {name!r} must be a non-empty string key with a string value")
    payload = build_payload(digest, reference or store.name, annotations)
    signature = key.sign(payload)
    verifier = key.verifier
    payload_digest = Digest.of(payload)

    def is_duplicate(layer: AttachedLayer) -> bool:
        if layer.media_type != mt.COSIGN_SIMPLESIGNING or layer.digest != payload_digest:
            return False
        existing = layer.annotations.get(SIGNATURE_ANNOTATION, "")
        try:
            return verifier.verify(base64.b64decode(existing, validate=True), payload)
        except ValueError:
            return False

    tag = signature_tag(digest)
    result = append_layer(
        store,
        tag,
        media_type=mt.COSIGN_SIMPLESIGNING,
        blob=payload,
        annotations={SIGNATURE_ANNOTATION: base64.b64encode(signature).decode("ascii")},
        is_duplicate=is_duplicate,
    )
    log.debug("signature for %s %s under %s", digest, "added" if result.added else "already present", tag)
    return SignResult(digest, tag, result.manifest_digest, payload, signature, verifier.key_id, result.added)


@dataclass(frozen=True)
class AttestResult:
    image_digest: Digest
    tag: str
    manifest_digest: Digest
    envelope: bytes
    statement: bytes
    predicate_type: str
    key_id: str
    added: bool


def statement_with_raw_predicate(
    *,
    subject_name: str,
    digest: Digest,
    predicate_type: str,
    predicate: bytes,
    statement_type: str = STATEMENT_V01,
) -> bytes:
    """An in-toto statement whose ``predicate`` is the given JSON bytes, embedded unchanged.

    The predicate (an SBOM, a scan report) keeps its exact bytes, so its own digest inside the
    statement equals the file's. It must be one JSON value.
    """
    text = predicate.strip()
    if len(text) > MAX_PREDICATE_BYTES:
        raise UsageError(
            f"the predicate is {len(text)} bytes, more than the {MAX_PREDICATE_BYTES} an attestation "
            "can carry (verify-attestation reads envelopes of up to "
            f"{MAX_LAYER_BYTES // (1024 * 1024)} MiB)",
            hint="attest a smaller document, e.g. the SBOM without file-level entries",
        )
    parse_json(
        text,
        what="the predicate",
        error=UsageError,
        max_depth=MAX_PREDICATE_DEPTH,
        hint="pass a JSON document (SPDX JSON, CycloneDX JSON, …)",
    )
    # Build with a placeholder and splice: the header is serialised by us, the predicate is not.
    marker = b'"__shipflow_predicate__"'
    header = build_statement(
        subject_name=subject_name,
        subject_digest=digest,
        predicate_type=predicate_type,
        predicate="__shipflow_predicate__",
        statement_type=statement_type,
    )
    head, found, tail = header.rpartition(marker)
    if not found:  # pragma: no cover - build_statement always writes the placeholder last
        raise AssertionError("statement placeholder missing")
    return head + text + tail


def attest(
    store: Store,
    digest: Digest,
    key: Signer,
    *,
    predicate_type: str,
    predicate: bytes,
    subject_name: str | None = None,
    statement_type: str = STATEMENT_V01,
) -> AttestResult:
    """Wrap ``predicate`` in an in-toto statement about ``digest``, sign it as a DSSE envelope
    and append it to ``sha256-<hex>.att`` with the ``predicateType`` annotation."""
    statement = statement_with_raw_predicate(
        subject_name=subject_name or store.name,
        digest=digest,
        predicate_type=predicate_type,
        predicate=predicate,
        statement_type=statement_type,
    )
    signature = key.sign(pae(INTOTO_PAYLOAD_TYPE, statement))
    envelope = build_envelope(INTOTO_PAYLOAD_TYPE, statement, [("", signature)])
    _check_readable(envelope)
    envelope_digest = Digest.of(envelope)
    tag = attestation_tag(digest)
    result = append_layer(
        store,
        tag,
        media_type=mt.DSSE_ENVELOPE,
        blob=envelope,
        # cosign writes an empty signature annotation on attestation layers: the signature is inside.
        annotations={PREDICATE_TYPE_ANNOTATION: predicate_type, SIGNATURE_ANNOTATION: ""},
        is_duplicate=lambda layer: layer.digest == envelope_digest,
    )
    return AttestResult(
        digest,
        tag,
        result.manifest_digest,
        envelope,
        statement,
        predicate_type,
        key.verifier.key_id,
        result.added,
    )


def _check_readable(envelope: bytes) -> None:
    """Refuse to store an attestation larger than the verifying side reads (the predicate
    cap keeps every ordinary statement under it; a very long subject name could still tip
    it over). Nothing is written in that case. Depth needs no check here: the predicate was
    parsed with one level less than the statement reader allows."""
    if len(envelope) > MAX_LAYER_BYTES:
        raise UsageError(
            f"the attestation would be {len(envelope)} bytes, over the {MAX_LAYER_BYTES} byte limit "
            "verify-attestation enforces",
            hint="attest a smaller predicate",
        )
