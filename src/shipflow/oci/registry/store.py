"""One repository on an OCI distribution registry, as a :class:`~shipflow.oci.store.Store`.

Reads are verified: a manifest fetched by digest must hash to it, one fetched by tag must
hash to the ``Docker-Content-Digest`` the registry claims (when it claims one), a claim of
another digest is refused even when the bytes are right, and every blob is hashed while it
streams and never read past its descriptor's size. ``resolve`` is a ``GET`` whose bytes are
hashed (never only a ``HEAD``'s claim); the manifests read are kept by digest, so the
``get_manifest`` that usually follows costs no request. A manifest answer must carry a
manifest media type (or an untyped body that is one): ``text/html`` is not a manifest.
Manifests are capped at 4 MiB (by ``Content-Length`` and while reading) and kept as their
exact bytes. A manifest PUT counts only on ``201`` (or another 2xx naming its digest).

Referrers: the OCI 1.1 API (``GET /v2/<name>/referrers/<digest>``) where the registry has it,
else the referrers *tag scheme* (an index under ``sha256-<hex>``, see
:mod:`shipflow.oci._referrers`). Updating the fallback index is a read-modify-write without a
lock: two writers adding referrers to the same subject at the same moment can lose one entry
(last writer wins; distribution has no compare-and-swap for tags). :meth:`add_referrer`
narrows the window by reading the tag back and re-merging if its entry is missing.

Failures mid-body: a manifest read that breaks off is read again (it is small and the GET is
idempotent); a blob stream that breaks off is resumed with a ``Range`` request
(:mod:`shipflow.oci.registry.download`), and raises :class:`~shipflow.errors.TransportError`
to the consumer only when the attempts run out.
A repository that does not exist has no tags: ``list_tags`` answers ``[]`` for
``NAME_UNKNOWN``.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx

from shipflow.errors import (
    BlobNotFound,
    DigestError,
    IntegrityError,
    ManifestError,
    ManifestNotFound,
    RegistryError,
    TransportError,
)
from shipflow.oci import mediatypes as mt
from shipflow.oci._blobstream import VerifiedChunks
from shipflow.oci._referrers import fallback_tag, list_referrers, merge_referrer, referrer_descriptor
from shipflow.oci.digest import Digest
from shipflow.oci.models import Descriptor, ManifestBytes, detect_media_type
from shipflow.oci.reference import validate_tag
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.download import BlobDownload
from shipflow.oci.registry.upload import BlobUploader, blob_exists, pull_scope, push_scope
from shipflow.oci.store import Store

log = logging.getLogger(__name__)

_TAGS_PAGE = 1000
_MAX_PAGES = 10_000
_REFERRER_WRITE_ROUNDS = 3
# Verified manifests kept per repository, by digest (a copy or inspect reads each once).
_MANIFEST_CACHE = 64
_NOT_A_REGISTRY = (
    "this does not look like an OCI registry (a web server, login page or proxy answering?); "
    "check the registry address"
)
# Content types that say nothing about the body: the body's own mediaType (or shape) decides.
_UNTYPED = frozenset({"", "application/json", "application/octet-stream", "text/plain"})


class RegistryStore:
    """A repository (``registry/path``) reached through a shared :class:`RegistryClient`."""

    def __init__(self, client: RegistryClient, repository: str) -> None:
        self.client = client
        self.repository = repository
        self._pull = (pull_scope(repository),)
        self._push = (push_scope(repository),)
        self._uploader = BlobUploader(client, repository)
        self._manifests: OrderedDict[Digest, ManifestBytes] = OrderedDict()
        self._manifests_lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"{self.client.registry}/{self.repository}"

    def __repr__(self) -> str:
        return f"RegistryStore({self.name!r})"

    # -- manifests ---------------------------------------------------------------------------

    def resolve(self, tag_or_digest: str) -> Descriptor:
        # A GET, not a HEAD: the digest returned is one of bytes hashed here, never only the
        # registry's Docker-Content-Digest claim. The manifest is kept (by digest), so the
        # get_manifest that usually follows costs no second request.
        return self.get_manifest(tag_or_digest).descriptor()

    def get_manifest(self, tag_or_digest: str) -> ManifestBytes:
        digest = _parse_identifier(tag_or_digest)
        if digest is not None and (cached := self._cached(digest)) is not None:
            return cached
        what = f"get manifest {self.name}{_sep(tag_or_digest)}{tag_or_digest}"
        data, content_type, claimed = self._read_capped(
            self._manifest_path(tag_or_digest), what=what, accept=mt.MANIFEST_ACCEPT
        )
        # Integrity first: wrong bytes are a corruption, whatever they look like.
        if digest is not None:
            if not digest.matches(data):
                raise IntegrityError(
                    f"{what}: the registry sent bytes that do not match the digest",
                    hint="the registry or something between is corrupting content; do not trust it",
                )
            claimed = claimed.strip() if claimed else None
            if claimed and claimed.startswith(f"{digest.algorithm}:") and claimed != str(digest):
                # The bytes are right, but whatever answered misnames them: not to be trusted.
                raise IntegrityError(
                    f"{what}: the registry says the manifest is {claimed}",
                    hint="the registry or something between is rewriting answers; do not trust it",
                )
        else:
            claimed = claimed.strip() if claimed else None
            algorithm = _parse_claimed(claimed, what).algorithm if claimed else "sha256"
            digest = Digest.of(data, algorithm)
            if claimed and str(digest) != claimed:
                raise IntegrityError(
                    f"{what}: the manifest's bytes hash to {digest}, but the registry says {claimed}",
                    hint="the registry or something between is corrupting content; do not trust it",
                )
        manifest = ManifestBytes(data, _manifest_media_type(data, content_type, what, self.client), digest)
        self._remember(manifest)
        return manifest

    def put_manifest(self, manifest: ManifestBytes, *, tag: str | None = None) -> Digest:
        if tag is not None:
            validate_tag(tag)
        reference = tag or str(manifest.digest)
        what = f"put manifest {self.name}{_sep(reference)}{reference}"
        response = self.client.send(
            "PUT",
            self._manifest_path(reference),
            content=manifest.data,
            headers={"Content-Type": manifest.media_type},
            scopes=self._push,
            idempotent=True,  # the same bytes under the same name: repeating it changes nothing
            what=what,
        )
        echoed = (response.headers.get("docker-content-digest") or "").strip()
        if echoed and echoed.startswith(f"{manifest.digest.algorithm}:") and echoed != str(manifest.digest):
            response.close()
            raise IntegrityError(
                f"{what}: the registry stored the manifest as {echoed}, not {manifest.digest}",
                hint="the registry rewrote the manifest; it cannot hold signed images",
            )
        # The spec's answer is 201 Created. Another success code is believed only when it names
        # the manifest we sent (a web server answering 200 to everything stored nothing).
        confirmed = response.status_code == 201 or (
            response.status_code in (200, 202, 204) and echoed == str(manifest.digest)
        )
        if not confirmed:
            raise self.client.error_for(response, what=what, expected="201 Created")
        response.close()
        self._remember(manifest)
        if response.headers.get("oci-subject"):
            self.client.referrers_api = True
        return manifest.digest

    def tag(self, digest: Digest, tag: str) -> None:
        # One manifest PUT under the new name; the blobs are already in the repository.
        self.put_manifest(self.get_manifest(str(digest)), tag=tag)

    def list_tags(self) -> list[str]:
        what = f"list tags of {self.name}"
        tags: set[str] = set()
        url: str | None = f"/v2/{self.repository}/tags/list?n={_TAGS_PAGE}"
        seen: set[str] = set()
        while url is not None and len(seen) < _MAX_PAGES:
            seen.add(url)
            response = self.client.send("GET", url, scopes=self._pull, idempotent=True, what=what)
            if response.status_code == 404:
                # NAME_UNKNOWN: a repository with no manifests has no tags.
                response.close()
                return sorted(tags)
            if response.status_code == 400 and len(seen) == 1 and "?n=" in url:
                # A registry whose page limit is below ours (PAGINATION_NUMBER_INVALID): let
                # it choose the page size.
                response.close()
                url = f"/v2/{self.repository}/tags/list"
                continue
            if response.status_code != 200:
                raise self.client.error_for(response, what=what)
            try:
                doc = response.json()
                page = doc.get("tags") or []
            except (ValueError, AttributeError) as exc:
                raise RegistryError(
                    f"{what}: the registry sent a tag list that is not JSON "
                    f"({_content_type(response) or 'no content type'})",
                    hint=_NOT_A_REGISTRY,
                ) from exc
            if not isinstance(page, list):
                raise RegistryError(f"{what}: the registry sent a malformed tag list", hint=_NOT_A_REGISTRY)
            tags.update(str(t) for t in page)
            url = next_link(response.headers.get("link"), str(response.url))
            if url in seen:
                break
        return sorted(tags)

    # -- blobs -------------------------------------------------------------------------------

    def has_blob(self, digest: Digest, size: int | None = None) -> bool:
        return blob_exists(self.client, self.repository, digest, size, self._pull)

    @contextmanager
    def open_blob(self, digest: Digest, size: int | None = None) -> Iterator[Iterator[bytes]]:
        what = f"get blob {digest.short} from {self.name}"
        path = self._blob_path(digest)
        progress = self.client.progress()
        response = self.client.send(
            "GET",
            path,
            # Layers are compressed already; identity keeps the bytes the digest names (and the
            # body is read raw, so no Content-Encoding is ever undone on the way).
            headers={"Accept-Encoding": "identity"},
            scopes=self._pull,
            idempotent=True,
            what=what,
            stream=True,
            body_budget=progress,
        )
        if response.status_code != 200:
            raise self.client.error_for(response, what=what, not_found=BlobNotFound, expected="200 OK")
        download = BlobDownload(
            self.client, path, digest, response, what=what, scopes=self._pull, size=size, progress=progress
        )
        chunks = VerifiedChunks(download.chunks(), digest)
        try:
            yield chunks
        finally:
            chunks.close()
            download.close()

    def put_blob(self, digest: Digest, size: int, chunks: Iterable[bytes]) -> None:
        # Asked with the push scope: one token then serves the check and the upload.
        if blob_exists(self.client, self.repository, digest, size, self._push):
            return
        self._uploader.upload(digest, size, chunks)

    def mount_blob(self, digest: Digest, source: Store, size: int | None = None) -> bool:
        if not isinstance(source, RegistryStore) or source.client.base_url != self.client.base_url:
            return False
        if source.repository == self.repository:
            return self.has_blob(digest, size)
        return self._uploader.mount(digest, source.repository)

    # -- referrers ---------------------------------------------------------------------------

    def referrers(self, digest: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        if self.client.referrers_api is not False:
            found = self._referrers_api(digest, artifact_type)
            if found is not None:
                return found
        return self._referrers_fallback(digest, artifact_type)

    def add_referrer(self, subject: Digest, manifest: ManifestBytes) -> None:
        if self.client.referrers_api is None:
            self._referrers_api(subject, None)  # finds out whether the registry has the API
        if self.client.referrers_api:
            return  # the registry indexes subjects itself
        tag = fallback_tag(subject)
        entry = referrer_descriptor(manifest)
        for _ in range(_REFERRER_WRITE_ROUNDS):
            try:
                existing: ManifestBytes | None = self.get_manifest(tag)
            except ManifestNotFound:
                existing = None
            updated = merge_referrer(existing, entry)
            if updated is None:
                return
            self.put_manifest(updated, tag=tag)
            # Read back: a concurrent writer may have replaced the index after our read.
            if any(d.digest == manifest.digest for d in list_referrers(self.get_manifest(tag))):
                return
            log.debug("referrers index %s changed under us; merging again", tag)
        raise RegistryError(
            f"could not record {manifest.digest.short} as a referrer of {subject.short} in {self.name}: "
            "the fallback tag kept changing",
            hint="another process is writing referrers for the same image; run the command again",
        )

    def _referrers_api(self, digest: Digest, artifact_type: str | None) -> list[Descriptor] | None:
        """The API's answer, or None (and the client marked) if the registry lacks the API."""
        what = f"list referrers of {digest.short} in {self.name}"
        url: str | None = f"/v2/{self.repository}/referrers/{digest}"
        params = {"artifactType": artifact_type} if artifact_type else None
        found: list[Descriptor] = []
        seen: set[str] = set()
        while url is not None and len(seen) < _MAX_PAGES:
            seen.add(url)
            response = self.client.send(
                "GET",
                url,
                params=params if len(seen) == 1 else None,
                headers={"Accept": mt.OCI_INDEX},
                scopes=self._pull,
                idempotent=True,
                what=what,
                stream=True,
            )
            if response.status_code == 404 and len(seen) == 1:
                codes, _ = self.client.error_summary(response)
                if not codes & {"NAME_UNKNOWN", "MANIFEST_UNKNOWN"}:
                    # No such endpoint: a registry without the referrers API (distribution 2.8).
                    self.client.referrers_api = False
                return None
            if response.status_code != 200:
                raise self.client.error_for(response, what=what)
            data = _read_body_capped(response, what)
            if _content_type(response) != mt.OCI_INDEX:
                raise ManifestError(
                    f"{what}: the registry answered with {_content_type(response) or 'no content type'}, "
                    "not an OCI image index"
                )
            page = list_referrers(ManifestBytes(data, mt.OCI_INDEX, Digest.of(data)))
            filtered = "artifacttype" in response.headers.get("oci-filters-applied", "").lower()
            if artifact_type and not filtered:
                page = [d for d in page if d.artifact_type == artifact_type]
            found.extend(page)
            url = next_link(response.headers.get("link"), str(response.url))
            if url in seen:
                break
        self.client.referrers_api = True
        return found

    def _referrers_fallback(self, digest: Digest, artifact_type: str | None) -> list[Descriptor]:
        try:
            index = self.get_manifest(fallback_tag(digest))
        except ManifestNotFound:
            return []
        return list_referrers(index, artifact_type)

    # -- helpers -----------------------------------------------------------------------------

    def _cached(self, digest: Digest) -> ManifestBytes | None:
        with self._manifests_lock:
            return self._manifests.get(digest)

    def _remember(self, manifest: ManifestBytes) -> None:
        """Keep a verified manifest by digest (content-addressed: it cannot go stale)."""
        with self._manifests_lock:
            self._manifests[manifest.digest] = manifest
            self._manifests.move_to_end(manifest.digest)
            while len(self._manifests) > _MANIFEST_CACHE:
                self._manifests.popitem(last=False)

    def _manifest_path(self, reference: str) -> str:
        return f"/v2/{self.repository}/manifests/{reference}"

    def _blob_path(self, digest: Digest) -> str:
        return f"/v2/{self.repository}/blobs/{digest}"

    def _read_capped(self, path: str, *, what: str, accept: str) -> tuple[bytes, str | None, str | None]:
        """GET a manifest-sized body: (bytes, content type, Docker-Content-Digest).

        A body cut off mid-way is read again (the request is idempotent) before giving up.
        """
        attempts = self.client.config.max_attempts
        deadline = self.client.deadline()  # one for every attempt: the re-reads are retries
        for attempt in range(1, attempts + 1):
            response = self.client.send(
                "GET",
                path,
                headers={"Accept": accept},
                scopes=self._pull,
                idempotent=True,
                what=what,
                stream=True,
                budget=deadline,
            )
            if response.status_code != 200:
                raise self.client.error_for(
                    response, what=what, not_found=ManifestNotFound, expected="200 OK"
                )
            try:
                data = _read_body_capped(response, what)
            except TransportError:
                if attempt == attempts or not self.client.backoff(attempt, None, deadline):
                    raise
                continue
            return data, _content_type(response) or None, response.headers.get("docker-content-digest")
        raise AssertionError("unreachable: the last attempt returns or raises")


