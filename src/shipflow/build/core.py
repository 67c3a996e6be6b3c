"""``build_image``: build a Dockerfile once into a store and return the image's digest.

The steps, each reported as an event:

1. **inputs** — the source (revision, commit time, repository, version; :mod:`.source`), the
   Dockerfile's digest, the context's digest (:mod:`.context`), build arguments, platform,
   target and extra labels make :class:`~shipflow.build._inputs.BuildInputs`; their
   fingerprint names the build.
2. **reuse** — if the store already has ``build-<fingerprint>`` (and that image's fingerprint
   label agrees), nothing is built: the result is that digest, ``reused=True``. ``rebuild``
   builds anyway (and reports whether the new digest equals the old one).
3. **build** — the base images are resolved to digests, then the backend builds with
   ``SOURCE_DATE_EPOCH`` (the commit time unless given) as the timestamp and the OCI labels
   ``org.opencontainers.image.{revision,source,created,version}`` plus the fingerprint label,
   into an OCI layout in a temporary directory.
4. **store** — shipflow's verified copy moves the image into the store (blobs, manifest,
   then the ``build-<fingerprint>`` tag), then the requested tags; the digest must be the one
   the builder reported.

The library never prints: progress goes to the ``events`` sink (kinds ``build.inputs``,
``build.reused``, ``build.started``, ``build.built``, ``build.stored``, ``build.tagged``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipflow.build._builders import (
    Builder,
    BuilderChoice,
    BuilderOptions,
    BuildRequest,
    builder_for,
    host_platform,
)
from shipflow.build._context import ContextDigest, digest_context
from shipflow.build._dockerfile import parse_dockerfile
from shipflow.build._inputs import FINGERPRINT_LABEL, BuildInputs, fingerprint_tag
from shipflow.build.errors import BuildFailed
from shipflow.build.source import SourceInfo, discover_source
from shipflow.errors import InfrastructureError, IntegrityError, ManifestNotFound, UsageError
from shipflow.events import EventSink, NullSink
from shipflow.fsutil import read_capped
from shipflow.oci.digest import Digest
from shipflow.oci.reference import Reference, parse_reference, validate_tag
from shipflow.oci.registry.config import RegistryConfig
from shipflow.oci.store import Store
from shipflow.timeutil import format_utc, utc_timestamp

__all__ = ["BaseImageDigest", "BuildResult", "BuildSettings", "build_image", "image_labels", "read_labels"]

OCI_REVISION = "org.opencontainers.image.revision"
OCI_SOURCE = "org.opencontainers.image.source"
OCI_CREATED = "org.opencontainers.image.created"
OCI_VERSION = "org.opencontainers.image.version"

_DOCKERFILE_LIMIT = 1024 * 1024
_CONFIG_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class BuildSettings:
    """One build, as the CLI or ``shipflow release`` asks for it. Keyword-only."""

    context: Path
    image: str  # the store without tag: ``oci:./store`` or ``ghcr.io/org/app``
    dockerfile: Path | None = None  # default: CONTEXT/Dockerfile
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    platform: str | None = None  # default: this machine's (linux/amd64)
    target: str | None = None
    builder: BuilderChoice = BuilderChoice.AUTO
    builder_options: BuilderOptions | None = None
    revision: str | None = None
    repository: str | None = None  # the source repository URL
    version: str | None = None
    source_date_epoch: int | None = None  # default: $SOURCE_DATE_EPOCH, else the commit time
    rebuild: bool = False
    builder_id: str | None = None  # the provenance's builder.id; default from the CI run
    registry: RegistryConfig | None = None
    timeout: float = 3600.0
    environ: Mapping[str, str] | None = None


@dataclass(frozen=True)
class BaseImageDigest:
    """A base image the build started from, and the digest it had."""

    ref: str
    digest: Digest


@dataclass(frozen=True)
class BuildResult:
    """The image a build produced (or reused), and everything its provenance needs."""

    image: Reference  # the store pinned to the digest: ``oci:./store@sha256:…``
    digest: Digest
    reused: bool
    inputs: BuildInputs
    source: SourceInfo
    context: ContextDigest
    labels: Mapping[str, str]  # the labels the image carries (OCI ones, fingerprint, extra)
    tags: tuple[str, ...]  # the tags now naming the digest (``build-<fp>`` first)
    source_date_epoch: int
    builder: str | None  # "buildah" / "buildx"; None when reused
    builder_version: str | None
    builder_id: str
    invocation_id: str
    base_images: tuple[BaseImageDigest, ...] = ()
    started_on: str = ""
    finished_on: str = ""
    previous_digest: Digest | None = None  # with rebuild: what build-<fp> named before
    dockerfile_path: str = "Dockerfile"

    @property
    def fingerprint(self) -> str:
        return self.inputs.fingerprint

    @property
    def version(self) -> str:
        return self.labels.get(OCI_VERSION, self.source.version)

    def to_json(self) -> dict[str, Any]:
        return {
            "image": str(self.image),
            "digest": str(self.digest),
            "reused": self.reused,
            "fingerprint": self.fingerprint,
            "tags": list(self.tags),
            "revision": self.source.revision,
            "version": self.version,
            "source": self.source.repository,
            "dirty": self.source.dirty,
            "sourceDateEpoch": self.source_date_epoch,
            "labels": dict(self.labels),
            "builder": self.builder,
            "builderVersion": self.builder_version,
            "baseImages": [{"ref": b.ref, "digest": str(b.digest)} for b in self.base_images],
            "previousDigest": str(self.previous_digest) if self.previous_digest else None,
            "inputs": self.inputs.to_json(),
            "startedOn": self.started_on,
            "finishedOn": self.finished_on,
        }


def image_labels(
    source: SourceInfo, epoch: int, fingerprint: str, extra: Mapping[str, str]
) -> dict[str, str]:
    """The labels a build sets: the user's, then the OCI ones and the fingerprint (which win)."""
    labels = dict(extra)
    labels[OCI_REVISION] = source.revision
    labels[OCI_CREATED] = format_utc(datetime.fromtimestamp(epoch, UTC))
    labels[OCI_VERSION] = source.version
    if source.repository:
        labels[OCI_SOURCE] = source.repository
    labels[FINGERPRINT_LABEL] = fingerprint
    return labels


