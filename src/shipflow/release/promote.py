"""Promotion by digest: the heart of the specification's ``promote.yml``.

    pipeline = Pipeline.load(find_config())
    result = promote(pipeline, PromotionRequest(digest, "dev", "staging", actor="dev-login-1"),
                     signer=key, events=bus)

In order, stopping at the first refusal:

1. the path is in the config (``dev → production`` is refused, naming the allowed paths);
2. the actor holds a role the target environment accepts;
3. the digest exists, and is in the source environment now (its tag resolves to it) or carries
   a verified promotion record into it — stages cannot be skipped;
4. the target's gates run in order (signature always first), each with its evidence; the first
   failure stops them unless ``keep_going``;
5. re-tag: one manifest PUT of the digest's original bytes under the target tag, read back;
6. a signed promotion record, then a history entry.

``dry_run`` stops after 4 and changes nothing. Promoting a digest the target already holds,
with a record to show for it, changes nothing and succeeds.

When the registry fails after the re-tag (measured with the fault proxy in
``tests/reliability/test_faults_pipeline.py``), the promotion is never left half done without
saying so, and running it again completes it:

* the record cannot be written: the tag is put back where it was (no move without a signed
  record: a digest must not go on to the next stage from a tag nobody can prove it earned),
  unless a deploy already ran (the tag then says what runs) or the environment held nothing
  before (a tag cannot be removed); the error says which. Run again, the promotion re-runs
  the gates and records; a target that already holds the digest without a record takes what
  it held before from its history;
* the record is written but the history entry is not: the error says so, and running the
  promotion again ("already holds it") adds the missing entry, with the record's ``previous``.

Refusals raise :class:`~shipflow.errors.PromotionRefused` (exit 1) carrying the partial result;
infrastructure failures raise as they are (exit 3).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipflow.errors import (
    ConfigError,
    GateFailed,
    IntegrityError,
    ManifestNotFound,
    PromotionRefused,
    ShipflowError,
    UsageError,
)
from shipflow.events import EventSink, NullSink
from shipflow.gate import AllOf, Evidence, GateStatus
from shipflow.oci.digest import Digest
from shipflow.oci.reference import Reference, parse_reference
from shipflow.oci.registry.config import RegistryConfig
from shipflow.oci.store import Store
from shipflow.release._ledger import FactRef, list_facts, new_fact_tag
from shipflow.release._statements import SignedFact
from shipflow.release.config import EnvironmentSettings, PipelineConfig, load_config
from shipflow.release.gates import PromotionContext, gates_for, trusted_policy
from shipflow.release.history import Action, HistoryEntry, current_digest, history, record_entry
from shipflow.release.records import find_record, promotion_predicate, write_record
from shipflow.signing.keys import Signer

__all__ = ["Pipeline", "PromotionRequest", "PromotionResult", "promote", "resolve_actor"]


@dataclass(frozen=True)
class Pipeline:
    """The settings object every pipeline command is built on: the validated config and the
    store holding the image's repository (layout or registry), opened once."""

    config: PipelineConfig
    store: Store
    image: Reference

    @classmethod
    def load(cls, config_path: Path, registry: RegistryConfig | None = None) -> Pipeline:
        return cls.open(load_config(config_path), registry)

    @classmethod
    def open(cls, config: PipelineConfig, registry: RegistryConfig | None = None) -> Pipeline:
        from shipflow.oci.open import open_store

        ref = parse_reference(config.image)
        create = ref.is_layout  # the embedded default: a new layout is created on first use
        return cls(config, open_store(ref, config=registry, create=create), ref)

    @property
    def name(self) -> str:
        return self.image.name

    def pinned(self, digest: Digest) -> str:
        return f"{self.image.name}@{digest}"


