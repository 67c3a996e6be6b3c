"""Pushing blobs: monolithic and chunked uploads, and cross-repository mounts.

distribution-spec "Pushing blobs":

* **Monolithic** (blobs up to ``monolithic_threshold``): ``POST /v2/<name>/blobs/uploads/``
  → ``202`` + ``Location``, then ``PUT <Location>&digest=<d>`` with the whole body. The bytes
  are buffered (bounded by the threshold) and verified *before* anything is sent.
* **Chunked** (larger blobs): ``POST`` → ``PATCH`` per chunk with ``Content-Range:
  <start>-<end>`` (inclusive) → ``PUT <Location>&digest=<d>`` with no body. Each PATCH body is
  streamed from the source (memory stays at one read chunk) while it is hashed; a size or
  digest mismatch cancels the session (``DELETE``) before the ``PUT`` that would commit it.
* A source stream that verifies itself (``open_blob`` of any store, see
  :mod:`shipflow.oci.blobstream`) is not hashed a second time: it is read to its end, which
  raises on wrong bytes, before the commit. Large blobs are hashed on a helper thread.
* **Mount**: ``POST /v2/<name>/blobs/uploads/?mount=<d>&from=<repo>``: ``201`` means the
  registry linked the blob without any bytes moving; ``202`` means it did not (the session it
  opened instead is cancelled and the caller uploads).

The ``Location`` is opaque and may be relative; distribution already puts ``?_state=…`` in
it, so ``digest`` is *appended* to the query, never replacing it. The newest ``Location``
returned is always the one used.

Retrying: no request of an upload is re-sent as such — not POST, not PATCH, and not the
completing PUT (its session may be gone or half-committed). Instead a failed monolithic upload
is restarted as a whole from a fresh POST (a new session), since its bytes are still in memory;
a chunked upload whose POST was refused with 429/502/503/504 asks for a new session too
(nothing has been read from the source yet). Both honour ``Retry-After``. A chunked upload
that fails once bytes have flowed raises: its source stream cannot be rewound, so the caller
(``copy``) runs again and blobs already there are then skipped by the ``HEAD`` check.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from urllib.parse import urlencode

import httpx

from shipflow.errors import IntegrityError, RegistryError, ShipflowError, TransportError
from shipflow.oci.blobstream import StreamHasher, verified_by_source
from shipflow.oci.digest import Digest
from shipflow.oci.registry.client import RETRY_STATUSES, RegistryClient, retry_after_seconds
from shipflow.redact import sanitize_url

log = logging.getLogger(__name__)

_OCTET = "application/octet-stream"


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


class BlobUploader:
    """Uploads blobs into one repository of a registry."""

    def __init__(self, client: RegistryClient, repository: str) -> None:
        self.client = client
        self.repository = repository
        self._scopes = (push_scope(repository),)

    # -- public ----------------------------------------------------------------------------

    def upload(self, digest: Digest, size: int, chunks: Iterable[bytes]) -> None:
        """Upload a blob (caller has checked it is missing); verify size and digest."""
        # A stream its source verifies against this digest is not hashed a second time here
        # (see shipflow.oci.blobstream); it is still read to its end before the commit.
        verified = verified_by_source(chunks, digest)
        if size <= self.client.config.monolithic_threshold:
            self._monolithic(digest, size, _collect(digest, size, chunks, verified=verified))
        else:
            self._chunked(digest, size, chunks, verified=verified)

    def mount(self, digest: Digest, from_repository: str) -> bool:
        """Cross-repository mount; True if the registry linked the blob (no bytes moved)."""
        what = f"mount {digest.short} from {from_repository} into {self.repository}"
        response = self.client.send(
            "POST",
            f"/v2/{self.repository}/blobs/uploads/",
            params={"mount": str(digest), "from": from_repository},
            scopes=(*self._scopes, pull_scope(from_repository)),
            idempotent=False,
            what=what,
        )
        if response.status_code == 201:
            response.close()
            log.debug("mounted %s from %s into %s", digest.short, from_repository, self.repository)
            return True
        if response.status_code == 202:
            location = response.headers.get("location")
            response.close()
            if location:
                self._cancel(location)
            log.debug("registry declined to mount %s from %s; uploading", digest.short, from_repository)
            return False
        raise self.client.error_for(response, what=what)

    # -- monolithic --------------------------------------------------------------------------

    def _monolithic(self, digest: Digest, size: int, data: bytes) -> None:
        attempts = self.client.config.max_attempts
        what = f"upload blob {digest.short} to {self.client.registry}/{self.repository}"
        for attempt in range(1, attempts + 1):
            try:
                location = self._start(what)
                self._complete(location, digest, what, content=data)
                return
            except (TransportError, RegistryError) as exc:
                if not _restartable(exc) or attempt == attempts:
                    raise
                log.debug(
                    "upload of %s failed (%s); restarting it (%d/%d)", digest.short, exc, attempt, attempts
                )
                self.client.backoff(attempt, exc.retry_after if isinstance(exc, _RefusedForNow) else None)
                if self._exists(digest):
                    return

    # -- chunked -----------------------------------------------------------------------------

    def _chunked(self, digest: Digest, size: int, chunks: Iterable[bytes], *, verified: bool) -> None:
        what = f"upload blob {digest.short} to {self.client.registry}/{self.repository}"
        location = self._start_restarting(what)
        source = _Reader(iter(chunks), digest, size=size, verified=verified)
        chunk_size = self.client.config.upload_chunk_size
        offset = 0
        try:
            while offset < size:
                length = min(chunk_size, size - offset)
                response = self.client.send(
                    "PATCH",
                    location,
                    content=source.take(length),
                    headers={
                        "Content-Type": _OCTET,
                        "Content-Range": f"{offset}-{offset + length - 1}",
                        "Content-Length": str(length),
                    },
                    scopes=self._scopes,
                    idempotent=False,
                    what=what,
                )
                if response.status_code != 202:
                    raise self.client.error_for(response, what=what)
                location = response.headers.get("location") or location
                _check_range(response.headers.get("range"), offset + length, what)
                response.close()
                offset += length
            source.finish(size)
            self._complete(location, digest, what, content=None)
        except Exception:
            self._cancel(location)
            raise
        finally:
            source.close()

    # -- steps -------------------------------------------------------------------------------

    def _start_restarting(self, what: str) -> str:
        """Open a session; one the registry refused (429/5xx, nothing read from the source
        yet) is asked for again after the backoff, honouring Retry-After."""
        attempts = self.client.config.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                return self._start(what)
            except _RefusedForNow as exc:
                if attempt == attempts:
                    raise
                self.client.backoff(attempt, exc.retry_after)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _start(self, what: str) -> str:
        response = self.client.send(
            "POST", f"/v2/{self.repository}/blobs/uploads/", scopes=self._scopes, idempotent=False, what=what
        )
        if response.status_code != 202:
            raise self._failure(response, what)
        location = response.headers.get("location")
        response.close()
        if not location:
            raise RegistryError(f"{what}: the registry started an upload without a Location", status=202)
        return str(location)

    def _complete(self, location: str, digest: Digest, what: str, *, content: bytes | None) -> None:
        response = self.client.send(
            "PUT",
            with_query(location, digest=str(digest)),
            content=content if content is not None else b"",
            headers={"Content-Type": _OCTET},
            scopes=self._scopes,
            idempotent=False,
            what=what,
        )
        if response.status_code not in (201, 204):
            raise self._failure(response, what)
        echoed = response.headers.get("docker-content-digest")
        response.close()
        if echoed and echoed != str(digest):
            raise IntegrityError(
                f"{what}: the registry stored the blob as {echoed}, not {digest}",
                hint="the registry rewrote the content; do not use this registry for signed images",
            )

    def _failure(self, response: httpx.Response, what: str) -> ShipflowError:
        """The error for a failed upload step; 429/502/503/504 say when to start over."""
        delay = retry_after_seconds(response.headers.get("retry-after"))
        error = self.client.error_for(response, what=what)
        if isinstance(error, RegistryError) and error.status in RETRY_STATUSES:
            return _RefusedForNow(error.message, status=error.status, hint=error.hint, retry_after=delay)
        return error

    def _cancel(self, location: str) -> None:
        """Best effort: a session we abandon is deleted so the registry can drop its bytes."""
        try:
            response = self.client.send(
                "DELETE", location, scopes=self._scopes, idempotent=False, what="cancel upload"
            )
            response.close()
        except (TransportError, RegistryError) as exc:
            log.debug("could not cancel upload %s: %s", sanitize_url(self.client.url(location)), exc)

    def _exists(self, digest: Digest) -> bool:
        response = self.client.send(
            "HEAD",
            f"/v2/{self.repository}/blobs/{digest}",
            scopes=self._scopes,
            idempotent=True,
            what="check blob",
        )
        response.close()
        return response.status_code == 200


def with_query(location: str, **params: str) -> str:
    """``location`` with ``params`` appended to whatever query it already has."""
    separator = "&" if "?" in location else "?"
    return f"{location}{separator}{urlencode(params)}"


class _RefusedForNow(RegistryError):
    """A transient refusal (429/502/503/504) of an upload step, with the server's Retry-After."""

    def __init__(
        self, message: str, *, status: int | None, hint: str | None, retry_after: float | None
    ) -> None:
        super().__init__(message, status=status, hint=hint)
        self.retry_after = retry_after