def _check_kv(kind: str, items: Mapping[str, str]) -> None:
    for key in items:
        if not key or "=" in key or any(c.isspace() for c in key):
            raise UsageError(f"{kind} name {key!r} is not valid", hint=f"use NAME=value for --{kind}")


def _epoch(settings: BuildSettings, source: SourceInfo, env: Mapping[str, str]) -> int:
    if settings.source_date_epoch is not None:
        return settings.source_date_epoch
    text = env.get("SOURCE_DATE_EPOCH", "").strip()
    if text:
        if not text.isdigit():
            raise UsageError(f"SOURCE_DATE_EPOCH={text!r} is not a whole number of seconds")
        return int(text)
    return source.commit_time if source.commit_time is not None else 0


def _invocation_id(env: Mapping[str, str]) -> str:
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        attempt = env.get("GITHUB_RUN_ATTEMPT", "1")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}/attempts/{attempt}"
    return f"urn:uuid:{uuid.uuid4()}"


def _builder_id(settings: BuildSettings, builder: str, env: Mapping[str, str]) -> str:
    if settings.builder_id:
        return settings.builder_id
    if env.get("GITHUB_WORKFLOW_REF"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        return f"{server}/{env['GITHUB_WORKFLOW_REF']}"
    return f"urn:shipflow:builder:local:{builder}"


def _store_ref(image: str) -> Reference:
    ref = parse_reference(image)
    if ref.tag is not None or ref.digest is not None:
        raise UsageError(
            f"--image {image} names a tag or digest; give the repository only",
            hint="e.g. --image oci:./store or --image ghcr.io/org/app, and --tag for tags",
        )
    return ref


def _open(ref: Reference, config: RegistryConfig | None) -> Store:
    from shipflow.oci.open import open_store

    return open_store(ref, config=config, create=ref.is_layout)


def read_labels(store: Store, digest: Digest) -> dict[str, str]:
    """The ``config.Labels`` of the image ``digest`` in ``store`` ({} for none)."""
    from shipflow.oci.models import Manifest

    manifest = store.get_manifest(str(digest)).parse()
    if not isinstance(manifest, Manifest):
        return {}
    if manifest.config.size > _CONFIG_LIMIT:
        raise IntegrityError(f"the config of {digest} is {manifest.config.size} bytes; refusing to read it")
    with store.open_blob(manifest.config.digest) as chunks:
        data = b"".join(chunks)
    try:
        labels = (json.loads(data).get("config") or {}).get("Labels") or {}
    except (ValueError, AttributeError) as exc:
        raise IntegrityError(f"the config of {digest} is not valid JSON") from exc
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


def _existing_build(store: Store, tag: str, fingerprint: str) -> Digest | None:
    """The digest ``tag`` names, if its image carries ``fingerprint``; None when absent."""
    try:
        descriptor = store.resolve(tag)
    except ManifestNotFound:
        return None
    recorded = read_labels(store, descriptor.digest).get(FINGERPRINT_LABEL)
    if recorded != fingerprint:
        raise BuildFailed(
            f"the tag {tag} names {descriptor.digest}, whose fingerprint label is {recorded!r}, "
            f"not {fingerprint}: the store does not say truthfully what was built from these inputs",
            hint="build again with --rebuild (the tag is then pointed at the new image)",
        )
    return descriptor.digest


def _resolve_layout_base(ref_text: str) -> Digest:
    from shipflow.oci.open import open_store

    try:
        ref = parse_reference(ref_text)
        return open_store(ref).resolve(ref.identifier).digest
    except (ManifestNotFound, InfrastructureError) as exc:
        raise UsageError(
            f"base image {ref_text} is not there: {exc}",
            hint="build or copy the base image into that layout first",
        ) from exc


def _resolve_registry_base(
    ref_text: str, config: RegistryConfig | None, *, ask_registry: bool
) -> Digest | None:
    """A registry base's digest: as written (``…@sha256:``), else from the registry when the
    builder cannot tell which digest it pulled (``ask_registry``), else None (the builder tells)."""
    try:
        ref = parse_reference(ref_text)
    except UsageError:
        ref = None
    if ref is not None and ref.digest is not None:
        return ref.digest
    if not ask_registry or ref is None:
        return None
    from shipflow.oci.open import open_store

    return open_store(ref, config=config).resolve(ref.identifier).digest


def build_image(settings: BuildSettings, *, events: EventSink | None = None) -> BuildResult:
    """Build (or reuse) the image ``settings`` describe; see the module docstring."""
    sink = events or NullSink()
    env: Mapping[str, str] = os.environ if settings.environ is None else settings.environ
    started = time.monotonic()
    started_on = utc_timestamp()

    store_ref = _store_ref(settings.image)  # a malformed --image fails before any work
    context = settings.context.resolve()
    dockerfile = (settings.dockerfile or context / "Dockerfile").resolve()
    for tag in settings.tags:
        validate_tag(tag)
    _check_kv("build-arg", settings.build_args)
    _check_kv("label", settings.labels)
    content_bytes = read_capped(dockerfile, _DOCKERFILE_LIMIT, what="Dockerfile")
    try:
        content = content_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{dockerfile} is not UTF-8 text", hint="save the Dockerfile as UTF-8") from exc
    info = parse_dockerfile(content, settings.build_args)
    if settings.target and settings.target.lower() not in {s.lower() for s in info.stages if s}:
        raise UsageError(
            f"--target {settings.target}: the Dockerfile has no stage of that name",
            hint=f"stages: {', '.join(s for s in info.stages if s) or '(none named)'}",
        )

    source = discover_source(
        context,
        dockerfile,
        revision=settings.revision,
        repository=settings.repository,
        version=settings.version,
        environ=env,
    )
    if source.dirty:
        sink.emit(
            "build.dirty",
            "the work tree has uncommitted changes under the context: the revision label does not "
            "describe them (the context digest does)",
            revision=source.revision,
        )
    ctx = digest_context(context, dockerfile=dockerfile)
    try:
        dockerfile_rel = dockerfile.relative_to(context).as_posix()
    except ValueError:
        dockerfile_rel = dockerfile.name
    platform = settings.platform or host_platform()
    inputs = BuildInputs.create(
        revision=source.revision,
        dockerfile=dockerfile_rel,
        dockerfile_digest=str(Digest.of(content_bytes)),
        context_digest=ctx.digest,
        build_args=settings.build_args,
        platform=platform,
        target=settings.target,
        labels=settings.labels,
    )
    fingerprint = inputs.fingerprint
    build_tag = fingerprint_tag(fingerprint)
    epoch = _epoch(settings, source, env)
    sink.emit(
        "build.inputs",
        f"build inputs {fingerprint[:19]}…: revision {source.revision[:12]}, context {ctx.files} entries "
        f"({ctx.bytes} bytes), platform {platform}",
        fingerprint=fingerprint,
        inputs=inputs.to_json(),
        context_files=ctx.files,
        context_bytes=ctx.bytes,
    )

    store = _open(store_ref, settings.registry)
    try:
        existing = _existing_build(store, build_tag, fingerprint)
    except BuildFailed as exc:
        if not settings.rebuild:
            raise
        existing = None  # --rebuild: the new image takes the tag over
        sink.emit("build.tag-replaced", f"{exc.message}; --rebuild replaces it", tag=build_tag)
    invocation = _invocation_id(env)
    if existing is not None and not settings.rebuild:
        tags = _apply_tags(store, existing, settings.tags, sink)
        labels = read_labels(store, existing)
        sink.emit(
            "build.reused",
            f"reused {existing}: {store_ref.name} already holds an image built from these inputs "
            f"(tag {build_tag}); nothing was built (--rebuild to build again)",
            digest=str(existing),
            tag=build_tag,
        )
        return BuildResult(
            image=store_ref.by_digest(existing),
            digest=existing,
            reused=True,
            inputs=inputs,
            source=source,
            context=ctx,
            labels=labels,
            tags=(build_tag, *tags),
            source_date_epoch=epoch,
            builder=None,
            builder_version=None,
            builder_id=_builder_id(settings, "reused", env),
            invocation_id=invocation,
            started_on=started_on,
            finished_on=utc_timestamp(),
            dockerfile_path=dockerfile_rel,
        )

    labels = image_labels(source, epoch, fingerprint, settings.labels)
    options = settings.builder_options or BuilderOptions.from_env(env)
    workdir = Path(tempfile.mkdtemp(prefix="shipflow-build-"))
    try:
        with _closing(builder_for(settings.builder, options)) as builder:
            pre_resolved: dict[str, Digest | None] = {}
            for base in info.bases:
                pre_resolved[base.ref] = (
                    _resolve_layout_base(base.ref)
                    if base.is_layout
                    else _resolve_registry_base(
                        base.ref, settings.registry, ask_registry=not builder.reports_base_digests
                    )
                )
            request = BuildRequest(
                context=context,
                dockerfile=dockerfile,
                build_args=dict(settings.build_args),
                labels=labels,
                platform=platform,
                target=settings.target,
                timestamp=epoch,
                name=f"localhost/shipflow-build/image:{fingerprint.removeprefix('sha256:')[:16]}",
                output=workdir / "layout",
                timeout=settings.timeout,
                on_output=lambda line: _builder_line(sink, line),
            )
            sink.emit(
                "build.started",
                f"building {dockerfile_rel} with {builder.name} for {platform} (SOURCE_DATE_EPOCH={epoch})",
                builder=builder.name,
                platform=platform,
                source_date_epoch=epoch,
            )
            output = builder.build(request, pre_resolved)
            version = builder.version()
            builder_name = builder.name
        bases = []
        for base in info.bases:
            digest = output.base_digests.get(base.ref) or pre_resolved.get(base.ref)
            if digest is None:
                raise InfrastructureError(
                    f"cannot tell which digest of base image {base.ref} the build used",
                    hint="pin the base image by digest in the Dockerfile (FROM name@sha256:…)",
                )
            expected = pre_resolved.get(base.ref)
            if expected is not None and digest != expected:
                raise BuildFailed(
                    f"base image {base.ref} was {expected} when the build started, "
                    f"but the build used {digest}",
                    hint="the base moved during the build: build again",
                )
            bases.append(BaseImageDigest(base.ref, digest))
        sink.emit(
            "build.built", f"built {output.digest} with {builder_name} {version}", digest=str(output.digest)
        )
        stored = _store(output.layout, output.digest, store, build_tag)
        sink.emit("build.stored", f"stored {stored} in {store_ref.name} as {build_tag}", digest=str(stored))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    tags = _apply_tags(store, stored, settings.tags, sink)
    if existing is not None and existing != stored:
        sink.emit(
            "build.rebuilt",
            f"rebuilt: {stored} differs from the earlier build of the same inputs {existing} "
            "(the builder is not reproducible for this Dockerfile)",
            digest=str(stored),
            previous=str(existing),
        )
    finished_on = utc_timestamp()
    sink.emit("build.finished", f"build done in {time.monotonic() - started:.1f} s", digest=str(stored))
    return BuildResult(
        image=store_ref.by_digest(stored),
        digest=stored,
        reused=False,
        inputs=inputs,
        source=source,
        context=ctx,
        labels=labels,
        tags=(build_tag, *tags),
        source_date_epoch=epoch,
        builder=builder_name,
        builder_version=version,
        builder_id=_builder_id(settings, builder_name, env),
        invocation_id=invocation,
        base_images=tuple(bases),
        started_on=started_on,
        finished_on=finished_on,
        previous_digest=existing,
        dockerfile_path=dockerfile_rel,
    )


def _builder_line(sink: EventSink, line: str) -> None:
    """Builder output as events: the step lines as ``build.step`` (progress a person can
    follow), everything else as ``build.output`` (for -v and logs)."""
    text = line.strip()
    if text.startswith(("STEP ", "#")) and ("STEP" in text or "[" in text):
        sink.emit("build.step", text, line=text)
    else:
        sink.emit("build.output", text, line=text)


class _closing:
    """``with _closing(builder) as b:`` — close the builder's temporary state at the end."""

    def __init__(self, builder: Builder) -> None:
        self._builder = builder

    def __enter__(self) -> Builder:
        return self._builder

    def __exit__(self, *exc: object) -> None:
        self._builder.close()


def _store(layout: Path, digest: Digest, store: Store, build_tag: str) -> Digest:
    """Copy the built image from the builder's layout into ``store`` under ``build_tag``."""
    from shipflow.oci.copy import copy_image
    from shipflow.oci.layout import LayoutStore

    result = copy_image(LayoutStore(layout), str(digest), store, build_tag)
    if result.digest != digest:
        raise IntegrityError(f"the builder reported {digest} but the image stored is {result.digest}")
    return result.digest


def _apply_tags(store: Store, digest: Digest, tags: tuple[str, ...], sink: EventSink) -> tuple[str, ...]:
    for tag in tags:
        store.tag(digest, tag)
        sink.emit("build.tagged", f"tagged {digest} as {tag}", digest=str(digest), tag=tag)
    return tags