def resolve_actor(explicit: str | None, environ: Mapping[str, str] | None = None) -> str:
    """Who is acting: ``--actor``, else ``$GITHUB_ACTOR``. Inside GitHub Actions the actor is
    GitHub's word for it: a different ``--actor`` is refused, not trusted."""
    env = os.environ if environ is None else environ
    github_actor = env.get("GITHUB_ACTOR", "")
    if env.get("GITHUB_ACTIONS") == "true" and github_actor and explicit and explicit != github_actor:
        raise UsageError(
            f"--actor {explicit} differs from GITHUB_ACTOR={github_actor}",
            hint="in GitHub Actions the actor is the one GitHub names; drop --actor",
        )
    actor = explicit or github_actor
    if not actor:
        raise UsageError("who is promoting? no --actor and no GITHUB_ACTOR", hint="pass --actor LOGIN")
    return actor


@dataclass(frozen=True)
class PromotionRequest:
    digest: Digest
    source: str | None  # None: the configured source of the target (or none, for an entry stage)
    target: str
    actor: str
    dry_run: bool = False
    keep_going: bool = False


@dataclass
class PromotionResult:
    image: str
    digest: Digest
    source: str | None
    target: str
    actor: str
    status: str = "refused"  # promoted | already-promoted | dry-run | refused
    previous: Digest | None = None
    evidence: list[Evidence] = field(default_factory=list)
    record: str | None = None
    cosign_record: str | None = None
    deployed: str | None = None  # what the environment's deploy target reported
    history: str | None = None
    reason: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def promoted(self) -> bool:
        return self.status in ("promoted", "already-promoted")

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "digest": str(self.digest),
            "from": self.source,
            "to": self.target,
            "actor": self.actor,
            "status": self.status,
            "promoted": self.promoted,
            "previous": str(self.previous) if self.previous else None,
            "gates": [e.to_json() for e in self.evidence],
            "record": self.record,
            "cosignRecord": self.cosign_record,
            "deployed": self.deployed,
            "history": self.history,
            "reason": self.reason,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
            "notes": self.notes,
        }


def _refuse(result: PromotionResult, message: str, hint: str | None, events: EventSink) -> PromotionRefused:
    result.status, result.reason = "refused", message
    events.emit("promote.refused", message, reason=message)
    return PromotionRefused(message, result=result, hint=hint)


