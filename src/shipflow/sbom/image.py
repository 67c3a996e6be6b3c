"""Catalog an image in any Store: pick the platform, stream its layers, run the catalogers."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from shipflow.errors import UsageError
from shipflow.oci.digest import Digest
from shipflow.oci.models import Descriptor, ManifestBytes
from shipflow.oci.store import NullObserver, ProgressObserver
from shipflow.sbom._filetree import FileTree
from shipflow.sbom.catalog import catalog_source, combined_wants, reducers_of
from shipflow.sbom.catalogers import image_catalogers
from shipflow.sbom.layers import Budget, Limits, apply_layer
from shipflow.sbom.model import Inventory
from shipflow.sbom.source import Reducer, TreeSource, Wants

log = logging.getLogger(__name__)

DEFAULT_PLATFORM = "linux/amd64"


class ImageSource(Protocol):
    """The part of :class:`~shipflow.oci.store.Store` cataloging needs."""

    @property
    def name(self) -> str: ...

    def get_manifest(self, tag_or_digest: str) -> ManifestBytes: ...

    def open_blob(
        self, digest: Digest, size: int | None = None
    ) -> AbstractContextManager[Iterator[bytes]]: ...


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    os: str
    architecture: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> PlatformSpec:
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(
                f"malformed platform {text!r}", hint="use OS/ARCH[/VARIANT], e.g. linux/arm64/v8"
            )
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def matches(self, descriptor: Descriptor) -> bool:
        platform = descriptor.platform
        if platform is None or platform.os != self.os or platform.architecture != self.architecture:
            return False
        return self.variant is None or platform.variant == self.variant

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def select_platform(store: ImageSource, index: ManifestBytes, platform: PlatformSpec) -> ManifestBytes:
    descriptors = index.as_index().manifests
    for descriptor in descriptors:
        if platform.matches(descriptor):
            return store.get_manifest(str(descriptor.digest))
    available = sorted({str(d.platform) for d in descriptors if d.platform is not None})
    raise UsageError(
        f"{store.name}@{index.digest} has no {platform} image",
        hint=f"choose one with --platform: {', '.join(available) or '(none listed)'}",
    )


def image_tree(
    store: ImageSource,
    manifest: ManifestBytes,
    *,
    wants: Wants,
    limits: Limits,
    observer: ProgressObserver,
    reducers: Sequence[Reducer] = (),
) -> FileTree:
    """The merged filesystem of an image manifest (wanted file contents kept in memory)."""
    layers = manifest.as_manifest().layers
    tree = FileTree()
    budget = Budget(limits)
    for number, layer in enumerate(layers, start=1):
        observer.start(f"layer {number}/{len(layers)} {layer.digest.short}", layer.size)
        # The descriptor's size bounds the read: a store never serves more than that.
        with store.open_blob(layer.digest, layer.size) as chunks:
            apply_layer(
                tree,
                _observed(chunks, observer),
                digest=str(layer.digest),
                media_type=layer.media_type,
                wants=wants,
                budget=budget,
                reducers=reducers,
            )
        observer.finish()
    return tree


def _observed(chunks: Iterator[bytes], observer: ProgressObserver) -> Iterator[bytes]:
    for chunk in chunks:
        observer.advance(len(chunk))
        yield chunk


def catalog_image(
    store: ImageSource,
    tag_or_digest: str,
    *,
    platform: str | None = None,
    limits: Limits | None = None,
    observer: ProgressObserver | None = None,
) -> Inventory:
    """Inventory of the image ``tag_or_digest`` names in ``store`` (for an index: the
    ``platform`` image, default linux/amd64). The subject is named by digest."""
    observer = observer or NullObserver()
    top = store.get_manifest(tag_or_digest)
    manifest = top
    if top.is_index:
        manifest = select_platform(store, top, PlatformSpec.parse(platform or DEFAULT_PLATFORM))
    catalogers = image_catalogers()
    tree = image_tree(
        store,
        manifest,
        wants=combined_wants(catalogers),
        limits=limits or Limits(),
        observer=observer,
        reducers=reducers_of(catalogers),
    )
    return catalog_source(
        TreeSource(tree), catalogers, subject=f"{store.name}@{top.digest}", subject_digest=str(top.digest)
    )