def next_link(header: str | None, current_url: str) -> str | None:
    """The ``rel="next"`` target of a ``Link`` header, resolved against the current URL."""
    if not header:
        return None
    for part in header.split(","):
        target, _, attributes = part.partition(";")
        target = target.strip()
        if not (target.startswith("<") and target.endswith(">")):
            continue
        rels = [a.strip() for a in attributes.split(";")]
        if any(r.replace(" ", "") in ('rel="next"', "rel=next") for r in rels):
            resolved = str(httpx.URL(current_url).join(target[1:-1]))
            # Stay on the registry: a Link to another host would carry our token there.
            if urlsplit(resolved).netloc != urlsplit(current_url).netloc:
                raise RegistryError(f"the registry's pagination link points to another host: {target}")
            return resolved
    return None


def _read_body_capped(response: httpx.Response, what: str) -> bytes:
    """The whole body, refusing more than the manifest cap (by header and while reading)."""
    try:
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) > mt.MANIFEST_SIZE_LIMIT:
            raise ManifestError(
                f"{what}: the manifest is {int(length)} bytes, over the {mt.MANIFEST_SIZE_LIMIT} byte limit",
                hint="shipflow refuses manifests over 4 MiB (the distribution spec's recommended cap)",
            )
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > mt.MANIFEST_SIZE_LIMIT:
                raise ManifestError(
                    f"{what}: the manifest exceeds the {mt.MANIFEST_SIZE_LIMIT} byte limit",
                    hint="shipflow refuses manifests over 4 MiB (the distribution spec's recommended cap)",
                )
        return bytes(body)
    except httpx.TimeoutException as exc:
        raise TransportError(f"{what}: the registry stopped sending mid-body ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise TransportError(
            f"{what}: the connection broke mid-body ({type(exc).__name__})",
            hint="run the command again; the network or registry is unreliable",
        ) from exc
    finally:
        response.close()