def promote(
    pipeline: Pipeline,
    request: PromotionRequest,
    *,
    signer: Signer | None,
    events: EventSink | None = None,
    environ: Mapping[str, str] | None = None,
) -> PromotionResult:
    """Promote ``request.digest`` into ``request.target`` (see the module docstring)."""
    sink = events or NullSink()
    env_vars = dict(os.environ if environ is None else environ)
    config, store = pipeline.config, pipeline.store
    target = config.environment(request.target)
    source = request.source if request.source is not None else target.source
    result = PromotionResult(pipeline.name, request.digest, source, target.name, request.actor)
    started = time.monotonic()
    sink.emit(
        "promote.started",
        f"promoting {pipeline.pinned(request.digest)} {source or 'build'} → {target.name}",
        digest=str(request.digest),
        source=source,
        target=target.name,
        actor=request.actor,
    )

    # 1. the path
    if source != target.source:
        raise _refuse(
            result,
            f"{source or 'build'} → {target.name} is not an allowed path",
            f"the allowed paths are: {config.describe_paths()}",
            sink,
        )
    # 2. the actor's role
    if not set(config.roles_of(request.actor)).intersection(target.promoted_by):
        held = config.roles_of(request.actor)
        raise _refuse(
            result,
            f"{request.actor} may not promote to {target.name} "
            f"(needs role {' or '.join(target.promoted_by)}; has {', '.join(held) or 'no role'})",
            f"ask someone with role {target.promoted_by[0]}, "
            f"or add {request.actor} to it in {config.path.name}",
            sink,
        )
    if signer is None and not request.dry_run:
        raise UsageError(
            "promotion records are signed, and no signing key was given",
            hint="pass --key KEY or set COSIGN_PRIVATE_KEY (and COSIGN_PASSWORD)",
        )
    # 3. the digest, and where it is now
    try:
        manifest = store.get_manifest(str(request.digest))
    except ManifestNotFound as exc:
        exc.hint = exc.hint or f"push the image first; `shipflow tags {pipeline.name}` lists what is there"
        raise
    tags = store.list_tags()
    record_policy = trusted_policy(config.record_keys)
    if source is not None:
        in_source = current_digest(store, source) == request.digest if source in tags else False
        if not in_source and find_record(store, request.digest, source, record_policy, tags=tags) is None:
            holder = current_digest(store, source) if source in tags else None
            now = f"{source} holds {holder}" if holder else f"{source} holds nothing"
            raise _refuse(
                result,
                f"{request.digest} is not in {source} ({now}) and has no verified promotion record into it",
                f"promote it to {source} first: stages cannot be skipped",
                sink,
            )
    previous = current_digest(store, target.name) if target.name in tags else None
    result.previous = previous
    if previous == request.digest:
        existing = find_record(store, request.digest, target.name, record_policy, source=source, tags=tags)
        if existing is not None:
            result.status, result.record = "already-promoted", existing.ref.tag
            result.reason = f"{target.name} already holds {request.digest} (record {existing.ref.tag})"
            result.history = _complete_history(store, existing, request, target.name, tags, sink)
            sink.emit("promote.unchanged", result.reason)
            result.seconds["total"] = time.monotonic() - started
            return result
    result.seconds["checks"] = time.monotonic() - started

    # 4. the gates: they test the digest where it runs now, the source environment
    source_env = config.environment(source) if source is not None else None
    env_url = (
        source_env.url.resolve(env_vars) if source_env is not None and source_env.url is not None else None
    )
    target_url = target.url.resolve(env_vars) if target.url is not None else None
    ctx = PromotionContext(
        store=store,
        digest=request.digest,
        reference=pipeline.image,
        source=source,
        target=target.name,
        actor=request.actor,
        image=pipeline.name,
        env_url=env_url,
        target_url=target_url,
        environ=env_vars,
    )

    def on_evidence(evidence: Evidence) -> None:
        result.evidence.append(evidence)
        kind = {GateStatus.PASSED: "gate.passed", GateStatus.FAILED: "gate.failed"}.get(
            evidence.status, "gate.skipped"
        )
        sink.emit(kind, f"{evidence.gate}: {evidence.summary}", evidence=evidence.to_json())

    gate_list = gates_for(config, target)
    for gate in gate_list:
        sink.emit("gate.planned", gate.name, gate=gate.name)
    gates_started = time.monotonic()
    try:
        AllOf(gate_list, keep_going=request.keep_going, name="gates", on_evidence=on_evidence).check(ctx)
    except GateFailed as exc:
        result.seconds["gates"] = time.monotonic() - gates_started
        raise _refuse(result, exc.message, exc.hint, sink) from exc
    result.seconds["gates"] = time.monotonic() - gates_started
    if request.dry_run:
        result.status = "dry-run"
        result.reason = f"every check and gate passed: {request.digest} would move to {target.name}"
        sink.emit("promote.dry-run", result.reason)
        result.seconds["total"] = time.monotonic() - started
        return result

    # 5. re-tag: the digest's own bytes under the target tag, then read back
    retag_started = time.monotonic()
    moved = previous != request.digest
    if moved:
        store.put_manifest(manifest, tag=target.name)
        holds = store.resolve(target.name).digest
        if holds != request.digest:
            raise IntegrityError(
                f"{target.name} resolves to {holds} right after it was set to {request.digest}: "
                "another promotion moved it at the same time",
                hint=f"check `shipflow status`; run the promotion again if {target.name} should hold it",
            )
    sink.emit(
        "promote.retagged", f"{target.name} → {request.digest}", previous=str(previous) if previous else None
    )
    result.seconds["retag"] = time.monotonic() - retag_started
    deployed = target.deploy is not None and moved
    if deployed:
        deploy_started = time.monotonic()
        result.deployed = _deploy(pipeline, target, request.digest, previous, env_vars, sink)
        result.seconds["deploy"] = time.monotonic() - deploy_started

    # 6. the signed record, then the history entry. When the target already held the digest
    # (an earlier run moved the tag and could not record it), what it held before comes from
    # its history, not from the tag.
    assert signer is not None
    if not moved:
        previous = result.previous = _held_before(store, target.name, request.digest, tags)
    record_started = time.monotonic()
    predicate = promotion_predicate(
        image=pipeline.name,
        digest=request.digest,
        source=source,
        target=target.name,
        actor=request.actor,
        previous=previous,
        evidence=result.evidence,
    )
    record_tag = new_fact_tag("rec", request.digest, target.name)
    try:
        written = write_record(
            store, request.digest, signer, predicate, subject_name=pipeline.name, tag=record_tag
        )
        result.record, result.cosign_record = written.ref.tag, written.cosign_tag
    except ShipflowError as exc:
        landed = _fact_exists(store, record_tag)
        if landed is not True:
            may_restore = moved and not deployed and landed is False
            _not_recorded(store, target.name, request.digest, previous, may_restore, exc, sink)
            raise
        result.record = record_tag  # it was written; only the answer was lost
    if result.cosign_record is None:
        result.notes.append("the record is in the ledger but could not be copied to the .att image")
    sink.emit("promote.recorded", f"record {result.record}", record=result.record)
    result.seconds["record"] = time.monotonic() - record_started
    history_started = time.monotonic()
    entry = HistoryEntry(
        environment=target.name,
        digest=request.digest,
        action=Action.PROMOTE,
        actor=request.actor,
        previous=previous,
        source=source,
        gates=tuple(
            {"gate": e.gate, "status": e.status.value, "summary": e.summary} for e in result.evidence
        ),
        record=result.record,
    )
    try:
        result.history = record_entry(store, entry).tag
    except ShipflowError as exc:
        result.history = _entry_naming(store, target.name, request.digest, result.record)
        if result.history is None:
            exc.message = (
                f"{exc.message}; {target.name} holds {request.digest} and its promotion record "
                f"{result.record} is written, but the history entry is missing"
            )
            exc.hint = "run the same `shipflow promote` again: it adds the missing entry, nothing else"
            raise
    result.seconds["history"] = time.monotonic() - history_started
    result.status = "promoted"
    result.seconds["total"] = time.monotonic() - started
    sink.emit("promote.done", f"{target.name} now holds {request.digest}", result=result.to_json())
    return result


