"""Copy an image (or a whole multi-platform index) between any two Stores, and retag.

The order of writes is what keeps a destination consistent when anything fails half-way:

1. every blob of every image manifest (config + layers), in parallel on a bounded pool:
   skipped when the destination has it, mounted when the destination can borrow it from the
   source without moving bytes (same registry), streamed chunk by chunk otherwise;
2. the manifests bottom-up: every child of an index before the index;
3. attachments (cosign ``.sig``/``.att``/``.sbom`` tags and referrers), when asked for;
4. the destination tag, last, in one step.

So a tag never points at an image whose blobs or children are missing; if any step fails, no
tag is written and re-running the copy finishes the job (blobs already there are skipped). A
destination layout the copy created (it did not exist) is removed again when the copy fails
before anything was recorded in it.
Manifests travel as their original bytes: digests are preserved exactly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, TypedDict, TypeVar, Unpack, runtime_checkable

from shipflow.errors import ManifestError, ShipflowError, UsageError
from shipflow.oci import mediatypes as mt
from shipflow.oci._blobstream import keep_verification
from shipflow.oci.digest import Digest
from shipflow.oci.models import Descriptor, Index, ManifestBytes
from shipflow.oci.store import NullObserver, ProgressObserver, Store

__all__ = [
    "ATTACHMENT_SUFFIXES",
    "CopyOptions",
    "CopyResult",
    "CreatedOnDemand",
    "copy",
    "copy_image",
    "copy_manifest",
    "retag",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_R = TypeVar("_R")

# cosign's legacy attachment tags: ``sha256-<hex>.sig`` / ``.att`` / ``.sbom``.
ATTACHMENT_SUFFIXES = ("sig", "att", "sbom")

# Indexes nest (an index of indexes is legal); a cycle is impossible with content addressing,
# but a malicious source could build a very deep chain. This bounds the recursion.
_MAX_INDEX_DEPTH = 8

# Foreign (non-distributable) layers carry ``urls`` and are fetched from there by clients;
# registries commonly do not hold them, and copying tools leave them behind.
_FOREIGN_LAYERS = frozenset({mt.DOCKER_LAYER_FOREIGN, mt.OCI_LAYER_NONDIST_TAR, mt.OCI_LAYER_NONDIST_GZIP})


class BlobOutcome(Enum):
    SKIPPED = "skipped"  # the destination already had it
    MOUNTED = "mounted"  # borrowed from the source repository, zero bytes moved
    COPIED = "copied"  # streamed from source to destination


@dataclass
class CopyResult:
    """What a copy did: the root digest, and how each blob got to the destination."""

    digest: Digest
    media_type: str
    size: int
    manifests: int = 0
    blobs_copied: int = 0
    blobs_mounted: int = 0
    blobs_skipped: int = 0
    bytes_copied: int = 0
    attachments: list[str] = field(default_factory=list)

    def add(self, other: CopyResult) -> None:
        """Fold the counts of a nested copy (an attachment) into this one."""
        self.manifests += other.manifests
        self.blobs_copied += other.blobs_copied
        self.blobs_mounted += other.blobs_mounted
        self.blobs_skipped += other.blobs_skipped
        self.bytes_copied += other.bytes_copied

    def count(self, outcome: BlobOutcome, nbytes: int) -> None:
        if outcome is BlobOutcome.COPIED:
            self.blobs_copied += 1
            self.bytes_copied += nbytes
        elif outcome is BlobOutcome.MOUNTED:
            self.blobs_mounted += 1
        else:
            self.blobs_skipped += 1


@dataclass
class _Plan:
    """Everything one copy must move, gathered from the source before any write."""

    root: ManifestBytes
    # Manifests in write order: children before the index that lists them.
    manifests: list[ManifestBytes] = field(default_factory=list)
    # Unique blobs by digest (an index's platforms often share layers).
    blobs: dict[Digest, Descriptor] = field(default_factory=dict)


def retag(store: Store, digest: Digest, tag: str) -> None:
    """Point ``tag`` at ``digest`` in ``store``: one manifest write, no blob moves."""
    store.tag(digest, tag)


class CopyOptions(TypedDict, total=False):
    """The keyword options :func:`copy` and :func:`copy_image` pass on to :func:`copy_manifest`
    (which holds their defaults)."""

    with_attachments: bool
    observer: ProgressObserver | None
    max_workers: int


def copy(src: Store, src_ref: str, dst: Store, dst_tag: str | None, **options: Unpack[CopyOptions]) -> Digest:
    """Copy the image ``src_ref`` (tag or digest) from ``src`` to ``dst``; return its digest.

    ``dst_tag`` None stores it by digest only. See :func:`copy_image` for the counts and
    :func:`copy_manifest` for the options.
    """
    return copy_image(src, src_ref, dst, dst_tag, **options).digest


def copy_image(
    src: Store, src_ref: str, dst: Store, dst_tag: str | None, **options: Unpack[CopyOptions]
) -> CopyResult:
    """Copy like :func:`copy` and report what moved (blobs copied/mounted/skipped, bytes)."""
    # Resolve once: from here on everything is named by digest, so a tag moving in the source
    # during the copy cannot mix two images. (A HEAD, then the manifest by its digest.)
    descriptor = src.resolve(src_ref)
    root = src.get_manifest(str(descriptor.digest))
    return copy_manifest(src, root, dst, dst_tag, **options)


def copy_manifest(
    src: Store,
    root: ManifestBytes,
    dst: Store,
    dst_tag: str | None,
    *,
    with_attachments: bool = False,
    observer: ProgressObserver | None = None,
    max_workers: int = 4,
) -> CopyResult:
    """Copy ``root`` (a manifest already read from ``src``) and everything below it.

    For callers that have read the manifest anyway (the CLI, to report a missing source
    before creating a destination): saves reading it a second time. ``with_attachments`` also
    copies the cosign tags and referrers of every manifest copied; ``observer`` sees the bytes
    that really move; ``max_workers`` bounds the parallel blob transfers.
    """
    if max_workers < 1:
        raise UsageError(f"max_workers must be at least 1, not {max_workers}", hint="use -j 1 or more")
    obs = observer if observer is not None else NullObserver()
    try:
        plan = _plan(src, root)
        result = CopyResult(root.digest, root.media_type, root.size)

        _copy_blobs(src, dst, plan.blobs.values(), result, obs, max_workers)
        for manifest in plan.manifests[:-1]:
            dst.put_manifest(manifest)
            result.manifests += 1

        if with_attachments:
            # The root goes in untagged first, so attachments never refer to a missing subject.
            dst.put_manifest(root)
            subjects = [m.digest for m in plan.manifests]
            _copy_attachments(src, dst, subjects, result, obs, max_workers)
            if dst_tag is not None:
                # A PUT of the same bytes under the tag: one request, no blob moves.
                dst.put_manifest(root, tag=dst_tag)
        else:
            # Blobs and children are all in place, so writing the root under its tag in one
            # request is as safe as put-then-tag and saves a registry the extra GET + PUT.
            dst.put_manifest(root, tag=dst_tag)
        result.manifests += 1
    except BaseException:
        # A destination this copy created (a new OCI layout) and did not get to use is removed,
        # rather than left behind empty; one that holds anything is kept.
        if isinstance(dst, CreatedOnDemand):
            try:
                dst.discard_if_created()
            except ShipflowError as exc:
                log.warning("could not remove the new destination %s: %s", dst.name, exc)
        raise
    if isinstance(dst, CreatedOnDemand):
        dst.keep()
    return result


@runtime_checkable
class CreatedOnDemand(Protocol):
    """A destination a write may have created (an OCI layout opened with ``create=True``)."""

    @property
    def name(self) -> str: ...

    def discard_if_created(self) -> bool:
        """Remove it if it was created for this write and holds nothing yet."""
        ...

    def keep(self) -> None:
        """It stays: a write into it succeeded."""
        ...


def _plan(src: Store, root: ManifestBytes) -> _Plan:
    plan = _Plan(root)
    _walk(src, root, plan, depth=0)
    return plan


def _walk(src: Store, manifest: ManifestBytes, plan: _Plan, *, depth: int) -> None:
    if depth > _MAX_INDEX_DEPTH:
        raise ManifestError(
            f"index {plan.root.digest.short} nests deeper than {_MAX_INDEX_DEPTH} levels",
            hint="this is not a normal image; inspect it with `shipflow inspect --raw`",
        )
    parsed = manifest.parse()
    if isinstance(parsed, Index):
        for child in parsed.manifests:
            if any(m.digest == child.digest for m in plan.manifests):
                continue  # listed twice (e.g. under two platforms): copy once
            child_bytes = src.get_manifest(str(child.digest))
            _walk(src, child_bytes, plan, depth=depth + 1)
    else:
        for blob in [parsed.config, *parsed.layers]:
            if blob.media_type in _FOREIGN_LAYERS and blob.urls:
                continue
            plan.blobs.setdefault(blob.digest, blob)
    plan.manifests.append(manifest)


def _copy_blobs(
    src: Store,
    dst: Store,
    blobs: Iterable[Descriptor],
    result: CopyResult,
    obs: ProgressObserver,
    max_workers: int,
) -> None:
    """Skip, mount or stream every blob; raise the first failure after stopping the rest."""
    pending = list(blobs)
    if not pending:
        return
    lock = threading.Lock()

    # Phase 1: which blobs need bytes moved at all (HEAD / mount requests, no payload).
    def settle(blob: Descriptor) -> Descriptor | None:
        if dst.has_blob(blob.digest, blob.size):
            outcome = BlobOutcome.SKIPPED
        elif dst.mount_blob(blob.digest, src, blob.size):
            outcome = BlobOutcome.MOUNTED
        else:
            return blob
        with lock:
            result.count(outcome, 0)
        log.debug("blob %s %s", blob.digest.short, outcome.value)
        return None

    # The first check runs alone: it settles authentication (a 401 challenge, a token) once,
    # instead of every worker meeting the challenge at the same moment.
    first = settle(pending[0])
    rest = _run_parallel(settle, pending[1:], max_workers)
    to_move = [b for b in [first, *rest] if b is not None]
    if not to_move:
        return

    # Phase 2: stream the rest; the observer sees the total of what must really move.
    stop = threading.Event()
    obs.start(f"copying {len(to_move)} blob(s)", sum(b.size for b in to_move))
    try:

        def move(blob: Descriptor) -> None:
            if stop.is_set():
                raise _Stopped
            with src.open_blob(blob.digest, blob.size) as chunks:
                # The source verifies its own bytes as they stream; marking the pass-through as
                # verified spares the destination a second hash of every byte.
                dst.put_blob(blob.digest, blob.size, keep_verification(chunks, _reporting(chunks, obs, stop)))
            with lock:
                result.count(BlobOutcome.COPIED, blob.size)
            log.debug("blob %s copied (%d bytes)", blob.digest.short, blob.size)

        _run_parallel(move, to_move, max_workers, stop)
    finally:
        obs.finish()


class _Stopped(Exception):
    """Raised inside a transfer once another one failed (or the user interrupted): the
    remaining uploads stop at their next chunk instead of running to the end."""


def _reporting(chunks: Iterator[bytes], obs: ProgressObserver, stop: threading.Event) -> Iterator[bytes]:
    """Pass chunks through one at a time (memory stays at one chunk), reporting progress."""
    for chunk in chunks:
        if stop.is_set():
            raise _Stopped
        obs.advance(len(chunk))
        yield chunk


def _run_parallel(
    work: Callable[[_T], _R],
    items: list[_T],
    max_workers: int,
    stop: threading.Event | None = None,
) -> list[_R]:
    """Run ``work`` over ``items`` on a bounded pool and return the results in order.

    On the first failure (or an interrupt) set ``stop`` so running work winds down, cancel
    what has not started, wait for every thread, and raise that first failure.
    """
    if len(items) <= 1 or max_workers == 1:
        return [work(item) for item in items]
    stop = stop if stop is not None else threading.Event()
    pool = ThreadPoolExecutor(max_workers=min(max_workers, len(items)), thread_name_prefix="copy")
    try:
        futures: list[Future[_R]] = [pool.submit(work, item) for item in items]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        # Failures seen before ``stop`` was set are real ones, not the _Stopped they cause.
        first_error = next((f.exception() for f in futures if f in done and f.exception() is not None), None)
        if first_error is not None:
            raise first_error
        return [f.result() for f in futures]
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _copy_attachments(
    src: Store,
    dst: Store,
    subjects: list[Digest],
    result: CopyResult,
    obs: ProgressObserver,
    max_workers: int,
) -> None:
    """Copy cosign attachment tags and referrers of every subject digest."""
    tags = set(src.list_tags())
    for subject in subjects:
        for suffix in ATTACHMENT_SUFFIXES:
            tag = f"{subject.tag_form}.{suffix}"
            if tag not in tags:
                continue
            nested = copy_image(src, tag, dst, tag, observer=obs, max_workers=max_workers)
            result.add(nested)
            result.attachments.append(tag)
            obs.note(f"copied attachment {tag}")
        for referrer in src.referrers(subject):
            manifest = src.get_manifest(str(referrer.digest))
            nested = copy_manifest(src, manifest, dst, None, observer=obs, max_workers=max_workers)
            dst.add_referrer(subject, manifest)
            result.add(nested)
            label = f"{referrer.digest.short} ({referrer.artifact_type or referrer.media_type})"
            result.attachments.append(f"referrer {label} of {subject.short}")
            obs.note(f"copied referrer {label}")
