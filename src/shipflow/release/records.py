"""Promotion records: the signed proof that a digest passed an environment's gates.

After each promotion shipflow signs an in-toto statement about the digest (predicate type
``https://shipflow.dev/promotion/v1``) holding: from, to, actor, time, approvals, and each
gate's evidence (key ids, advisory DB identity, migration classification, test summaries).
It is stored in the ledger (``sf.rec.…``, race-free) and also appended to cosign's ``.att``
image, so ``cosign verify-attestation --type https://shipflow.dev/promotion/v1`` sees it too.

:func:`verify_chain` checks that a digest carries a verified record for every stage that leads
to an environment (dev → staging → canary → production), so a production deploy can demand
proof of each one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipflow import __version__
from shipflow.errors import ShipflowError, VerificationError
from shipflow.gate import Evidence
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.store import Store
from shipflow.release._ledger import FactRef
from shipflow.release._statements import (
    PROMOTION_PREDICATE,
    SignedFact,
    read_signed_facts,
    sign_statement,
    write_signed_fact,
)
from shipflow.signing.keys import Signer
from shipflow.signing.policy import Policy
from shipflow.timeutil import utc_timestamp

__all__ = ["ChainLink", "find_record", "promotion_predicate", "verify_chain", "write_record"]

log = logging.getLogger(__name__)


def promotion_predicate(
    *,
    image: str,
    digest: Digest,
    source: str | None,
    target: str,
    actor: str,
    previous: Digest | None,
    evidence: Sequence[Evidence],
) -> dict[str, Any]:
    approvals: list[Any] = []
    for item in evidence:
        if item.gate == "approvals":
            approvals = list(item.details.get("counted", []))
    return {
        "image": image,
        "digest": str(digest),
        "from": source,
        "to": target,
        "actor": actor,
        "promotedAt": utc_timestamp(),
        "previous": str(previous) if previous else None,
        "approvals": approvals,
        "gates": [item.to_json() for item in evidence],
        "tool": {"name": "shipflow", "version": __version__},
    }


@dataclass(frozen=True)
class RecordWritten:
    ref: FactRef
    cosign_tag: str | None
    envelope: bytes


def write_record(
    store: Store,
    digest: Digest,
    key: Signer,
    predicate: Mapping[str, Any],
    *,
    subject_name: str,
    tag: str | None = None,
) -> RecordWritten:
    """Sign the record and store it: in the ledger (the copy shipflow reads) and, at the same
    time, in cosign's ``.att`` image (best effort: a failure there is logged; the ledger copy is
    what counts). Both writes are independent, so they run side by side. ``tag`` is the
    ledger tag to use (made beforehand with ``ledger.new_fact_tag``, so a caller whose write
    failed can ask whether it landed)."""
    from concurrent.futures import ThreadPoolExecutor

    envelope = sign_statement(key, digest, subject_name, PROMOTION_PREDICATE, predicate)
    annotations = {
        "from": str(predicate.get("from") or ""),
        "to": str(predicate["to"]),
        "actor": str(predicate["actor"]),
    }
    # The envelope is a blob of both writes: upload it once, before they start, because two
    # concurrent uploads of one blob make some registries (distribution 2.8) fail one of them.
    store.put_blob(Digest.of(envelope), len(envelope), [envelope])
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="shipflow-record") as pool:
        ledger = pool.submit(
            write_signed_fact, store, "rec", digest, str(predicate["to"]), envelope, annotations, tag=tag
        )
        cosign = pool.submit(_copy_to_cosign_attestations, store, digest, envelope)
        ref = ledger.result()
        cosign_tag = cosign.result()
    return RecordWritten(ref, cosign_tag, envelope)


def _copy_to_cosign_attestations(store: Store, digest: Digest, envelope: bytes) -> str | None:
    from shipflow.signing.attachments import PREDICATE_TYPE_ANNOTATION, SIGNATURE_ANNOTATION, append_layer

    envelope_digest = Digest.of(envelope)
    try:
        result = append_layer(
            store,
            f"{digest.tag_form}.att",
            media_type=mt.DSSE_ENVELOPE,
            blob=envelope,
            annotations={PREDICATE_TYPE_ANNOTATION: PROMOTION_PREDICATE, SIGNATURE_ANNOTATION: ""},
            is_duplicate=lambda layer: layer.digest == envelope_digest,
        )
    except ShipflowError as exc:
        log.warning("promotion record kept in the ledger, but not copied to the .att image: %s", exc.message)
        return None
    return result.tag


def records_into(
    store: Store, digest: Digest, environment: str, policy: Policy, *, tags: list[str] | None = None
) -> tuple[list[SignedFact], list[str]]:
    """Verified records of ``digest`` entering ``environment`` (newest first), and the reasons
    other record facts there were rejected."""
    verified, rejected = read_signed_facts(
        store, "rec", digest, policy, PROMOTION_PREDICATE, environment=environment, tags=tags
    )
    good = [fact for fact in verified if fact.predicate.get("to") == environment]
    return good, [f"{r.ref.tag}: {r.reason}" for r in rejected]


def find_record(
    store: Store,
    digest: Digest,
    environment: str,
    policy: Policy,
    *,
    source: str | None = None,
    tags: list[str] | None = None,
) -> SignedFact | None:
    """The newest verified record of ``digest`` into ``environment`` (from ``source`` if given)."""
    good, _ = records_into(store, digest, environment, policy, tags=tags)
    for fact in good:
        if source is None or fact.predicate.get("from") == source:
            return fact
    return None


@dataclass(frozen=True)
class ChainLink:
    environment: str
    source: str | None
    record: SignedFact

    def to_json(self) -> dict[str, Any]:
        predicate = self.record.predicate
        return {
            "environment": self.environment,
            "from": self.source,
            "actor": predicate.get("actor"),
            "promotedAt": predicate.get("promotedAt"),
            "keyIds": list(self.record.key_ids),
            "record": self.record.ref.tag,
            "gates": [g.get("gate") for g in predicate.get("gates", []) if isinstance(g, Mapping)],
        }


def verify_chain(
    store: Store, digest: Digest, chain: Sequence[tuple[str | None, str]], policy: Policy
) -> list[ChainLink]:
    """Check a verified record for every (source, environment) step of ``chain``, in order.

    Raises VerificationError (exit 1) naming the first stage without proof, and why the record
    facts found there (if any) were refused.
    """
    tags = store.list_tags()
    links: list[ChainLink] = []
    for source, environment in chain:
        good, rejected = records_into(store, digest, environment, policy, tags=tags)
        match = next((f for f in good if f.predicate.get("from") == source), None)
        if match is None:
            stage = f"{source or 'build'} → {environment}"
            reasons = "; ".join(rejected[:3]) if rejected else "no record was written"
            others = sorted({str(f.predicate.get("from")) for f in good})
            if others:
                reasons += f"; the records into {environment} come from {', '.join(others)}"
            raise VerificationError(
                f"{digest} has no verified promotion record for {stage} ({reasons})",
                hint="every stage must be promoted with `shipflow promote`; records verify with "
                "the keys under keys.records (or keys.trusted) in shipflow.yaml",
            )
        links.append(ChainLink(environment, source, match))
    return links