def _held_before(store: Store, environment: str, digest: Digest, tags: list[str]) -> Digest | None:
    """What ``environment`` held before its tag moved to ``digest`` in a run that recorded
    nothing: the digest of its newest history entry (the tag itself already names ``digest``).
    If that entry is ``digest``'s, the move was recorded (by a canary, say): it held ``digest``."""
    entries = history(store, environment, limit=1, tags=tags)
    return entries[0].digest if entries else None


def _fact_exists(store: Store, tag: str) -> bool | None:
    """Whether the fact under ``tag`` was stored (None: the registry cannot say now)."""
    try:
        store.resolve(tag)
    except ManifestNotFound:
        return False
    except ShipflowError:
        return None
    return True


def _not_recorded(
    store: Store,
    environment: str,
    digest: Digest,
    previous: Digest | None,
    may_restore: bool,
    exc: ShipflowError,
    sink: EventSink,
) -> None:
    """The record could not be written after the tag moved: put the tag back when that is
    safe (this run moved it, nothing was deployed, the record is known to be absent, there is
    something to put back, and the tag still names ``digest``), and say what the environment
    holds either way (in ``exc``'s message and hint)."""
    restored = False
    if may_restore and previous is not None:
        try:
            if current_digest(store, environment) == digest:
                store.tag(previous, environment)
                restored = current_digest(store, environment) == previous
        except ShipflowError:
            restored = False
    if restored:
        sink.emit("promote.restored", f"{environment} → {previous} again: the promotion was not recorded")
        exc.message = (
            f"{exc.message}; the promotion was not recorded, so {environment} was put back to {previous}"
        )
        exc.hint = "nothing changed: run the promotion again when the registry answers"
    else:
        exc.message = f"{exc.message}; {environment} holds {digest}, but its promotion is not recorded"
        exc.hint = (
            "run the same `shipflow promote` again: it runs the gates again and writes the record "
            "(the tag is already in place)"
        )


