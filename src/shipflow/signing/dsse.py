"""DSSE envelopes and in-toto statements: the body of a cosign attestation.

DSSE (secure-systems-lab/dsse ``protocol.md``): the signature covers
``PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body`` (lengths in ASCII
decimal bytes), never the JSON envelope itself. The envelope cosign writes is Go-marshalled
``{"payloadType":…,"payload":<std base64>,"signatures":[{"keyid":"","sig":<std base64>}]}``.

The statement inside is in-toto ``https://in-toto.io/Statement/v0.1`` (what cosign 2 writes)
or ``/v1``; its ``subject`` names the image digest. Checks read the decoded payload bytes;
nothing is re-serialised to be checked.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from shipflow.errors import UsageError, VerificationError
from shipflow.oci.digest import Digest
from shipflow.signing.jsondoc import load_object

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_TYPES = frozenset({STATEMENT_V01, STATEMENT_V1})

# cosign's `--type` shorthands (cmd/cosign/cli/options/predicate.go) and their predicate URIs.
PREDICATE_TYPES: dict[str, str] = {
    "custom": "https://cosign.sigstore.dev/attestation/v1",
    "slsaprovenance": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "spdx": "https://spdx.dev/Document",
    "spdxjson": "https://spdx.dev/Document",
    "cyclonedx": "https://cyclonedx.org/bom",
    "link": "https://in-toto.io/Link/v1",
    "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
    "openvex": "https://openvex.dev/ns",
}


_URLSAFE_TO_STD = str.maketrans("-_", "+/")


class EnvelopeError(VerificationError):
    """An envelope or statement is malformed (the message says how): it cannot verify."""


def predicate_type_uri(name_or_uri: str) -> str:
    """A ``--type`` value (shorthand or URI) as a predicate type URI."""
    if name_or_uri in PREDICATE_TYPES:
        return PREDICATE_TYPES[name_or_uri]
    if "://" in name_or_uri or name_or_uri.startswith("urn:"):
        return name_or_uri
    raise UsageError(
        f"unknown predicate type {name_or_uri!r}",
        hint=f"use one of {', '.join(sorted(PREDICATE_TYPES))}, or a predicate type URI",
    )


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: the exact bytes a DSSE signature covers."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def build_envelope(payload_type: str, payload: bytes, signatures: list[tuple[str, bytes]]) -> bytes:
    """The envelope JSON as cosign writes it (Go field order, compact)."""
    return json.dumps(
        {
            "payloadType": payload_type,
            "payload": base64.b64encode(payload).decode("ascii"),
            "signatures": [
                {"keyid": keyid, "sig": base64.b64encode(sig).decode("ascii")} for keyid, sig in signatures
            ],
        },
        separators=(",", ":"),
    ).encode()


def _b64decode(text: str, what: str) -> bytes:
    # DSSE allows standard and URL-safe base64 (go-securesystemslib tries both).
    # Both strictly: a lenient decoder would silently drop stray characters.
    try:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return base64.b64decode(text.translate(_URLSAFE_TO_STD), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise EnvelopeError(f"{what} is not valid base64") from exc


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: list[tuple[str, bytes]]  # (keyid, signature)

    @property
    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)


def parse_envelope(data: bytes) -> Envelope:
    doc = load_object(data, "envelope", EnvelopeError)
    payload_type, payload, sigs = doc.get("payloadType"), doc.get("payload"), doc.get("signatures")
    if not isinstance(payload_type, str) or not isinstance(payload, str):
        raise EnvelopeError("envelope lacks payloadType or payload")
    if not isinstance(sigs, list) or not sigs:
        raise EnvelopeError("envelope has no signatures")
    body = _b64decode(payload, "envelope payload")
    signatures: list[tuple[str, bytes]] = []
    for entry in sigs:
        if not isinstance(entry, dict) or not isinstance(entry.get("sig"), str):
            raise EnvelopeError("envelope signature entry lacks 'sig'")
        keyid = entry.get("keyid")
        signatures.append(
            (keyid if isinstance(keyid, str) else "", _b64decode(entry["sig"], "envelope signature"))
        )
    return Envelope(payload_type, body, signatures)


def build_statement(
    *,
    subject_name: str,
    subject_digest: Digest,
    predicate_type: str,
    predicate: Any,
    statement_type: str = STATEMENT_V01,
) -> bytes:
    """An in-toto statement about one image. cosign 2 writes v0.1; v1 is the current spec.

    Field order follows in-toto-golang's StatementHeader (``_type``, ``predicateType``,
    ``subject``, ``predicate``).
    """
    if statement_type not in STATEMENT_TYPES:
        raise UsageError(f"unknown statement type {statement_type!r}")
    return json.dumps(
        {
            "_type": statement_type,
            "predicateType": predicate_type,
            "subject": [{"name": subject_name, "digest": {subject_digest.algorithm: subject_digest.hex}}],
            "predicate": predicate,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


@dataclass(frozen=True)
class Statement:
    statement_type: str
    predicate_type: str
    subjects: list[tuple[str, dict[str, str]]]
    predicate: Any

    def names_digest(self, digest: Digest) -> bool:
        return any(d.get(digest.algorithm) == digest.hex for _, d in self.subjects)


def parse_statement(data: bytes) -> Statement:
    doc = load_object(data, "statement", EnvelopeError)
    kind, predicate_type, subject = doc.get("_type"), doc.get("predicateType"), doc.get("subject")
    if not isinstance(kind, str) or kind not in STATEMENT_TYPES:  # a list is not hashable: check first
        raise EnvelopeError(f"not an in-toto statement (_type {str(kind)[:80]!r})")
    if not isinstance(predicate_type, str):
        raise EnvelopeError("statement has no predicateType")
    if not isinstance(subject, list):
        raise EnvelopeError("statement has no subject list")
    subjects: list[tuple[str, dict[str, str]]] = []
    for entry in subject:
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), dict):
            raise EnvelopeError("statement subject lacks a digest")
        digests = {str(k): str(v) for k, v in entry["digest"].items()}
        name = entry.get("name")
        subjects.append((name if isinstance(name, str) else "", digests))
    return Statement(str(kind), predicate_type, subjects, doc.get("predicate"))