def _restartable(exc: Exception) -> bool:
    if isinstance(exc, TransportError):
        return True
    # 404: the session expired or was lost; the spec says to restart the upload.
    return isinstance(exc, RegistryError) and exc.status in (*RETRY_STATUSES, 404)


def _check_range(value: str | None, expected_end: int, what: str) -> None:
    """The registry's ``Range: 0-<last byte>`` must say it has everything sent so far."""
    if not value:
        return
    text = value.strip().removeprefix("bytes=")
    _, _, end = text.partition("-")
    try:
        last = int(end)
    except ValueError:
        return
    if last + 1 != expected_end:
        raise RegistryError(
            f"{what}: the registry holds {last + 1} bytes after a chunk ending at {expected_end}"
        )


def _collect(digest: Digest, size: int, chunks: Iterable[bytes], *, verified: bool) -> bytes:
    """Read a small blob into memory, refusing more bytes than declared, then verify it
    (unless its source did: then reading it to the end was the check)."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) > size:
            raise IntegrityError(f"blob {digest.short} is longer than its declared size {size}")
    if len(buffer) != size:
        raise IntegrityError(f"blob {digest.short} has {len(buffer)} bytes, expected {size}")
    data = bytes(buffer)
    if not verified and not digest.matches(data):
        raise IntegrityError(
            f"blob content does not match its digest {digest}",
            hint="the source is corrupt or changed while being read; nothing was uploaded",
        )
    return data


class _Reader:
    """Cuts a chunk stream into exact-length request bodies while hashing it (unless its
    source verifies it); :meth:`close` when done."""

    def __init__(self, chunks: Iterator[bytes], digest: Digest, *, size: int, verified: bool) -> None:
        self._chunks = chunks
        self._digest = digest
        self._hasher = None if verified else StreamHasher(digest, expected_size=size)
        self._pending = b""
        self.consumed = 0

    def take(self, length: int) -> Iterator[bytes]:
        remaining = length
        while remaining > 0:
            if not self._pending:
                try:
                    self._pending = next(self._chunks)
                except StopIteration:
                    raise IntegrityError(
                        f"blob {self._digest.short} ended after {self.consumed} bytes, "
                        "shorter than its declared size"
                    ) from None
                continue
            if len(self._pending) <= remaining:  # the usual case: no slicing, no copy
                piece, self._pending = self._pending, b""
            else:
                piece, self._pending = self._pending[:remaining], self._pending[remaining:]
            if self._hasher is not None:
                self._hasher.update(piece)
            self.consumed += len(piece)
            remaining -= len(piece)
            yield piece

    def finish(self, size: int) -> None:
        """After ``size`` bytes: the source must be exhausted and the digest must match.

        Reading a verified source to its end is what runs its own check (it raises here).
        """
        extra = len(self._pending) + sum(len(c) for c in self._chunks)
        if extra:
            raise IntegrityError(f"blob {self._digest.short} is longer than its declared size {size}")
        if self._hasher is not None and self._hasher.hexdigest() != self._digest.hex:
            raise IntegrityError(
                f"blob content does not match its digest {self._digest}",
                hint="the source is corrupt or changed while being read; the upload was cancelled",
            )

    def close(self) -> None:
        if self._hasher is not None:
            self._hasher.close()


__all__ = ["BlobUploader", "pull_scope", "push_scope", "with_query"]