def _entry_naming(store: Store, environment: str, digest: Digest, record: str | None) -> str | None:
    """The tag of a history entry of ``digest`` in ``environment`` that names ``record``."""
    from shipflow.release.history import read_entry

    for ref in list_facts(store, kind="hist", environment=environment, digest=digest):
        try:
            entry = read_entry(store, ref)
        except ShipflowError:
            continue
        if entry.digest == digest and entry.record == record:
            return ref.tag
    return None


def _complete_history(
    store: Store,
    record: SignedFact,
    request: PromotionRequest,
    environment: str,
    tags: list[str],
    sink: EventSink,
) -> str | None:
    """The history entry of a promotion already recorded; written now if an earlier run
    stopped between the record and the entry (from the record: its actor, time, previous
    digest and gates)."""
    existing = _entry_naming(store, environment, request.digest, record.ref.tag)
    if existing is not None:
        return existing
    predicate = record.predicate
    previous = predicate.get("previous")
    gates = predicate.get("gates")
    entry = HistoryEntry(
        environment=environment,
        digest=request.digest,
        action=Action.PROMOTE,
        actor=str(predicate.get("actor") or request.actor),
        at=str(predicate.get("promotedAt") or ""),
        previous=Digest.parse(str(previous)) if previous else None,
        source=str(predicate["from"]) if predicate.get("from") else None,
        gates=tuple(
            {"gate": g.get("gate"), "status": g.get("status"), "summary": g.get("summary")}
            for g in (gates if isinstance(gates, list) else [])
            if isinstance(g, Mapping)
        ),
        record=record.ref.tag,
    )
    written: FactRef = record_entry(store, entry)
    sink.emit(
        "promote.history-completed",
        f"history entry {written.tag} added for record {record.ref.tag} (an earlier run stopped before it)",
    )
    return written.tag


def check_environment_name(config: PipelineConfig, name: str) -> None:
    if name not in config.environments:
        raise ConfigError(
            f"no environment {name!r}", hint=f"the environments are: {', '.join(config.environments)}"
        )


def _deploy(
    pipeline: Pipeline,
    target: EnvironmentSettings,
    digest: Digest,
    previous: Digest | None,
    environ: Mapping[str, str],
    sink: EventSink,
) -> str:
    """Run the environment's deploy target (``environments.ENV.deploy``) for the new digest. If
    it fails, the tag is put back where it was (the environment keeps running what its tag
    names) and the DeployError goes on: the promotion is not recorded."""
    from shipflow.release.deploy import DeployRequest, deploy_settings_from_node, make_target

    settings = deploy_settings_from_node(target.deploy, environ, base_dir=pipeline.config.root)
    deployer = make_target(settings, store=pipeline.store, environ=environ)
    sink.emit("promote.deploying", f"deploying {digest} to {target.name}", target=target.name)
    try:
        outcome = deployer.deploy(DeployRequest(target.name, pipeline.name, digest, previous))
    except ShipflowError:
        if previous is not None:
            pipeline.store.tag(previous, target.name)
            sink.emit("promote.restored", f"{target.name} → {previous} again: the deploy failed")
        raise
    text = f"{outcome.target}: {outcome.summary}"
    sink.emit("promote.deployed", f"{target.name} runs {digest} ({text})")
    return text
