"""Streaming a blob out of a registry: hashed on the way, resumed where it broke off.

A blob GET is idempotent, so a body that breaks off mid-way (connection reset, read timeout,
fewer bytes than ``Content-Length``) is continued with ``Range: bytes=<received>-`` — up to
``max_attempts`` times in all, with the client's backoff — instead of starting the whole copy
again. The hash runs over every byte handed to the consumer, in order, so a resumed stream is
verified exactly like an unbroken one. A registry that ignores ``Range`` (answers ``200``) has
the bytes already received skipped. The body is read raw (never content-decoded) and hashed on a
helper thread for large blobs, beside the consumer's work. At the end a size or digest mismatch
raises:
:class:`~shipflow.errors.TransportError` for a body that stayed short,
:class:`~shipflow.errors.IntegrityError` for wrong bytes (never retried: that is not luck).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator, Iterator

import httpx

from shipflow.errors import IntegrityError, RegistryError, TransportError
from shipflow.oci._blobstream import StreamHasher
from shipflow.oci.digest import Digest
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.deadline import Progress
from shipflow.oci.store import CHUNK_SIZE

log = logging.getLogger(__name__)

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


class BlobDownload:
    """One blob being read; :meth:`chunks` is the verified stream, :meth:`close` ends it."""

    def __init__(
        self,
        client: RegistryClient,
        path: str,
        digest: Digest,
        response: httpx.Response,
        *,
        what: str,
        scopes: tuple[str, ...],
        size: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        self._client = client
        self._path = path
        self._digest = digest
        self._response = response
        self._what = what
        self._scopes = scopes
        self._progress = progress if progress is not None else client.progress()
        claimed = (response.headers.get("docker-content-digest") or "").strip()
        if claimed and claimed.startswith(f"{digest.algorithm}:") and claimed != str(digest):
            response.close()
            raise IntegrityError(
                f"{what}: the registry says the blob it sends is {claimed}",
                hint="the registry or something between serves the wrong content; do not trust it",
            )
        length = response.headers.get("content-length")
        announced = int(length) if length and length.isdigit() else None
        if size is not None and announced is not None and announced != size:
            response.close()
            raise IntegrityError(
                f"{what}: the registry announces {announced} bytes, but the blob's descriptor says {size}",
                hint="the registry or something between serves the wrong content; do not trust it",
            )
        self.expected: int | None = size if size is not None else announced
        """The length the body must have: the descriptor's size, else the Content-Length."""

    def close(self) -> None:
        self._response.close()

    def chunks(self) -> Iterator[bytes]:
        """The verified stream: ``CHUNK_SIZE`` chunks (the last one shorter)."""
        hasher = StreamHasher(self._digest, expected_size=self.expected)
        try:
            received = yield from self._received(hasher)
            digest_hex = hasher.hexdigest()
        finally:
            hasher.close()
        if self.expected is not None and received != self.expected:
            raise TransportError(
                f"{self._what}: got {received} of {self.expected} bytes",
                hint="run the command again; the registry sent more than it announced",
            )
        if digest_hex != self._digest.hex:
            raise IntegrityError(
                f"{self._what}: the {received} bytes received do not match the digest",
                hint="the registry or something between is corrupting content; do not trust it",
            )

    def _received(self, hasher: StreamHasher) -> Generator[bytes, None, int]:
        """Yield the body (resuming where it broke off), hashing it; return its length.

        The body is read raw (``iter_raw``): no content decoding can change the bytes the
        digest names. The network's pieces (64 KiB reads) are gathered into ``CHUNK_SIZE``
        chunks so the consumer and the hasher see few, large buffers. Bytes gathered but
        not yet handed on when the connection breaks are dropped and asked for again.
        """
        received = 0
        skip = 0  # bytes to drop from a resumed response that ignored Range
        attempts = self._client.config.max_attempts
        attempt = 1
        while True:
            failure: Exception | None = None
            gathered = _Gatherer(CHUNK_SIZE)
            try:
                for piece in _raw_pieces(self._response):
                    if skip:
                        dropped = min(skip, len(piece))
                        piece, skip = piece[dropped:], skip - dropped
                        if not piece:
                            continue
                    if self.expected is not None and received + gathered.pending + len(piece) > self.expected:
                        raise self._too_long()
                    for chunk in gathered.add(piece):
                        hasher.update(chunk)
                        received += len(chunk)
                        yield chunk
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if self._progress.tripped:
                    raise self._too_slow(received + gathered.pending) from exc
                failure = exc
            if failure is None and (chunk := gathered.rest()):
                hasher.update(chunk)
                received += len(chunk)
                yield chunk
            short = self.expected is not None and received < self.expected
            if failure is None and not short:
                return received
            self._response.close()
            if attempt >= attempts:
                raise self._broken(received, failure)
            log.debug(
                "%s broke off after %d bytes (%s); resuming (%d/%d)",
                self._what,
                received,
                type(failure).__name__ if failure else "short body",
                attempt,
                attempts,
            )
            self._client.backoff(attempt)
            attempt += 1
            self._response, skip = self._resume(received)

    def _resume(self, offset: int) -> tuple[httpx.Response, int]:
        """A response continuing at ``offset``, and how many leading bytes of it to drop."""
        response = self._client.send(
            "GET",
            self._path,
            headers={"Accept-Encoding": "identity", "Range": f"bytes={offset}-"},
            scopes=self._scopes,
            idempotent=True,
            what=self._what,
            stream=True,
            body_budget=self._progress,
        )
        if response.status_code == 200:
            return response, offset  # Range ignored: the whole body again, skip what we have
        if response.status_code != 206:
            raise self._client.error_for(response, what=self._what)
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if match is None or int(match.group(1)) != offset:
            response.close()
            raise RegistryError(
                f"{self._what}: asked to resume at byte {offset}, the registry answered "
                f"Content-Range {response.headers.get('content-range')!r}",
            )
        return response, 0

    def _too_long(self) -> IntegrityError:
        return IntegrityError(
            f"{self._what}: the registry sent more than the {self.expected} bytes of the blob",
            hint="the registry or something between serves the wrong content; do not trust it",
        )

    def _too_slow(self, received: int) -> TransportError:
        progress = self._progress
        return TransportError(
            f"{self._what}: the transfer stalled after {received} bytes: less than {progress.quantum} bytes "
            f"arrived in {progress.window:g} s of waiting (the minimum is {progress.describe()})",
            hint="the registry or the link is too slow or stuck; try again, or allow a slower link with "
            "SHIPFLOW_REGISTRY_MIN_RATE (bytes/s) or a longer window with --timeout / "
            "SHIPFLOW_REGISTRY_TIMEOUT",
        )

    def _broken(self, received: int, failure: Exception | None) -> TransportError:
        if isinstance(failure, httpx.TimeoutException):
            message = f"the registry stopped sending after {received} bytes ({type(failure).__name__})"
        elif failure is not None:
            message = f"the body was cut off after {received} bytes ({type(failure).__name__})"
        else:
            message = f"got {received} of {self.expected} bytes"
        return TransportError(
            f"{self._what}: {message}",
            hint="run the command again; the network or registry is slow or unreliable",
        )