def _parse_identifier(tag_or_digest: str) -> Digest | None:
    """A digest if it looks like one (validated), else None after validating the tag."""
    if ":" in tag_or_digest:
        return Digest.parse(tag_or_digest)
    validate_tag(tag_or_digest)
    return None


def _parse_claimed(claimed: str, what: str) -> Digest:
    try:
        return Digest.parse(claimed.strip())
    except DigestError as exc:
        raise RegistryError(
            f"{what}: the registry sent a malformed Docker-Content-Digest {claimed!r}"
        ) from exc


def _manifest_media_type(data: bytes, content_type: str | None, what: str, client: RegistryClient) -> str:
    """The media type of a manifest the registry sent, refusing an answer that is not one."""
    declared = content_type or ""
    if declared not in mt.MANIFESTS and declared not in _UNTYPED:
        raise ManifestError(
            f"{what}: {client.registry} answered with {declared!r}, not a manifest", hint=_NOT_A_REGISTRY
        )
    try:
        return detect_media_type(data, declared or None)
    except ManifestError as exc:
        raise ManifestError(
            f"{what}: {client.registry} sent something that is not a manifest: {exc.message}",
            hint=exc.hint or "check the registry address and the image reference",
        ) from exc


def _content_type(response: httpx.Response) -> str:
    return str(response.headers.get("content-type", "")).split(";", 1)[0].strip().lower()


def _sep(reference: str) -> str:
    return "@" if ":" in reference else ":"
