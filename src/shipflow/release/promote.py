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
with a record to show for it, changes nothing and succeeds. Refusals raise
:class:`~shipflow.errors.PromotionRefused` (exit 1) carrying the partial result; infrastructure
failures raise as they are (exit 3).
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
from shipflow.release.config import EnvironmentSettings, PipelineConfig, load_config
from shipflow.release.gates import PromotionContext, gates_for, trusted_policy
from shipflow.release.history import Action, HistoryEntry, current_digest, record_entry
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
    if previous != request.digest:
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
    if target.deploy is not None and previous != request.digest:
        deploy_started = time.monotonic()
        result.deployed = _deploy(pipeline, target, request.digest, previous, env_vars, sink)
        result.seconds["deploy"] = time.monotonic() - deploy_started

    # 6. the signed record, then the history entry
    assert signer is not None
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
    written = write_record(store, request.digest, signer, predicate, subject_name=pipeline.name)
    result.record, result.cosign_record = written.ref.tag, written.cosign_tag
    if written.cosign_tag is None:
        result.notes.append("the record is in the ledger but could not be copied to the .att image")
    sink.emit("promote.recorded", f"record {written.ref.tag}", record=written.ref.tag)
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
        record=written.ref.tag,
    )
    result.history = record_entry(store, entry).tag
    result.seconds["history"] = time.monotonic() - history_started
    result.status = "promoted"
    result.seconds["total"] = time.monotonic() - started
    sink.emit("promote.done", f"{target.name} now holds {request.digest}", result=result.to_json())
    return result


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