def _raw_pieces(response: httpx.Response) -> Iterator[bytes]:
    """The body as the network delivers it, never decoded (``iter_raw``).

    A response already held in memory (a test transport's) has no stream left to read raw.
    """
    try:
        body = response.content
    except httpx.ResponseNotRead:
        return response.iter_raw()
    return iter([body] if body else [])


class _Gatherer:
    """Joins small pieces into chunks of exactly ``size`` bytes, copying each byte once."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._pieces: list[bytes] = []
        self._length = 0

    def add(self, piece: bytes) -> Iterator[bytes]:
        """The chunks completed by ``piece`` (usually none)."""
        while self._length + len(piece) >= self._size:
            needed = self._size - self._length
            head, piece = (piece, b"") if needed == len(piece) else (piece[:needed], piece[needed:])
            self._pieces.append(head)
            chunk = self._pieces[0] if len(self._pieces) == 1 else b"".join(self._pieces)
            self._pieces, self._length = [], 0
            yield chunk
        if piece:
            self._pieces.append(piece)
            self._length += len(piece)

    @property
    def pending(self) -> int:
        """Bytes gathered and not yet handed on."""
        return self._length

    def rest(self) -> bytes:
        """What is left (shorter than a chunk), and forget it."""
        rest = b"".join(self._pieces)
        self._pieces, self._length = [], 0
        return rest
