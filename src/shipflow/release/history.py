"""Per-environment history, kept in the store as ledger facts (``sf.hist.…`` tags).

An environment *is* its tag (``:staging``); its history is the list of entries written each
time the tag moved (promotion, canary, rollback), newest first. The tag is the truth about what
an environment holds now; the entries say since when, by whom, through which gates, and what it
held before — which is where a rollback goes back to.

Entries are append-only facts under never-reused tags, so two writers racing on one
environment both keep their entry (see :mod:`shipflow.release._ledger`). Each entry also names
the digest the writer saw in the environment before it moved the tag (``previous``): a reader
can tell when two moves raced (two entries with the same ``previous``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipflow.errors import DigestError, ManifestError, ManifestNotFound
from shipflow.oci.digest import Digest
from shipflow.oci.store import Store
from shipflow.release._ledger import FactRef, list_facts, read_fact, write_fact
from shipflow.timeutil import utc_timestamp

__all__ = [
    "Action",
    "EnvironmentStatus",
    "HistoryEntry",
    "current_digest",
    "environment_status",
    "history",
    "record_entry",
    "rollback_target",
    "where",
]

SCHEMA = "https://shipflow.dev/history/v1"


class Action:
    """What moved an environment's tag."""

    PROMOTE = "promote"
    CANARY = "canary"
    ROLLBACK = "rollback"
    AUTO_ROLLBACK = "auto-rollback"


# Outcomes that mark a digest as bad in this environment: never a rollback target.
BAD_OUTCOMES = frozenset({"rolled-back", "failed"})


@dataclass(frozen=True)
class HistoryEntry:
    environment: str
    digest: Digest
    action: str
    actor: str
    at: str = field(default_factory=utc_timestamp)
    previous: Digest | None = None
    source: str | None = None  # the environment promoted from
    outcome: str = "ok"
    gates: tuple[Mapping[str, Any], ...] = ()  # {gate, status, summary}
    record: str | None = None  # the ledger tag of the signed promotion record
    details: Mapping[str, Any] = field(default_factory=dict)
    ref: FactRef | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "environment": self.environment,
            "digest": str(self.digest),
            "action": self.action,
            "actor": self.actor,
            "at": self.at,
            "previous": str(self.previous) if self.previous else None,
            "from": self.source,
            "outcome": self.outcome,
            "gates": [dict(g) for g in self.gates],
            "record": self.record,
            "details": dict(self.details),
        }

    @classmethod
    def from_json(cls, data: Any, ref: FactRef | None = None) -> HistoryEntry:
        if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
            raise ValueError("not a shipflow history entry")
        gates = data.get("gates") or []
        details = data.get("details") or {}
        if not isinstance(gates, list) or not all(isinstance(g, Mapping) for g in gates):
            raise ValueError("gates must be a list of objects")
        if not isinstance(details, Mapping):
            raise ValueError("details must be an object")
        previous = data.get("previous")
        return cls(
            environment=str(data["environment"]),
            digest=Digest.parse(str(data["digest"])),
            action=str(data["action"]),
            actor=str(data.get("actor", "")),
            at=str(data.get("at", "")),
            previous=Digest.parse(str(previous)) if previous else None,
            source=str(data["from"]) if data.get("from") else None,
            outcome=str(data.get("outcome", "ok")),
            gates=tuple(dict(g) for g in gates),
            record=str(data["record"]) if data.get("record") else None,
            details=dict(details),
            ref=ref,
        )


def record_entry(store: Store, entry: HistoryEntry) -> FactRef:
    """Append ``entry`` to its environment's history (a new fact; nothing is overwritten)."""
    payload = json.dumps(entry.to_json(), sort_keys=True, separators=(",", ":")).encode()
    return write_fact(
        store,
        "hist",
        entry.digest,
        entry.environment,
        payload,
        annotations={"action": entry.action, "actor": entry.actor, "outcome": entry.outcome, "at": entry.at},
    )


