"""The one Store interface every backend implements.

A Store is one *repository*: an OCI image layout directory (``oci:PATH``) or one repository
on a registry (``ghcr.io/org/app``). Everything above ``oci/`` talks to this interface only,
so the pipeline runs the same on a laptop (layout) and against GHCR (registry).

Contract every implementation keeps:

* Content is verified: ``resolve``, ``get_manifest`` and ``open_blob`` check the bytes against
  the digest and raise :class:`~shipflow.errors.IntegrityError` on mismatch (blobs: when the
  stream ends, before the caller can treat it as complete). A digest a store returns is one of
  bytes it hashed, never only a server's claim.
* Reads are bounded: manifests by the manifest size cap, blobs by their descriptor's size when
  the caller gives it, and every network exchange by a deadline.
* Writes are all-or-nothing: a blob is visible only once complete and verified; a manifest is
  written only after its blobs (the caller's job: see ``copy``); a tag moves in one step.
* Manifest bytes are stored exactly as given; nothing is re-serialised.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from shipflow.oci.digest import Digest
from shipflow.oci.models import Descriptor, ManifestBytes

# Chunk size for streaming blobs (copy, hashing, upload).
CHUNK_SIZE = 1024 * 1024


@runtime_checkable
class Store(Protocol):
    """One repository of manifests, blobs and tags."""

    @property
    def name(self) -> str:
        """Human-readable location, e.g. ``oci:./store`` or ``127.0.0.1:5000/app``."""
        ...

    def resolve(self, tag_or_digest: str) -> Descriptor:
        """Descriptor (media type, digest, size) of the manifest a tag or digest names.

        Raises ManifestNotFound if there is none.
        """
        ...

    def get_manifest(self, tag_or_digest: str) -> ManifestBytes:
        """The manifest's exact bytes, verified against the digest. ManifestNotFound if absent."""
        ...

    def put_manifest(self, manifest: ManifestBytes, *, tag: str | None = None) -> Digest:
        """Store the manifest bytes (by digest, and under ``tag`` if given). Blobs must exist."""
        ...

    def tag(self, digest: Digest, tag: str) -> None:
        """Point ``tag`` at the manifest ``digest`` (already in this store). No blob moves."""
        ...

    def list_tags(self) -> list[str]:
        """All tags, sorted."""
        ...

    def has_blob(self, digest: Digest, size: int | None = None) -> bool:
        """Whether the blob is here. With ``size`` (the descriptor's), a store that cannot
        verify content cheaply also checks the size it reports."""
        ...

    def open_blob(self, digest: Digest, size: int | None = None) -> AbstractContextManager[Iterator[bytes]]:
        """Stream a blob's bytes in chunks; the iterator raises IntegrityError at the end on a
        digest or size mismatch, and BlobNotFound is raised on entry if absent. With ``size``
        (the descriptor's) no more than ``size`` bytes are ever read: a blob announced or found
        to be another size is refused."""
        ...

    def put_blob(self, digest: Digest, size: int, chunks: Iterable[bytes]) -> None:
        """Write a blob from a stream; verify digest and size before it becomes visible."""
        ...

    def mount_blob(self, digest: Digest, source: Store, size: int | None = None) -> bool:
        """Make ``digest`` available by reference to ``source`` without moving bytes, if the
        backend can (same registry, cross-repository mount). Return False if not possible.
        With ``size`` (the descriptor's), a blob of another size is not taken."""
        ...

    def referrers(self, digest: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests whose ``subject`` is ``digest`` (OCI 1.1 referrers API, or the
        ``sha256-<hex>`` referrers tag-scheme fallback where the API is missing)."""
        ...

    def add_referrer(self, subject: Digest, manifest: ManifestBytes) -> None:
        """Record ``manifest`` (already put, with ``subject``) as a referrer of ``subject``:
        a no-op where the backend indexes subjects itself (referrers API), else update the
        fallback tag index."""
        ...


class ProgressObserver(Protocol):
    """How long operations report progress; the CLI renders it, the library never prints."""

    def start(self, task: str, total_bytes: int | None) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def note(self, message: str) -> None: ...

    def finish(self) -> None: ...


class NullObserver:
    """An observer that ignores everything (the library default)."""

    def start(self, task: str, total_bytes: int | None) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def finish(self) -> None:
        pass
