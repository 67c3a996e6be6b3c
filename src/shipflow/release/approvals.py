"""Signed approvals: ``shipflow approve`` writes one, the approvals gate counts them.

An approval is an in-toto statement about the digest (predicate
``https://shipflow.dev/approval/v1``: environment, approver, time, optional comment) signed
with the approver's own key and kept in the ledger. The gate counts an approval only when

* the approver is listed under ``approvers:`` in shipflow.yaml,
* the envelope verifies with *that approver's* public key (a listed key signing in someone
  else's name does not count),
* it names this digest and this environment,
* the approver is not the actor promoting (no self-approval),

and each approver once, however many approvals they wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipflow.errors import UsageError
from shipflow.oci.digest import Digest
from shipflow.oci.store import Store
from shipflow.release._ledger import FactRef
from shipflow.release._statements import (
    APPROVAL_PREDICATE,
    read_signed_facts,
    sign_statement,
    write_signed_fact,
)
from shipflow.signing.keys import Signer
from shipflow.timeutil import utc_timestamp

__all__ = ["ApprovalTally", "approve", "collect_approvals"]


def approve(
    store: Store,
    digest: Digest,
    environment: str,
    key: Signer,
    *,
    approver: str,
    subject_name: str,
    comment: str | None = None,
) -> FactRef:
    """Sign and store one approval of ``digest`` for ``environment`` by ``approver``."""
    if not approver:
        raise UsageError(
            "an approval needs the approver's login", hint="pass --actor LOGIN or set GITHUB_ACTOR"
        )
    predicate: dict[str, Any] = {
        "environment": environment,
        "approver": approver,
        "approvedAt": utc_timestamp(),
        "keyId": key.verifier.key_id,
    }
    if comment:
        predicate["comment"] = comment
    envelope = sign_statement(key, digest, subject_name, APPROVAL_PREDICATE, predicate)
    return write_signed_fact(store, "appr", digest, environment, envelope, {"approver": approver})


@dataclass
class ApprovalTally:
    valid: dict[str, dict[str, Any]] = field(default_factory=dict)  # approver -> evidence
    ignored: list[dict[str, str]] = field(default_factory=list)


def collect_approvals(
    store: Store,
    digest: Digest,
    environment: str,
    approvers: Mapping[str, Path],
    *,
    promoter: str,
) -> ApprovalTally:
    """The valid approvals of ``digest`` for ``environment``, one per approver."""
    from shipflow.signing.keys import load_public_keys
    from shipflow.signing.policy import trusted_keys

    tally = ApprovalTally()
    policies = {login: trusted_keys(load_public_keys(path)) for login, path in approvers.items()}
    # Any listed key may have signed a fact; which approver it speaks for is checked below.
    all_keys = (
        trusted_keys([k for path in approvers.values() for k in load_public_keys(path)])
        if approvers
        else None
    )
    if all_keys is None:
        return tally
    tags = store.list_tags()
    verified, rejected = read_signed_facts(
        store, "appr", digest, all_keys, APPROVAL_PREDICATE, environment=environment, tags=tags
    )
    for item in rejected:
        tally.ignored.append({"tag": item.ref.tag, "reason": item.reason})
    for fact in verified:
        approver = str(fact.predicate.get("approver", ""))
        if fact.predicate.get("environment") != environment:
            tally.ignored.append(
                {"tag": fact.ref.tag, "reason": f"approves {fact.predicate.get('environment')!r}"}
            )
            continue
        if approver not in policies:
            tally.ignored.append({"tag": fact.ref.tag, "reason": f"{approver!r} is not a listed approver"})
            continue
        own_keys = {k.key_id for k in policies[approver].verifiers()}
        if not own_keys.intersection(fact.key_ids):
            tally.ignored.append(
                {
                    "tag": fact.ref.tag,
                    "reason": f"signed by a key that is not {approver}'s (signed in another's name)",
                }
            )
            continue
        if approver == promoter:
            tally.ignored.append(
                {"tag": fact.ref.tag, "reason": f"{approver} is the promoter (no self-approval)"}
            )
            continue
        if approver in tally.valid:
            continue  # each approver counts once
        tally.valid[approver] = {
            "approver": approver,
            "approvedAt": str(fact.predicate.get("approvedAt", "")),
            "keyId": sorted(own_keys.intersection(fact.key_ids))[0],
            "tag": fact.ref.tag,
        }
    return tally
