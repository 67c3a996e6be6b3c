"""What ``shipflow inspect`` shows: a summary of one image or index in any Store.

Reading only: the manifest (by digest, verified), for an index each child manifest, for an
image its config blob (small, size-capped), and which tags point at the digest. Finding the
tags costs one resolve per tag, so it is bounded (``tag_limit``) and says when it stopped early.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from shipflow.errors import IntegrityError, LayoutError, ManifestError, ManifestNotFound
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.models import Descriptor, ImageConfig, Index, Manifest, WireError
from shipflow.oci.store import Store

__all__ = ["ImageSummary", "PlatformEntry", "summarize", "tags_pointing_at"]

log = logging.getLogger(__name__)

# Configs are small JSON documents; anything bigger is not read (a hostile source could serve GBs).
CONFIG_SIZE_LIMIT = 4 * 1024 * 1024
# Children of an index whose manifests are fetched for layer counts.
CHILD_LIMIT = 64
# Tags resolved to find those pointing at the digest (one request each on a registry).
DEFAULT_TAG_LIMIT = 100

# cosign attachment and referrers-fallback tags point at artifacts, never at the image itself.
_ATTACHMENT_TAG = re.compile(r"^sha(256|512)-[0-9a-f]+(\.[a-z]+)?$")

Kind = Literal["index", "image", "artifact"]


@dataclass(frozen=True)
class PlatformEntry:
    """One child of an index."""

    platform: str | None
    digest: Digest
    media_type: str
    size: int
    layers: int | None = None
    layer_bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "digest": str(self.digest),
            "mediaType": self.media_type,
            "size": self.size,
            "layers": self.layers,
            "layerBytes": self.layer_bytes,
        }


@dataclass
class ImageSummary:
    """Everything ``inspect`` reports about one manifest."""

    store: str
    digest: Digest
    media_type: str
    size: int
    kind: Kind
    artifact_type: str | None = None
    subject: Digest | None = None
    layers: int | None = None
    layer_bytes: int | None = None
    created: str | None = None
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    platforms: list[PlatformEntry] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    tags_total: int = 0
    tags_checked: int = 0
    annotations: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def tags_complete(self) -> bool:
        return self.tags_checked >= self.tags_total

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "digest": str(self.digest),
            "mediaType": self.media_type,
            "size": self.size,
            "kind": self.kind,
            "artifactType": self.artifact_type,
            "subject": str(self.subject) if self.subject else None,
            "layers": self.layers,
            "layerBytes": self.layer_bytes,
            "created": self.created,
            "os": self.os,
            "architecture": self.architecture,
            "variant": self.variant,
            "platforms": [p.to_json() for p in self.platforms],
            "tags": self.tags,
            "tagsComplete": self.tags_complete,
            "annotations": self.annotations,
            "warnings": self.warnings,
        }


def summarize(
    store: Store,
    tag_or_digest: str,
    *,
    with_tags: bool = True,
    tag_limit: int = DEFAULT_TAG_LIMIT,
    known_tag: str | None = None,
    max_workers: int = 8,
) -> ImageSummary:
    """Summarise the manifest ``tag_or_digest`` names in ``store``.

    ``known_tag`` (the tag the user resolved, if any) is checked first among the tags.
    """
    descriptor = store.resolve(tag_or_digest)
    manifest = store.get_manifest(str(descriptor.digest))
    parsed = manifest.parse()
    summary = ImageSummary(
        store=store.name,
        digest=manifest.digest,
        media_type=manifest.media_type,
        size=manifest.size,
        kind="index" if isinstance(parsed, Index) else "image",
        artifact_type=parsed.artifact_type,
        subject=parsed.subject.digest if parsed.subject else None,
        annotations=dict(parsed.annotations or {}),
    )
    if isinstance(parsed, Index):
        _summarize_index(store, parsed, summary, max_workers)
    else:
        _summarize_image(store, parsed, summary)
    if with_tags:
        # A tag never contains ':', a digest always does.
        known = known_tag if known_tag is not None else (None if ":" in tag_or_digest else tag_or_digest)
        found, total, checked = tags_pointing_at(
            store, manifest.digest, known=known, limit=tag_limit, max_workers=max_workers
        )
        summary.tags, summary.tags_total, summary.tags_checked = found, total, checked
    return summary


def _summarize_image(store: Store, manifest: Manifest, summary: ImageSummary) -> None:
    summary.layers = len(manifest.layers)
    summary.layer_bytes = sum(layer.size for layer in manifest.layers)
    if manifest.config.media_type not in (mt.OCI_CONFIG, mt.DOCKER_CONFIG):
        summary.kind = "artifact"
        summary.artifact_type = summary.artifact_type or manifest.config.media_type
        return
    config = _read_config(store, manifest.config, summary)
    if config is not None:
        summary.created = config.created
        summary.os = config.os
        summary.architecture = config.architecture
        variant = config.extra.get("variant")
        summary.variant = variant if isinstance(variant, str) else None


def _read_config(store: Store, descriptor: Descriptor, summary: ImageSummary) -> ImageConfig | None:
    if descriptor.size > CONFIG_SIZE_LIMIT:
        summary.warnings.append(f"config blob is {descriptor.size} bytes; not read")
        return None
    with store.open_blob(descriptor.digest, descriptor.size) as chunks:
        data = b"".join(chunks)
    try:
        return ImageConfig.from_json(data)
    except WireError as exc:
        summary.warnings.append(f"config {descriptor.digest.short} is not a valid image config: {exc}")
        return None


def _summarize_index(store: Store, index: Index, summary: ImageSummary, max_workers: int) -> None:
    children = index.manifests[:CHILD_LIMIT]
    if len(index.manifests) > CHILD_LIMIT:
        summary.warnings.append(f"index lists {len(index.manifests)} manifests; first {CHILD_LIMIT} read")

    def describe(child: Descriptor) -> PlatformEntry:
        platform = str(child.platform) if child.platform else None
        entry = PlatformEntry(platform, child.digest, child.media_type, child.size)
        if child.media_type not in mt.IMAGE_MANIFESTS:
            return entry
        try:
            parsed = store.get_manifest(str(child.digest)).parse()
        except ManifestNotFound:
            summary.warnings.append(f"child {child.digest.short} ({platform}) is missing from the store")
            return entry
        if not isinstance(parsed, Manifest):
            return entry
        return PlatformEntry(
            platform,
            child.digest,
            child.media_type,
            child.size,
            len(parsed.layers),
            sum(layer.size for layer in parsed.layers),
        )

    workers = max(1, min(max_workers, len(children)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inspect") as pool:
        summary.platforms = list(pool.map(describe, children))
    counted = [p for p in summary.platforms if p.layers is not None]
    if counted:
        summary.layers = sum(p.layers or 0 for p in counted)
        summary.layer_bytes = sum(p.layer_bytes or 0 for p in counted)


def tags_pointing_at(
    store: Store,
    digest: Digest,
    *,
    known: str | None = None,
    limit: int = DEFAULT_TAG_LIMIT,
    max_workers: int = 8,
) -> tuple[list[str], int, int]:
    """Tags that resolve to ``digest``: (found, candidate tags in all, candidates checked).

    cosign attachment tags (``sha256-<hex>.sig`` …) are not candidates. ``known`` (the tag
    the user asked for) is checked first so it is never lost to the limit.
    """
    candidates = [t for t in store.list_tags() if not _ATTACHMENT_TAG.match(t)]
    if known in candidates:
        candidates.remove(known)
        candidates.insert(0, known)
    to_check = candidates[:limit]

    def points_here(tag: str) -> bool:
        try:
            return store.resolve(tag).digest == digest
        except ManifestNotFound:
            return False  # deleted while we looked
        except (LayoutError, IntegrityError, ManifestError) as exc:
            # Another tag being broken does not make this image's summary fail; it is just
            # not a tag that (verifiably) points here.
            log.debug("tag %s not checked: %s", tag, exc)
            return False

    if not to_check:
        return [], len(candidates), 0
    workers = max(1, min(max_workers, len(to_check)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tags") as pool:
        hits = list(pool.map(points_here, to_check))
    found = sorted(tag for tag, hit in zip(to_check, hits, strict=True) if hit)
    return found, len(candidates), len(to_check)
