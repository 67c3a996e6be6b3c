"""An OCI image layout directory as a Store (``oci:PATH``): shipflow's embedded default.

The layout is the one opencontainers/image-spec ``image-layout.md`` defines, so skopeo,
buildah and umoci read what shipflow writes and the reverse: ``oci-layout``, ``index.json``
(tags in the ``org.opencontainers.image.ref.name`` annotation, see :mod:`layout_index`) and
``blobs/<alg>/<hex>``.

How it stays consistent:

* A blob is written to ``.shipflow-tmp/`` in the layout (same filesystem), hashed while
  written (on a helper thread for large blobs; not at all when the stream comes from another
  store's ``open_blob``, which verifies it and raises at its end instead — see
  :mod:`shipflow.oci.blobstream`), checked for size and digest, fsynced and only then
  renamed into ``blobs/``. The
  temporary directory is *not* under ``blobs/``: umoci takes every file in ``blobs/sha256/``
  for a blob.
* ``index.json`` is only changed under an exclusive lock on ``.shipflow.lock`` (``filelock``,
  an flock: released by the kernel if a process dies), re-read inside the lock, and replaced
  by temp + rename, so concurrent processes lose no tag and readers need no lock. A broken
  ``index.json`` is never overwritten.
* Reads verify: manifests against their digest and the 4 MiB cap, blobs while streaming.
* A manifest is stored only when every blob it references is present.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from filelock import FileLock, Timeout

from shipflow.errors import (
    BlobNotFound,
    DigestError,
    IntegrityError,
    InvalidReference,
    LayoutError,
    ManifestError,
    ManifestNotFound,
    TransportError,
)
from shipflow.oci import mediatypes as mt
from shipflow.oci.blobstream import StreamHasher, VerifiedChunks, verified_by_source
from shipflow.oci.digest import Digest
from shipflow.oci.layout_index import LayoutIndex, entry_descriptor
from shipflow.oci.models import Descriptor, Index, ManifestBytes, detect_media_type
from shipflow.oci.reference import validate_tag
from shipflow.oci.referrers import fallback_tag, list_referrers, merge_referrer, referrer_descriptor
from shipflow.oci.store import CHUNK_SIZE, Store

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
BLOBS_DIR = "blobs"
LOCK_FILE = ".shipflow.lock"
TMP_DIR = ".shipflow-tmp"
LAYOUT_VERSION = "1.0.0"
# Writers hold the lock for milliseconds; a minute means a stuck process, not contention.
LOCK_TIMEOUT = 60.0
_OWN_FILES = frozenset({LOCK_FILE, TMP_DIR})
_MAX_TAGS_IN_HINT = 20


class LayoutStore:
    """One OCI image layout directory, implementing :class:`~shipflow.oci.store.Store`."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self._path = Path(path)
        self._lock = FileLock(str(self._path / LOCK_FILE), timeout=LOCK_TIMEOUT)
        if create:
            self._create()
        self._check_layout()
        self._read_index()  # a broken index.json is reported on open, not mid-copy

    # -- identity ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"oci:{self._path}"

    @property
    def path(self) -> Path:
        return self._path

    def __repr__(self) -> str:
        return f"LayoutStore({str(self._path)!r})"

    # -- reading -------------------------------------------------------------------------------

    def resolve(self, tag_or_digest: str) -> Descriptor:
        index = self._read_index()
        if ":" in tag_or_digest:  # tags cannot contain ':', digests always do
            digest = _parse_digest(tag_or_digest)
            if not self._blob_path(digest).is_file():
                raise ManifestNotFound(
                    f"manifest {digest} is not in {self.name}", hint=self._tags_hint(index)
                )
            entry = index.find_digest(digest)
            if entry is not None:
                return entry_descriptor(entry, self._index_source)
            data = self._read_manifest_blob(digest, index)
            return Descriptor(media_type=self._media_type(data, None, digest), digest=digest, size=len(data))
        entry = index.find_tag(tag_or_digest, self._index_source)
        if entry is None:
            raise ManifestNotFound(
                f"tag {tag_or_digest!r} is not in {self.name}", hint=self._tags_hint(index)
            )
        return entry_descriptor(entry, self._index_source)

    def get_manifest(self, tag_or_digest: str) -> ManifestBytes:
        descriptor = self.resolve(tag_or_digest)
        try:
            data = self._read_manifest_blob(descriptor.digest, None)
        except ManifestNotFound as exc:  # only a tag gets here: a digest was checked by resolve
            raise LayoutError(
                f"tag {tag_or_digest!r} in {self.name} points at {descriptor.digest}, "
                "but that manifest is missing from blobs/",
                hint="the layout is incomplete; copy the image into it again",
            ) from exc
        if len(data) != descriptor.size:
            raise IntegrityError(
                f"manifest {descriptor.digest} in {self.name} is {len(data)} bytes but index.json "
                f"says {descriptor.size}",
                hint=f"the entry in {self._index_source} is wrong; retag the image to rewrite it",
            )
        media_type = self._media_type(data, descriptor.media_type, descriptor.digest)
        return ManifestBytes(data, media_type, descriptor.digest)

    def list_tags(self) -> list[str]:
        return self._read_index().tags()

    def has_blob(self, digest: Digest) -> bool:
        return self._blob_path(digest).is_file()

    @contextmanager
    def open_blob(self, digest: Digest) -> Iterator[Iterator[bytes]]:
        path = self._blob_path(digest)
        try:
            handle = path.open("rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(
                f"blob {digest} is not in {self.name}",
                hint="copy the image into this layout again to restore its blobs",
            ) from exc
        except OSError as exc:
            raise LayoutError(f"cannot read {path}: {exc.strerror}", hint="check permissions") from exc
        with handle:
            chunks = VerifiedChunks(self._verified_chunks(handle, digest, path), digest)
            try:
                yield chunks
            finally:
                chunks.close()

    def referrers(self, digest: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        # Layouts have no referrers API: the referrers tag-scheme fallback index is the record.
        tag = fallback_tag(digest)
        if self._read_index().find_tag(tag, self._index_source) is None:
            return []
        return list_referrers(self.get_manifest(tag), artifact_type)

    # -- writing -------------------------------------------------------------------------------

    def put_blob(self, digest: Digest, size: int, chunks: Iterable[bytes]) -> None:
        # A stream another store verifies against this digest (it raises at its end rather
        # than finish on wrong bytes) is not hashed twice: reading it to the end, as below,
        # before the rename is what makes it safe.
        hasher = None if verified_by_source(chunks, digest) else StreamHasher(digest, expected_size=size)
        temp = self._new_temp_file()
        try:
            written = 0
            with temp.open("wb") as out:
                for chunk in _source_chunks(chunks, digest):
                    written += len(chunk)
                    if written > size:
                        raise IntegrityError(
                            f"blob {digest} is longer than the {size} bytes announced",
                            hint="the source sent more data than its descriptor says; copy again",
                        )
                    if hasher is not None:
                        hasher.update(chunk)  # on a helper thread for large blobs, beside the write
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if written != size:
                raise IntegrityError(
                    f"blob {digest} is {written} bytes, expected {size}",
                    hint="the stream was cut short; copy again",
                )
            if hasher is not None and hasher.hexdigest() != digest.hex:
                raise IntegrityError(
                    f"blob {digest} does not match its digest (the bytes hash to "
                    f"{digest.algorithm}:{hasher.hexdigest()})",
                    hint="the source served wrong bytes; nothing was stored",
                )
            temp.chmod(0o644)
            self._commit_blob(temp, digest)
        except OSError as exc:
            raise LayoutError(
                f"cannot write blob {digest.short} into {self.name}: {exc.strerror or exc}",
                hint="check free disk space and that the layout directory is writable",
            ) from exc
        finally:
            if hasher is not None:
                hasher.close()
            temp.unlink(missing_ok=True)

    def put_manifest(self, manifest: ManifestBytes, *, tag: str | None = None) -> Digest:
        if tag is not None:
            validate_tag(tag)
        self._check_manifest_bytes(manifest)
        children = self._require_references(manifest)
        if not self._blob_matches(manifest.digest, manifest.data):
            self.put_blob(manifest.digest, manifest.size, [manifest.data])
        descriptor = manifest.descriptor()
        with self._locked():
            index = self._read_index()
            changed = index.drop_untagged(children) if manifest.is_index else False
            if tag is not None:
                changed = index.set_tag(descriptor, tag) or changed
            else:
                changed = index.add_untagged(descriptor) or changed
            if changed:
                self._write_index(index)
        return manifest.digest

    def tag(self, digest: Digest, tag: str) -> None:
        validate_tag(tag)
        with self._locked():
            index = self._read_index()
            data = self._read_manifest_blob(digest, index)
            entry = index.find_digest(digest)
            declared = entry.get("mediaType") if entry is not None else None
            media_type = self._media_type(data, declared, digest)
            if index.set_tag(Descriptor(media_type=media_type, digest=digest, size=len(data)), tag):
                self._write_index(index)

    def delete_tag(self, tag: str) -> None:
        """Remove ``tag``; its manifest stays listed by digest (not in the Store protocol yet)."""
        with self._locked():
            index = self._read_index()
            if not index.remove_tag(tag):
                raise ManifestNotFound(f"tag {tag!r} is not in {self.name}", hint=self._tags_hint(index))
            self._write_index(index)

    def mount_blob(self, digest: Digest, source: Store) -> bool:
        if not isinstance(source, LayoutStore):
            return False
        if self.has_blob(digest):
            return True
        origin = source._blob_path(digest)
        if not origin.is_file():
            return False
        # Same filesystem: a hard link shares the (immutable) file without copying bytes; it
        # is still hashed before it becomes visible here.
        temp = self._temp_path()
        try:
            os.link(origin, temp)
        except OSError:  # another filesystem, or links not allowed: copy, verified
            with source.open_blob(digest) as chunks:
                self.put_blob(digest, origin.stat().st_size, chunks)
            return True
        try:
            with temp.open("rb") as handle:
                for _ in self._verified_chunks(handle, digest, origin):
                    pass
            self._commit_blob(temp, digest)
        except OSError as exc:
            raise LayoutError(
                f"cannot link blob {digest.short} into {self.name}: {exc.strerror or exc}",
                hint="check that the layout directory is writable",
            ) from exc
        finally:
            temp.unlink(missing_ok=True)
        return True

    def add_referrer(self, subject: Digest, manifest: ManifestBytes) -> None:
        if not self.has_blob(manifest.digest):
            raise ManifestNotFound(
                f"referrer {manifest.digest} is not in {self.name}",
                hint="put the referrer manifest before recording it",
            )
        tag = fallback_tag(subject)
        # One lock around read-merge-write, so two processes adding referrers lose neither.
        with self._locked():
            index = self._read_index()
            existing = self.get_manifest(tag) if index.find_tag(tag, self._index_source) else None
            merged = merge_referrer(existing, referrer_descriptor(manifest))
            if merged is not None:
                self.put_manifest(merged, tag=tag)

    # -- layout files --------------------------------------------------------------------------

    @property
    def _index_source(self) -> str:
        return str(self._path / INDEX_FILE)

    def _create(self) -> None:
        try:
            self._path.mkdir(parents=True, exist_ok=True)
        except FileExistsError as exc:
            raise LayoutError(
                f"cannot create an OCI layout at {self._path}: it exists and is not a directory",
                hint="choose a directory path",
            ) from exc
        except OSError as exc:
            raise LayoutError(
                f"cannot create an OCI layout at {self._path}: {exc.strerror}",
                hint="check the path and its permissions",
            ) from exc
        with self._locked():
            if (self._path / LAYOUT_FILE).exists():
                return
            others = sorted(p.name for p in self._path.iterdir() if p.name not in _OWN_FILES)
            if others:
                raise LayoutError(
                    f"cannot create an OCI layout in {self._path}: the directory is not empty "
                    f"and has no oci-layout file (it holds {', '.join(others[:5])})",
                    hint="choose an empty or new directory for the layout",
                )
            (self._path / BLOBS_DIR / "sha256").mkdir(parents=True, exist_ok=True)
            self._write_file(INDEX_FILE, LayoutIndex.empty().to_bytes())
            # oci-layout last: it marks the layout complete.
            self._write_file(LAYOUT_FILE, json.dumps({"imageLayoutVersion": LAYOUT_VERSION}).encode())

    def _check_layout(self) -> None:
        hint = (
            "check the path; `shipflow copy SRC oci:PATH:TAG` creates a layout, "
            "or give the directory of an existing OCI layout (skopeo/umoci/buildah write them)"
        )
        if not self._path.is_dir():
            problem = "not a directory" if self._path.exists() else "no such directory"
            raise LayoutError(f"no OCI image layout at {self._path}: {problem}", hint=hint)
        layout_file = self._path / LAYOUT_FILE
        try:
            doc = json.loads(layout_file.read_bytes())
        except FileNotFoundError as exc:
            raise LayoutError(
                f"{self._path} is not an OCI image layout: it has no oci-layout file", hint=hint
            ) from exc
        except (OSError, ValueError) as exc:
            raise LayoutError(
                f"{layout_file} is unreadable or not JSON: {exc}",
                hint='it must hold {"imageLayoutVersion": "1.0.0"}',
            ) from exc
        version = doc.get("imageLayoutVersion") if isinstance(doc, dict) else None
        if not isinstance(version, str):
            raise LayoutError(
                f"{layout_file} has no imageLayoutVersion",
                hint='it must hold {"imageLayoutVersion": "1.0.0"}',
            )
        if version.split(".")[0] != "1":
            raise LayoutError(
                f"{layout_file}: unsupported image layout version {version!r}",
                hint="shipflow reads OCI image layouts of version 1.x",
            )
        if not (self._path / BLOBS_DIR).is_dir():
            raise LayoutError(
                f"{self._path} is not an OCI image layout: it has no blobs/ directory", hint=hint
            )
        if not (self._path / INDEX_FILE).is_file():
            raise LayoutError(f"{self._path} is not an OCI image layout: it has no index.json", hint=hint)

    def _read_index(self) -> LayoutIndex:
        try:
            data = (self._path / INDEX_FILE).read_bytes()
        except OSError as exc:
            raise LayoutError(
                f"cannot read {self._index_source}: {exc.strerror}",
                hint="check that the layout exists and is readable",
            ) from exc
        return LayoutIndex.parse(data, self._index_source)

    def _write_index(self, index: LayoutIndex) -> None:
        self._write_file(INDEX_FILE, index.to_bytes())

    def _write_file(self, name: str, data: bytes) -> None:
        """Replace a top-level layout file atomically (temp + fsync + rename)."""
        temp = self._new_temp_file()
        try:
            with temp.open("wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            temp.chmod(0o644)
            os.replace(temp, self._path / name)
            _fsync_dir(self._path)
        except OSError as exc:
            raise LayoutError(
                f"cannot write {self._path / name}: {exc.strerror or exc}",
                hint="check free disk space and that the layout directory is writable",
            ) from exc
        finally:
            temp.unlink(missing_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self._lock.acquire()
        except Timeout as exc:
            raise LayoutError(
                f"timed out after {LOCK_TIMEOUT:.0f}s waiting for the lock on {self.name}",
                hint=f"another process is writing to this layout; if none is, remove {self._lock.lock_file}",
            ) from exc
        except OSError as exc:
            raise LayoutError(
                f"cannot lock {self.name}: {exc.strerror or exc}",
                hint="check that the layout directory is writable",
            ) from exc
        try:
            yield
        finally:
            self._lock.release()

    # -- blobs ---------------------------------------------------------------------------------

    def _blob_path(self, digest: Digest) -> Path:
        return self._path / BLOBS_DIR / digest.algorithm / digest.hex

    def _temp_path(self) -> Path:
        """A fresh unused name in the layout's temporary directory."""
        directory = self._path / TMP_DIR
        try:
            directory.mkdir(exist_ok=True)
        except OSError as exc:
            raise LayoutError(
                f"cannot write into {self.name}: {exc.strerror or exc}",
                hint="check that the layout directory is writable",
            ) from exc
        return directory / f"link-{os.getpid()}-{os.urandom(8).hex()}"

    def _new_temp_file(self) -> Path:
        directory = self._path / TMP_DIR
        try:
            directory.mkdir(exist_ok=True)
            fd, name = tempfile.mkstemp(dir=directory, prefix="blob-")
        except OSError as exc:
            raise LayoutError(
                f"cannot write into {self.name}: {exc.strerror or exc}",
                hint="check free disk space and that the layout directory is writable",
            ) from exc
        os.close(fd)
        return Path(name)

    def _commit_blob(self, temp: Path, digest: Digest) -> None:
        final = self._blob_path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, final)
        _fsync_dir(final.parent)

    def _blob_matches(self, digest: Digest, data: bytes) -> bool:
        try:
            return self._blob_path(digest).read_bytes() == data
        except OSError:
            return False

    def _verified_chunks(self, handle: BinaryIO, digest: Digest, path: Path) -> Iterator[bytes]:
        hasher = StreamHasher(digest, expected_size=os.fstat(handle.fileno()).st_size)
        try:
            while chunk := handle.read(CHUNK_SIZE):
                hasher.update(chunk)  # on a helper thread for large blobs, beside the reads
                yield chunk
            digest_hex = hasher.hexdigest()
        finally:
            hasher.close()
        if digest_hex != digest.hex:
            raise IntegrityError(
                f"blob {digest} in {self.name} is corrupt: its file hashes to "
                f"{digest.algorithm}:{digest_hex}",
                hint=f"{path} was changed on disk; delete it and copy the image into the layout again",
            )

    # -- manifests -----------------------------------------------------------------------------

    def _read_manifest_blob(self, digest: Digest, index: LayoutIndex | None) -> bytes:
        path = self._blob_path(digest)
        try:
            with path.open("rb") as handle:
                data = handle.read(mt.MANIFEST_SIZE_LIMIT + 1)
        except FileNotFoundError as exc:
            raise ManifestNotFound(
                f"manifest {digest} is not in {self.name}",
                hint=self._tags_hint(index or self._read_index()),
            ) from exc
        except OSError as exc:
            raise LayoutError(f"cannot read {path}: {exc.strerror}", hint="check permissions") from exc
        if len(data) > mt.MANIFEST_SIZE_LIMIT:
            raise ManifestError(
                f"{digest.short} in {self.name} is over the {mt.MANIFEST_SIZE_LIMIT} byte manifest limit",
                hint="it is a large blob, not a manifest; name an image manifest or index",
            )
        if not digest.matches(data):
            raise IntegrityError(
                f"manifest {digest} in {self.name} is corrupt: its file does not match the digest",
                hint=f"{path} was changed on disk; copy the image into the layout again",
            )
        return data

    def _media_type(self, data: bytes, declared: str | None, digest: Digest) -> str:
        try:
            return detect_media_type(data, declared)
        except ManifestError as exc:
            raise ManifestError(
                f"{digest.short} in {self.name} is not a manifest shipflow can read: {exc.message}",
                hint=exc.hint or "name an image manifest or index",
            ) from exc

    def _check_manifest_bytes(self, manifest: ManifestBytes) -> None:
        if manifest.size > mt.MANIFEST_SIZE_LIMIT:
            raise ManifestError(
                f"manifest {manifest.digest.short} is {manifest.size} bytes, over the "
                f"{mt.MANIFEST_SIZE_LIMIT} byte limit",
                hint="registries refuse manifests this large; split the image or its annotations",
            )
        if not manifest.digest.matches(manifest.data):
            raise IntegrityError(
                f"manifest bytes do not match their digest {manifest.digest}",
                hint="build ManifestBytes with ManifestBytes.create so the digest is computed",
            )

    def _require_references(self, manifest: ManifestBytes) -> set[Digest]:
        """Digests the manifest references; BlobNotFound if any is missing here.

        Layers with ``urls`` (foreign / non-distributable) may live elsewhere, as the layout
        spec allows, so they are not required.
        """
        parsed = manifest.parse()
        if isinstance(parsed, Index):
            wanted = [(f"manifest {d.digest}", d) for d in parsed.manifests]
        else:
            wanted = [(f"config {parsed.config.digest}", parsed.config)]
            wanted += [(f"layer {n} {d.digest}", d) for n, d in enumerate(parsed.layers) if not d.urls]
        missing = [label for label, d in wanted if not self.has_blob(d.digest)]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise BlobNotFound(
                f"refusing to store manifest {manifest.digest.short} in {self.name}: "
                f"{len(missing)} referenced blob(s) missing: {shown}",
                hint="copy the blobs (or child manifests) first; no tag was written",
            )
        return {d.digest for _, d in wanted}

    def _tags_hint(self, index: LayoutIndex) -> str:
        tags = index.tags()
        if not tags:
            return f"{self.name} has no tags; copy an image there first"
        shown = ", ".join(tags[:_MAX_TAGS_IN_HINT])
        if len(tags) > _MAX_TAGS_IN_HINT:
            shown += f" … ({len(tags)} in all; `shipflow tags {self.name}` lists them)"
        return f"tags in {self.name}: {shown}"


def _source_chunks(chunks: Iterable[bytes], digest: Digest) -> Iterator[bytes]:
    """``chunks``, with an OSError from the *source* reported as a transfer failure (not as a
    disk problem of this layout)."""
    iterator = iter(chunks)
    while True:
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        except OSError as exc:
            raise TransportError(
                f"reading blob {digest.short} failed mid-stream: {exc}",
                hint="nothing was stored; run the command again",
            ) from exc
        yield chunk


def _conforms(store: LayoutStore) -> Store:
    """Never called: makes mypy check LayoutStore against the Store protocol."""
    return store


def _parse_digest(text: str) -> Digest:
    try:
        return Digest.parse(text)
    except DigestError as exc:
        raise InvalidReference(
            f"{text!r} is neither a tag nor a valid digest: {exc.message}",
            hint="a tag has no ':'; a digest looks like sha256:<64 lowercase hex characters>",
        ) from exc


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
