"""The canary's ports implemented over the promotion layer: the registry-backed history
(:mod:`shipflow.release.history`, ledger facts under never-reused tags) and the signed
promotion records (:mod:`shipflow.release.records`).

How canary outcomes are written into that history (``entry.digest`` is always a digest the
environment's tag really moved to):

============================  ===============================================================
canary passed                 D, action ``canary``, outcome ``ok``, previous P
canary rolled back            D, ``canary``, outcome ``rolled-back`` (so D is never a rollback
                              target there again), then P, ``auto-rollback``, ``ok``, previous D
canary rollback failed        D, ``canary``, ``failed``; and, when the tag was moved back,
                              P, ``auto-rollback``, ``incomplete``
manual rollback               T, ``rollback``, ``ok`` (``incomplete`` when the tag moved but the
                              deploy or the health confirmation failed), previous = the digest
                              rolled away from; nothing when the tag did not move
============================  ===============================================================

Timings (detection, rollback), check counts, the trip rule and the plain statement of what is
deployed go into the entry's ``details``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from shipflow.errors import VerificationError
from shipflow.gate import Evidence, GateStatus
from shipflow.oci.digest import Digest
from shipflow.oci.store import Store
from shipflow.release.canary.ports import HeldDigest, ReleaseEntry
from shipflow.release.history import BAD_OUTCOMES, Action, HistoryEntry, current_digest, history, record_entry
from shipflow.release.records import find_record
from shipflow.signing.policy import Policy
from shipflow.timeutil import utc_timestamp

__all__ = ["LedgerHistory", "RecordPromotionCheck"]


class LedgerHistory:
    """:class:`~shipflow.release.canary.ports.EnvironmentHistory` over the store's ledger."""

    persistent = True
    knows_past = True

    def __init__(self, store: Store) -> None:
        self._store = store

    def held(self, env: str, *, limit: int = 50) -> Sequence[HeldDigest]:
        result: list[HeldDigest] = []
        seen: set[Digest] = set()
        current = current_digest(self._store, env)
        entries = history(self._store, env)
        if current is not None:
            # The tag names a digest no entry moved it to last: a move whose entry could not be
            # written (a rollback run again records it).
            unrecorded = not entries or entries[0].digest != current
            result.append(HeldDigest(current, kind="tag", outcome="unrecorded" if unrecorded else None))
            seen.add(current)
        bad: set[Digest] = set()
        for entry in entries:
            if len(result) >= limit:
                break
            if entry.outcome in BAD_OUTCOMES:
                bad.add(entry.digest)  # newer than what follows: never go back to it
                continue
            if entry.digest in seen or entry.digest in bad:
                continue
            seen.add(entry.digest)
            result.append(HeldDigest(entry.digest, entry.at, entry.actor, entry.action, entry.outcome))
        return result

    def record(self, entry: ReleaseEntry) -> None:
        details = {
            "timings": {k: v for k, v in entry.timings.items() if v is not None},
            "checks": dict(entry.checks),
            "reason": entry.reason,
            "deployTarget": entry.deploy_target,
            "startedAt": entry.started_at,
            **dict(entry.details),
        }
        writes: list[HistoryEntry] = []
        moved_back = entry.previous is not None and entry.digest == entry.previous
        if entry.kind == "canary" and entry.candidate is not None:
            if entry.outcome == "passed":
                writes.append(
                    self._entry(entry, entry.candidate, Action.CANARY, "ok", entry.previous, details)
                )
            else:
                bad = "rolled-back" if entry.outcome == "rolled-back" else "failed"
                writes.append(
                    self._entry(entry, entry.candidate, Action.CANARY, bad, entry.previous, details)
                )
                if moved_back and entry.previous is not None:
                    outcome = "ok" if entry.outcome == "rolled-back" else "incomplete"
                    writes.append(
                        self._entry(
                            entry, entry.previous, Action.AUTO_ROLLBACK, outcome, entry.candidate, details
                        )
                    )
        elif entry.kind == "rollback" and entry.digest != entry.previous:  # else the tag never moved
            outcome = "ok" if entry.outcome == "rolled-back" else "incomplete"
            writes.append(self._entry(entry, entry.digest, Action.ROLLBACK, outcome, entry.previous, details))
        for item in writes:
            record_entry(self._store, item)

    @staticmethod
    def _entry(
        entry: ReleaseEntry,
        digest: Digest,
        action: str,
        outcome: str,
        previous: Digest | None,
        details: dict[str, object],
    ) -> HistoryEntry:
        return HistoryEntry(
            environment=entry.env,
            digest=digest,
            action=action,
            actor=entry.actor,
            at=entry.finished_at,
            previous=previous,
            outcome=outcome,
            details=details,
        )


class RecordPromotionCheck:
    """:class:`~shipflow.release.canary.ports.PromotionCheck`: a verified promotion record of the
    digest into the environment (records verify with the config's record keys)."""

    name = "promotion-record"

    def __init__(self, store: Store, policy: Policy) -> None:
        self._store = store
        self._policy = policy

    def verify_promoted(self, digest: Digest, env: str) -> Evidence:
        started_at, started = utc_timestamp(), time.monotonic()
        record = find_record(self._store, digest, env, self._policy)
        if record is None:
            raise VerificationError(
                f"{digest} has no verified promotion record into {env}",
                hint=f"promote it first: shipflow promote --digest {digest} --to {env}",
            )
        return Evidence(
            gate=self.name,
            status=GateStatus.PASSED,
            summary=f"promoted into {env} by {record.predicate.get('actor', '?')}",
            subject=str(digest),
            inputs={"environment": env, "policy": self._policy.describe()},
            details={
                "record": record.ref.tag,
                "keyIds": list(record.key_ids),
                "from": record.predicate.get("from"),
            },
            started_at=started_at,
            duration_seconds=time.monotonic() - started,
        )
