"""The canary's ports over the promotion layer's ledger history and promotion records, on a
real OCI layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipflow.errors import VerificationError
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
from shipflow.oci.models import ManifestBytes
from shipflow.release.canary.pipeline import LedgerHistory, RecordPromotionCheck
from shipflow.release.canary.ports import ReleaseEntry
from shipflow.release.history import HistoryEntry, history, record_entry, rollback_target
from shipflow.signing.keys import generate_private_key
from shipflow.signing.policy import trusted_keys


def image(store: LayoutStore, name: str) -> Digest:
    config = json.dumps({"architecture": "amd64", "os": "linux", "name": name}).encode()
    store.put_blob(Digest.of(config), len(config), [config])
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": str(Digest.of(config)), "size": len(config)},
        "layers": [],
    }
    return store.put_manifest(ManifestBytes.create(json.dumps(manifest).encode()))


def entry(
    kind: str, env: str, digest: Digest, previous: Digest | None, candidate: Digest | None, outcome: str
) -> ReleaseEntry:
    return ReleaseEntry(
        kind=kind,
        env=env,
        digest=digest,
        previous=previous,
        candidate=candidate,
        actor="lead",
        outcome=outcome,
        reason="test",
        started_at="2026-12-01T00:00:00Z",
        finished_at="2026-12-01T00:01:00Z",
        deploy_target="local",
        timings={"detection": 0.4, "rollback": 0.1, "missing": None},
        checks={"pass": 3, "fail": 3},
    )


@pytest.fixture
def store(tmp_path: Path) -> LayoutStore:
    return LayoutStore(tmp_path / "repo", create=True)


def test_a_rolled_back_canary_is_two_entries_and_never_a_target_again(store: LayoutStore) -> None:
    old, p, d = image(store, "old"), image(store, "p"), image(store, "d")
    for digest in (old, p):
        record_entry(store, HistoryEntry(environment="canary", digest=digest, action="promote", actor="ci"))
    store.tag(p, "canary")
    ledger = LedgerHistory(store)
    store.tag(d, "canary")
    store.tag(p, "canary")  # the controller moved it back
    ledger.record(entry("canary", "canary", p, p, d, "rolled-back"))
    entries = history(store, "canary")
    assert [(e.digest, e.action, e.outcome) for e in entries[:2]] == [
        (p, "auto-rollback", "ok"),
        (d, "canary", "rolled-back"),
    ]
    assert entries[0].previous == d and entries[1].previous == p
    assert entries[0].details["timings"] == {"detection": 0.4, "rollback": 0.1}
    # What the canary held, for the next rollback: D is excluded, the older digest is there.
    assert [h.digest for h in ledger.held("canary")] == [p, old]
    target = rollback_target(store, "canary", p)
    assert target is not None and target.digest == old  # the promotion layer agrees


def test_a_passed_canary_and_a_manual_rollback(store: LayoutStore) -> None:
    p, d = image(store, "p"), image(store, "d")
    record_entry(store, HistoryEntry(environment="canary", digest=p, action="promote", actor="ci"))
    ledger = LedgerHistory(store)
    store.tag(d, "canary")
    ledger.record(entry("canary", "canary", d, p, d, "passed"))
    assert [(e.digest, e.action, e.outcome) for e in history(store, "canary")][:1] == [(d, "canary", "ok")]
    assert [h.digest for h in ledger.held("canary")] == [d, p]
    store.tag(p, "canary")
    ledger.record(entry("rollback", "canary", p, d, None, "rolled-back"))
    newest = history(store, "canary")[0]
    assert (newest.digest, newest.action, newest.outcome, newest.previous) == (p, "rollback", "ok", d)


def test_a_failed_rollback_marks_the_candidate_and_the_incomplete_move(store: LayoutStore) -> None:
    p, d = image(store, "p"), image(store, "d")
    store.tag(p, "canary")
    LedgerHistory(store).record(entry("canary", "canary", p, p, d, "rollback-failed"))
    assert [(e.digest, e.action, e.outcome) for e in history(store, "canary")] == [
        (p, "auto-rollback", "incomplete"),
        (d, "canary", "failed"),
    ]


def test_promotion_check_needs_a_verified_record(store: LayoutStore) -> None:
    d = image(store, "d")
    check = RecordPromotionCheck(store, trusted_keys([generate_private_key().verifier]))
    with pytest.raises(VerificationError, match="no verified promotion record into staging"):
        check.verify_promoted(d, "staging")


def test_promotion_check_accepts_a_record_signed_by_a_record_key(store: LayoutStore) -> None:
    from shipflow.release.records import promotion_predicate, write_record

    d = image(store, "d")
    key = generate_private_key()
    predicate = promotion_predicate(
        image=store.name, digest=d, source="dev", target="staging", actor="dev-1", previous=None, evidence=[]
    )
    write_record(store, d, key, predicate, subject_name=store.name)
    evidence = RecordPromotionCheck(store, trusted_keys([key.verifier])).verify_promoted(d, "staging")
    assert evidence.passed and evidence.details["from"] == "dev"
    assert evidence.summary == "promoted into staging by dev-1"
    # Signed by a key the policy does not trust: no record.
    with pytest.raises(VerificationError):
        RecordPromotionCheck(store, trusted_keys([generate_private_key().verifier])).verify_promoted(
            d, "staging"
        )
