"""Verified blob streams made cheap: hashing beside the transfer, and hashing only once.

SHA-256 is most of the CPU time of moving a blob (a few hundred MB/s per core, against GB/s
for reading a socket or writing a file), so two things keep it off the critical path:

* :class:`StreamHasher` hashes a stream's chunks *in order* on a helper thread for large
  blobs. ``hashlib`` releases the GIL while it hashes a large buffer, so the hash runs while
  the calling thread receives, writes or sends the next chunk. At most
  :data:`_QUEUED_CHUNKS` chunks wait for it (memory stays bounded, the producer is slowed
  down instead). Chunks must be immutable ``bytes``; anything else is copied first.
* :class:`VerifiedChunks` marks a stream whose *source* checks it against a digest and
  raises (instead of ending normally) on a mismatch — what every ``Store.open_blob`` does. A
  destination's ``put_blob`` that is handed such a stream for the same digest need not hash
  it a second time: it only has to read the stream to its end before making the blob
  visible, which it does anyway. Sizes are still counted by the destination.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

from shipflow.oci.digest import Digest

MIB = 1024 * 1024
# Below this a helper thread costs more than it saves: hash inline.
BACKGROUND_HASH_MIN = 4 * MIB
# Chunks (of ~1 MiB) that may wait for the hashing thread before the producer blocks.
_QUEUED_CHUNKS = 4


class StreamHasher:
    """Hashes chunks in order, inline or (for large streams) on a helper thread.

    :meth:`hexdigest` waits for every chunk given so far; :meth:`close` abandons the hash
    (always call it, e.g. in a ``finally``, so no thread outlives the stream).
    """

    def __init__(self, digest: Digest, *, expected_size: int | None) -> None:
        self._hasher = digest.hasher()
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._result: str | None = None
        if expected_size is None or expected_size >= BACKGROUND_HASH_MIN:
            self._queue = queue.Queue(maxsize=_QUEUED_CHUNKS)
            self._thread = threading.Thread(target=self._run, name="blob-hash", daemon=True)
            self._thread.start()

    def update(self, chunk: bytes) -> None:
        if type(chunk) is not bytes:  # a mutable buffer could change while queued
            chunk = bytes(chunk)
        if self._queue is None:
            self._hasher.update(chunk)
        else:
            self._queue.put(chunk)

    def hexdigest(self) -> str:
        if self._result is None:
            self._stop()
            if self._failure is not None:
                raise self._failure
            self._result = self._hasher.hexdigest()
        return self._result

    def close(self) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)  # the thread drains the queue, so this never blocks for long
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        assert self._queue is not None
        while (chunk := self._queue.get()) is not None:
            if self._failure is None:
                try:
                    self._hasher.update(chunk)
                except BaseException as exc:  # re-raised by hexdigest()
                    self._failure = exc


class VerifiedChunks(Iterator[bytes]):
    """A blob's chunks whose source verifies them against ``digest`` (see the module doc)."""

    def __init__(self, chunks: Iterator[bytes], digest: Digest) -> None:
        self._chunks = chunks
        self.digest = digest

    def __iter__(self) -> VerifiedChunks:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        """End the underlying generator now (its hashing thread with it), read or not."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def verified_by_source(chunks: Iterable[bytes], digest: Digest) -> bool:
    """Whether ``chunks`` comes from a source that itself refuses bytes not matching ``digest``."""
    return isinstance(chunks, VerifiedChunks) and chunks.digest == digest


def keep_verification(source: Iterable[bytes], passthrough: Iterator[bytes]) -> Iterator[bytes]:
    """``passthrough`` marked as verified if ``source`` is.

    Only for a wrapper that yields ``source``'s chunks unchanged and in order and reads it to
    its end (e.g. one that reports progress): then ``source``'s check still guards every byte.
    """
    if isinstance(source, VerifiedChunks):
        return VerifiedChunks(passthrough, source.digest)
    return passthrough


__all__ = [
    "BACKGROUND_HASH_MIN",
    "StreamHasher",
    "VerifiedChunks",
    "keep_verification",
    "verified_by_source",
]