def read_entry(store: Store, ref: FactRef) -> HistoryEntry:
    fact = read_fact(store, ref)
    try:
        return HistoryEntry.from_json(json.loads(fact.payload), ref)
    except (ValueError, KeyError, TypeError, DigestError) as exc:
        raise ManifestError(f"history entry {ref.tag} is malformed: {exc}") from exc


def history(
    store: Store,
    environment: str,
    *,
    limit: int | None = None,
    tags: Iterable[str] | None = None,
    problems: list[str] | None = None,
) -> list[HistoryEntry]:
    """The environment's entries, newest first (at most ``limit``). A malformed entry is
    skipped and described in ``problems`` (one bad fact never hides the others)."""
    entries: list[HistoryEntry] = []
    for ref in list_facts(store, kind="hist", environment=environment, tags=tags):
        if limit is not None and len(entries) >= limit:
            break
        try:
            entries.append(read_entry(store, ref))
        except ManifestError as exc:
            if problems is not None:
                problems.append(exc.message)
    return entries


def current_digest(store: Store, environment: str) -> Digest | None:
    """The digest the environment's tag points at now, or None when it has never been set."""
    try:
        return store.resolve(environment).digest
    except ManifestNotFound:
        return None


def rollback_target(
    store: Store, environment: str, current: Digest | None, *, exclude: Iterable[Digest] = ()
) -> HistoryEntry | None:
    """The newest entry of a digest the environment held before ``current`` that did not end
    badly there (a digest that was rolled back is never the way back)."""
    excluded = {current, *exclude} - {None}
    bad: set[Digest] = set()
    for entry in history(store, environment):
        if entry.outcome in BAD_OUTCOMES:
            bad.add(entry.digest)
            continue
        if entry.digest in excluded or entry.digest in bad:
            continue
        return entry
    return None


@dataclass(frozen=True)
class EnvironmentStatus:
    environment: str
    digest: Digest | None
    entry: HistoryEntry | None  # the newest entry for the digest it holds

    def to_json(self) -> dict[str, Any]:
        entry = self.entry
        return {
            "environment": self.environment,
            "digest": str(self.digest) if self.digest else None,
            "since": entry.at if entry else None,
            "by": entry.actor if entry else None,
            "action": entry.action if entry else None,
            "from": entry.source if entry else None,
            "gates": [g.get("gate") for g in entry.gates if g.get("status") == "passed"] if entry else [],
            "record": entry.record if entry else None,
            "recorded": entry is not None,
        }


def environment_status(
    store: Store, environments: Iterable[str], *, tags: list[str] | None = None
) -> list[EnvironmentStatus]:
    """Per environment: what its tag holds now and the newest history entry for that digest."""
    tag_list = store.list_tags() if tags is None else tags
    result: list[EnvironmentStatus] = []
    for environment in environments:
        digest = current_digest(store, environment) if environment in tag_list else None
        entry = None
        if digest is not None:
            for ref in list_facts(store, kind="hist", environment=environment, digest=digest, tags=tag_list):
                try:
                    candidate = read_entry(store, ref)
                except ManifestError:
                    continue
                if candidate.digest == digest:
                    entry = candidate
                    break
        result.append(EnvironmentStatus(environment, digest, entry))
    return result


def where(
    store: Store, digest: Digest, environments: Iterable[str] = (), *, tags: list[str] | None = None
) -> dict[str, Any]:
    """The environments that hold ``digest`` now (among ``environments`` and those with history),
    and for each environment whose history says it held the digest, those entries."""
    tag_list = store.list_tags() if tags is None else tags
    held: dict[str, list[HistoryEntry]] = {}
    for ref in list_facts(store, kind="hist", digest=digest, tags=tag_list):
        try:
            entry = read_entry(store, ref)
        except ManifestError:
            continue
        if entry.digest == digest:
            held.setdefault(entry.environment, []).append(entry)
    candidates = {*held, *(env for env in environments if env in tag_list)}
    now = sorted(env for env in candidates if current_digest(store, env) == digest)
    return {"digest": str(digest), "holds": now, "held": held}
