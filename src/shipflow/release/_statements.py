"""Signed pipeline statements: promotion records and approvals as in-toto statements in DSSE
envelopes, kept in the ledger (one fact each) and, for records, also appended to cosign's
``.att`` image so ``cosign verify-attestation --type https://shipflow.dev/promotion/v1`` sees them.

Predicate types (documented in the README):

* ``https://shipflow.dev/promotion/v1`` — written after a promotion: from, to, actor, time,
  approvals, and each gate's evidence;
* ``https://shipflow.dev/approval/v1`` — written by ``shipflow approve``: who approved which
  digest for which environment, when.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipflow.errors import VerificationError
from shipflow.oci.digest import Digest
from shipflow.oci.store import Store
from shipflow.release._ledger import FactRef, list_facts, read_fact, write_fact
from shipflow.signing.dsse import INTOTO_PAYLOAD_TYPE, STATEMENT_V1, build_envelope, build_statement, pae
from shipflow.signing.keys import Signer
from shipflow.signing.policy import Policy
from shipflow.signing.verify import VerifiedAttestation, verify_envelope

__all__ = [
    "APPROVAL_PREDICATE",
    "PROMOTION_PREDICATE",
    "SignedFact",
    "read_signed_facts",
    "sign_statement",
    "write_signed_fact",
]

PROMOTION_PREDICATE = "https://shipflow.dev/promotion/v1"
APPROVAL_PREDICATE = "https://shipflow.dev/approval/v1"


def sign_statement(
    key: Signer, digest: Digest, subject_name: str, predicate_type: str, predicate: Mapping[str, Any]
) -> bytes:
    """A DSSE envelope (cosign's wire form) of an in-toto v1 statement about ``digest``."""
    statement = build_statement(
        subject_name=subject_name,
        subject_digest=digest,
        predicate_type=predicate_type,
        predicate=dict(predicate),
        statement_type=STATEMENT_V1,
    )
    signature = key.sign(pae(INTOTO_PAYLOAD_TYPE, statement))
    return build_envelope(INTOTO_PAYLOAD_TYPE, statement, [(key.verifier.key_id, signature)])


def write_signed_fact(
    store: Store,
    kind: str,
    digest: Digest,
    environment: str,
    envelope: bytes,
    annotations: Mapping[str, str],
    *,
    tag: str | None = None,
) -> FactRef:
    return write_fact(store, kind, digest, environment, envelope, annotations=annotations, tag=tag)


@dataclass(frozen=True)
class SignedFact:
    """A ledger fact whose envelope verified: the predicate, who signed it, and where it is."""

    ref: FactRef
    predicate: Mapping[str, Any]
    key_ids: tuple[str, ...]
    attestation: VerifiedAttestation


@dataclass(frozen=True)
class RejectedFact:
    ref: FactRef
    reason: str


def read_signed_facts(
    store: Store,
    kind: str,
    digest: Digest,
    policy: Policy,
    predicate_type: str,
    *,
    environment: str | None = None,
    tags: list[str] | None = None,
) -> tuple[list[SignedFact], list[RejectedFact]]:
    """Every ``kind`` fact about ``digest`` (newest first), split into those whose envelope
    verifies under ``policy`` and those that do not (with the reason)."""
    from shipflow.errors import ManifestError

    verified: list[SignedFact] = []
    rejected: list[RejectedFact] = []
    for ref in list_facts(store, kind=kind, digest=digest, environment=environment, tags=tags):
        try:
            fact = read_fact(store, ref)
            attestation = verify_envelope(fact.payload, digest, policy, predicate_type=predicate_type)
        except (VerificationError, ManifestError) as exc:
            rejected.append(RejectedFact(ref, exc.message))
            continue
        predicate = attestation.predicate
        if not isinstance(predicate, Mapping):
            rejected.append(RejectedFact(ref, "the predicate is not a JSON object"))
            continue
        verified.append(SignedFact(ref, predicate, attestation.key_ids, attestation))
    return verified, rejected


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
