"""Turn a reference into the Store that holds it (:func:`open_store`), or into an image pinned
to its digest (:func:`open_image`) — the one way every command opens an image argument."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipflow.errors import ManifestNotFound
from shipflow.oci.digest import Digest
from shipflow.oci.models import Descriptor
from shipflow.oci.reference import Reference, parse_reference
from shipflow.oci.store import Store

if TYPE_CHECKING:  # imported by the registry branch: layouts need no registry settings
    from shipflow.oci.registry.config import RegistryConfig


def open_store(ref: Reference | str, *, config: RegistryConfig | None = None, create: bool = False) -> Store:
    """The Store for ``ref``'s repository.

    ``create`` makes a missing OCI layout directory (for destinations); registries need no
    creation. Registry clients are shared per host so tokens and connections are reused.
    """
    if isinstance(ref, str):
        ref = parse_reference(ref)
    if ref.is_layout:
        from shipflow.oci.layout import LayoutStore

        return LayoutStore(Path(ref.repository), create=create)
    from shipflow.oci.registry.client import RegistryClient
    from shipflow.oci.registry.config import RegistryConfig
    from shipflow.oci.registry.store import RegistryStore

    client = RegistryClient.shared(ref.registry, config or RegistryConfig.from_env())
    return RegistryStore(client, ref.repository)


@dataclass(frozen=True)
class OpenedImage:
    """An image argument, opened and pinned: the reference as given, its store, and the digest
    it named at the moment it was opened. Everything after (signing, scanning, promoting)
    works on ``digest``, so a tag that moves meanwhile changes nothing."""

    reference: Reference
    store: Store
    digest: Digest
    descriptor: Descriptor | None  # None when a digest was taken as given (must_exist=False)
    resolved_from_tag: bool

    @property
    def pinned(self) -> Reference:
        """The reference by digest (``repo@sha256:…``)."""
        return self.reference.by_digest(self.digest)


def open_image(
    ref: Reference | str,
    config: RegistryConfig | None = None,
    *,
    must_exist: bool = True,
) -> OpenedImage:
    """Open the store holding ``ref`` and pin ``ref`` to a digest, once.

    A tag (or no tag: ``latest``) is resolved by the store, which verifies the manifest bytes
    it hashes. A digest reference is looked up too when ``must_exist`` (nothing should be
    signed, scanned or promoted about an image that is not there); without it the digest is
    taken as given (a descriptor with only the digest), for callers that look it up later.
    ManifestNotFound (exit 1) carries a hint that says how to see what exists.
    """
    parsed = parse_reference(ref) if isinstance(ref, str) else ref
    store = open_store(parsed, config=config)
    if parsed.digest is not None and not must_exist:
        return OpenedImage(parsed, store, parsed.digest, None, False)
    try:
        descriptor = store.resolve(parsed.identifier)
    except ManifestNotFound as exc:
        if exc.hint is None:
            exc.hint = (
                f"list the tags with `shipflow tags {parsed.name}`"
                if parsed.digest is None
                else f"check the digest; `shipflow tags {parsed.name}` lists what is there"
            )
        raise
    return OpenedImage(parsed, store, descriptor.digest, descriptor, parsed.digest is None)
