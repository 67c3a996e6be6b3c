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
  :mod:`shipflow.oci._blobstream`) is not hashed a second time: it is read to its end, which
  raises on wrong bytes, before the commit. Large blobs are hashed on a helper thread.
* **Mount**: ``POST /v2/<name>/blobs/uploads/?mount=<d>&from=<repo>``: ``201`` means the
  registry linked the blob without any bytes moving; ``202`` means it did not (the session it
  opened instead is cancelled and the caller uploads).

The ``Location`` is opaque and may be relative; distribution already puts ``?_state=…`` in
it, so ``digest`` is *appended* to the query, never replacing it. The newest ``Location``
returned is always the one used.

What counts as done is what the spec says a registry answers: ``202`` (with ``Location``) to
the POST, ``202`` to each PATCH (its ``Range`` checked when sent), ``201`` to the completing
PUT — another 2xx only if its ``Docker-Content-Digest`` names the blob — and a
``Docker-Content-Digest`` naming another blob is an :class:`IntegrityError`. A web server
answering ``200`` to everything therefore fails the upload instead of "completing" it.
Existence (:func:`blob_exists`) needs a ``200`` to ``HEAD`` that proves it.

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
from shipflow.oci._blobstream import StreamHasher, verified_by_source
from shipflow.oci.digest import Digest
from shipflow.oci.registry.client import RETRY_STATUSES, RegistryClient, retry_after_seconds
from shipflow.oci.registry.deadline import Budget
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
        # (see shipflow.oci._blobstream); it is still read to its end before the commit.
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
            echoed = (response.headers.get("docker-content-digest") or "").strip()
            response.close()
            if echoed and echoed.startswith(f"{digest.algorithm}:") and echoed != str(digest):
                raise IntegrityError(
                    f"{what}: the registry answered the mount with {echoed}, not {digest}",
                    hint="the registry or something between is rewriting answers; do not trust it",
                )
            log.debug("mounted %s from %s into %s", digest.short, from_repository, self.repository)
            return True
        if response.status_code == 202:
            location = response.headers.get("location")
            response.close()
            if location:
                self._cancel(location)
            log.debug("registry declined to mount %s from %s; uploading", digest.short, from_repository)
            return False
        raise self.client.error_for(
            response, what=what, expected="201 Created (mounted) or 202 Accepted (not mounted)"
        )

    # -- monolithic --------------------------------------------------------------------------

    def _monolithic(self, digest: Digest, size: int, data: bytes) -> None:
        attempts = self.client.config.max_attempts
        what = f"upload blob {digest.short} to {self.client.registry}/{self.repository}"
        for attempt in range(1, attempts + 1):
            try:
                location = self._start(what)
                self._complete(location, digest, what, content=data, budget=self.client.progress())
                return
            except (TransportError, RegistryError) as exc:
                if not _restartable(exc) or attempt == attempts:
                    raise
                log.debug(
                    "upload of %s failed (%s); restarting it (%d/%d)", digest.short, exc, attempt, attempts
                )
                self.client.backoff(attempt, exc.retry_after if isinstance(exc, _RefusedForNow) else None)
                if blob_exists(self.client, self.repository, digest, size, self._scopes):
                    return

    # -- chunked -----------------------------------------------------------------------------

    def _chunked(self, digest: Digest, size: int, chunks: Iterable[bytes], *, verified: bool) -> None:
        what = f"upload blob {digest.short} to {self.client.registry}/{self.repository}"
        location = self._start_restarting(what)
        source = _Reader(iter(chunks), digest, size=size, verified=verified)
        chunk_size = self.client.config.upload_chunk_size
        offset = 0
        progress = self.client.progress()  # the body must keep moving, however big the blob
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
                    budget=progress,
                )
                if response.status_code != 202:
                    raise self.client.error_for(response, what=what, expected="202 Accepted")
                location = response.headers.get("location") or location
                _check_range(response.headers.get("range"), offset + length, what)
                response.close()
                offset += length
            source.finish(size)
            self._complete(location, digest, what, content=None, budget=None)
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
            raise self._failure(response, what, expected="202 Accepted")
        location = response.headers.get("location")
        response.close()
        if not location:
            raise RegistryError(f"{what}: the registry started an upload without a Location", status=202)
        return str(location)

    def _complete(
        self, location: str, digest: Digest, what: str, *, content: bytes | None, budget: Budget | None
    ) -> None:
        response = self.client.send(
            "PUT",
            with_query(location, digest=str(digest)),
            content=content if content is not None else b"",
            headers={"Content-Type": _OCTET},
            scopes=self._scopes,
            idempotent=False,
            what=what,
            budget=budget,
        )
        echoed = (response.headers.get("docker-content-digest") or "").strip()
        if echoed and echoed.startswith(f"{digest.algorithm}:") and echoed != str(digest):
            response.close()
            raise IntegrityError(
                f"{what}: the registry stored the blob as {echoed}, not {digest}",
                hint="the registry rewrote the content; do not use this registry for signed images",
            )
        # 201 Created is the spec's answer; another success only counts if it names our blob.
        if response.status_code != 201 and not (response.status_code in (200, 204) and echoed == str(digest)):
            raise self._failure(response, what, expected="201 Created")
        response.close()

    def _failure(self, response: httpx.Response, what: str, *, expected: str) -> ShipflowError:
        """The error for a failed upload step; 429/502/503/504 say when to start over."""
        delay = retry_after_seconds(response.headers.get("retry-after"))
        error = self.client.error_for(response, what=what, expected=expected)
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


def blob_exists(
    client: RegistryClient, repository: str, digest: Digest, size: int | None, scopes: tuple[str, ...]
) -> bool:
    """Whether the repository holds the blob, by a ``HEAD`` whose answer proves it.

    Only a ``200`` counts, and only with proof: a ``Content-Length`` equal to ``size`` (when the
    size is known), else a ``Docker-Content-Digest`` naming the blob. A ``Docker-Content-Digest``
    naming another blob is an :class:`IntegrityError`. A ``200`` without proof (a web server
    answering every path) is taken as "not there", so the blob is uploaded, where a server
    that is not a registry fails loudly.
    """
    what = f"check blob {digest.short} in {client.registry}/{repository}"
    path = f"/v2/{repository}/blobs/{digest}"
    response = client.send("HEAD", path, scopes=scopes, idempotent=True, what=what)
    if response.status_code == 404:
        response.close()
        return False
    if response.status_code != 200:
        raise client.error_for(response, what=what, expected="200 OK or 404 Not Found")
    response.close()
    claimed = (response.headers.get("docker-content-digest") or "").strip()
    if claimed and claimed.startswith(f"{digest.algorithm}:") and claimed != str(digest):
        raise IntegrityError(
            f"{what}: the registry answered for {claimed}",
            hint="the registry or something between is rewriting answers; do not trust it",
        )
    length = (response.headers.get("content-length") or "").strip()
    # With the descriptor's size, the length must match it; without, the digest header must.
    proven = (length.isdigit() and int(length) == size) if size is not None else claimed == str(digest)
    if not proven:
        log.debug(
            "%s: 200 without proof (Content-Length %r, Docker-Content-Digest %r); taken as absent",
            what,
            length,
            claimed,
        )
    return proven


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


__all__ = ["BlobUploader", "blob_exists", "pull_scope", "push_scope", "with_query"]
