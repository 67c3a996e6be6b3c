"""An OCI image layout directory as a Store (``oci:PATH``): shipflow's embedded default.

The layout is the one opencontainers/image-spec ``image-layout.md`` defines, so skopeo,
buildah and umoci read what shipflow writes and the reverse: ``oci-layout``, ``index.json``
(tags in the ``org.opencontainers.image.ref.name`` annotation, see :mod:`layout_index`) and
``blobs/<alg>/<hex>``.

How it stays consistent:

* A blob is written to ``.shipflow-tmp/`` in the layout (same filesystem), hashed while
  written (on a helper thread for large blobs; not at all when the stream comes from another
  store's ``open_blob``, which verifies it and raises at its end instead — see
  :mod:`shipflow.oci._blobstream`), checked for size and digest, fsynced and only then
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

import contextlib
import errno
import fcntl
import json
import logging
import os
import shutil
import stat
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from shipflow.errors import (
    BlobNotFound,
    DigestError,
    IntegrityError,
    InvalidReference,
    LayoutError,
    ManifestError,
    ManifestNotFound,
    NotFound,
    TransportError,
    UsageError,
)
from shipflow.oci import mediatypes as mt
from shipflow.oci._blobstream import StreamHasher, VerifiedChunks, verified_by_source
from shipflow.oci._layout_index import LayoutIndex, entry_descriptor
from shipflow.oci._referrers import fallback_tag, list_referrers, merge_referrer, referrer_descriptor
from shipflow.oci.digest import Digest
from shipflow.oci.models import Descriptor, Index, ManifestBytes, detect_media_type
from shipflow.oci.reference import validate_tag
from shipflow.oci.store import CHUNK_SIZE, Store

if TYPE_CHECKING:
    from filelock import FileLock

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
BLOBS_DIR = "blobs"
LOCK_FILE = ".shipflow.lock"
TMP_DIR = ".shipflow-tmp"
LAYOUT_VERSION = "1.0.0"
# Writers hold the lock for milliseconds; a minute means a stuck process, not contention.
LOCK_TIMEOUT = 60.0
# index.json lists one small entry per tag and manifest: 64 MiB is hundreds of thousands.
INDEX_SIZE_LIMIT = 64 * 1024 * 1024
_OWN_FILES = frozenset({LOCK_FILE, TMP_DIR})
_MAX_TAGS_IN_HINT = 20
# A temporary file still named new-… after this long was left by a writer that died between
# creating and locking it (a moment): it is removed.
_NEW_TEMP_GRACE = 3600.0

log = logging.getLogger(__name__)


class LayoutStore:
    """One OCI image layout directory, implementing :class:`~shipflow.oci.store.Store`."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self._path = Path(path)
        self._file_lock: FileLock | None = None  # made by the first write (see _locked)
        self._temps_cleaned = False
        self._created = False
        """Whether this object created the layout (``create=True``), until kept."""
        self._created_dir: Path | None = None
        """The outermost directory it created for it, if any."""
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
        return self._find(tag_or_digest)[0].descriptor()

    def get_manifest(self, tag_or_digest: str) -> ManifestBytes:
        return self._find(tag_or_digest)[0]

    def _find(self, tag_or_digest: str) -> tuple[ManifestBytes, LayoutIndex]:
        """The manifest a tag or digest names, read from blobs/ and verified.

        A tag whose manifest blob is missing is a broken layout (LayoutError naming both), not
        a missing image: the index says the image is there.
        """
        index = self._read_index()
        if ":" in tag_or_digest:  # tags cannot contain ':', digests always do
            digest = _parse_digest(tag_or_digest)
            entry = index.find_digest(digest)
            data = self._read_manifest_blob(digest, index)
            declared = entry_descriptor(entry, self._index_source).media_type if entry is not None else None
            return ManifestBytes(data, self._media_type(data, declared, digest), digest), index
        entry = index.find_tag(tag_or_digest, self._index_source)
        if entry is None:
            raise ManifestNotFound(
                f"tag {tag_or_digest!r} is not in {self.name}", hint=self._tags_hint(index)
            )
        descriptor = entry_descriptor(entry, self._index_source)
        try:
            data = self._read_manifest_blob(descriptor.digest, index)
        except ManifestNotFound as exc:
            raise LayoutError(
                f"tag {tag_or_digest!r} in {self.name} points at {descriptor.digest}, "
                f"but that manifest is missing from blobs/ ({self._blob_path(descriptor.digest)})",
                hint="the layout is broken: copy the image into it again, or remove the tag",
            ) from exc
        if len(data) != descriptor.size:
            raise IntegrityError(
                f"manifest {descriptor.digest} in {self.name} is {len(data)} bytes but index.json "
                f"says {descriptor.size}",
                hint=f"the entry in {self._index_source} is wrong; retag the image to rewrite it",
            )
        media_type = self._media_type(data, descriptor.media_type, descriptor.digest)
        return ManifestBytes(data, media_type, descriptor.digest), index

    def list_tags(self) -> list[str]:
        return self._read_index().tags()

    def has_blob(self, digest: Digest, size: int | None = None) -> bool:
        try:
            info = self._blob_path(digest).lstat()
        except OSError:
            return False
        # A symlink or device in blobs/ is not a blob shipflow will read (see open_blob).
        return stat.S_ISREG(info.st_mode) and (size is None or info.st_size == size)

    @contextmanager
    def open_blob(self, digest: Digest, size: int | None = None) -> Iterator[Iterator[bytes]]:
        path = self._blob_path(digest)
        handle = self._open_blob_file(path, digest, size)
        with handle:
            length = os.fstat(handle.fileno()).st_size
            chunks = VerifiedChunks(self._verified_chunks(handle, digest, path, length), digest)
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
        temp, fd = self._new_temp_file()
        try:
            written = 0
            with os.fdopen(fd, "wb", closefd=False) as out:
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
            os.fchmod(fd, 0o644)
            self._commit_blob(temp, digest)
        except OSError as exc:
            raise LayoutError(
                f"cannot write blob {digest.short} into {self.name}: {exc.strerror or exc}",
                hint="check free disk space and that the layout directory is writable",
            ) from exc
        finally:
            if hasher is not None:
                hasher.close()
            _discard_temp(temp, fd)

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

    def mount_blob(self, digest: Digest, source: Store, size: int | None = None) -> bool:
        if not isinstance(source, LayoutStore):
            return False
        if self.has_blob(digest, size):
            return True
        origin = source._blob_path(digest)
        if not source.has_blob(digest, size):  # absent, not a regular file, or another size:
            return False  # the copy then reads it with open_blob, which says which
        # Same filesystem: a hard link shares the (immutable) file without copying bytes; it
        # is still hashed before it becomes visible here, and a corrupt one is blamed on the
        # source it came from.
        temp = self._new_temp_name("link")
        try:
            os.link(origin, temp)
        except OSError:  # another filesystem, or links not allowed: copy, verified
            with source.open_blob(digest) as chunks:
                self.put_blob(digest, origin.lstat().st_size, chunks)
            return True
        fd: int | None = None
        try:
            fd = _lock_temp(temp, os.open(temp, os.O_RDONLY | os.O_NOFOLLOW))
            temp = _activate(temp, "link")
            with os.fdopen(fd, "rb", closefd=False) as handle:
                length = os.fstat(handle.fileno()).st_size
                for _ in source._verified_chunks(handle, digest, origin, length):
                    pass
            self._commit_blob(temp, digest)
        except OSError as exc:
            raise LayoutError(
                f"cannot link blob {digest.short} into {self.name}: {exc.strerror or exc}",
                hint="check that the layout directory is writable",
            ) from exc
        finally:
            _discard_temp(temp, fd)
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
        outermost = _outermost_missing(self._path)
        try:
            self._path.mkdir(parents=True, exist_ok=True)
        except FileExistsError as exc:
            raise UsageError(
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
            self._created, self._created_dir = True, outermost

    def discard_if_created(self) -> bool:
        """Remove the layout if this object created it and nothing was recorded in it since.

        For a write that failed into a destination that did not exist before: it leaves no
        new, empty layout behind (nor the parent directories created for it). A layout whose
        index lists anything (another writer's work, a completed step) is kept. Returns
        whether anything was removed.
        """
        if not self._created:
            return False
        self._created = False
        created = self._created_dir
        with self._locked():
            try:
                if self._read_index().entries:
                    return False
            except LayoutError:
                return False
            shutil.rmtree(self._path / BLOBS_DIR, ignore_errors=True)
            shutil.rmtree(self._path / TMP_DIR, ignore_errors=True)
            for name in (INDEX_FILE, LAYOUT_FILE):
                with contextlib.suppress(OSError):
                    (self._path / name).unlink()
        with contextlib.suppress(OSError):
            (self._path / LOCK_FILE).unlink()
        # Then the directories created for it, innermost first, each only if now empty.
        directory = self._path
        while created is not None:
            try:
                directory.rmdir()
            except OSError:
                break
            if directory == created:
                break
            directory = directory.parent
        log.info("removed the layout at %s, created by a write that failed", self._path)
        return True

    def keep(self) -> None:
        """This layout stays, whatever happens next (a write into it succeeded)."""
        self._created = False

    def _check_layout(self) -> None:
        hint = (
            "check the path; `shipflow copy SRC oci:PATH:TAG` creates a layout, "
            "or give the directory of an existing OCI layout (skopeo/umoci/buildah write them)"
        )
        if not self._path.exists():
            # Like a repository a registry does not have: the image asked for is not there.
            raise NotFound(f"no OCI image layout at {self._path}: no such directory", hint=hint)
        if not self._path.is_dir():
            raise UsageError(f"no OCI image layout at {self._path}: not a directory", hint=hint)
        layout_file = self._path / LAYOUT_FILE
        try:
            doc = json.loads(_read_layout_file(layout_file, 64 * 1024))
        except FileNotFoundError as exc:
            message = f"{self._path} is not an OCI image layout: it has no oci-layout file"
            if (self._path / BLOBS_DIR).exists() or (self._path / INDEX_FILE).exists():
                raise LayoutError(message, hint=hint) from exc  # a damaged layout
            raise UsageError(message, hint=hint) from exc  # some other directory
        except (LayoutError, ValueError) as exc:
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
            data = _read_layout_file(self._path / INDEX_FILE, INDEX_SIZE_LIMIT)
        except FileNotFoundError as exc:
            raise LayoutError(
                f"cannot read {self._index_source}: it is missing",
                hint="check that the layout exists and is complete",
            ) from exc
        return LayoutIndex.parse(data, self._index_source)

    def _write_index(self, index: LayoutIndex) -> None:
        self._write_file(INDEX_FILE, index.to_bytes())

    def _write_file(self, name: str, data: bytes) -> None:
        """Replace a top-level layout file atomically (temp + fsync + rename)."""
        temp, fd = self._new_temp_file()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            os.fchmod(fd, 0o644)
            os.replace(temp, self._path / name)
            _fsync_dir(self._path)
        except OSError as exc:
            raise LayoutError(
                f"cannot write {self._path / name}: {exc.strerror or exc}",
                hint="check free disk space and that the layout directory is writable",
            ) from exc
        finally:
            _discard_temp(temp, fd)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the layout's write lock (the one every ``index.json`` change takes) around a
        caller's read-modify-write of a tag, so a second process doing the same waits instead
        of overwriting the first one's result (two ``sign`` runs adding a layer each to one
        ``.sig`` image). Re-entrant: writes inside take the lock again."""
        with self._locked():
            yield

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # filelock is imported by the first write: reading a layout takes no lock, and the
        # import costs 20-45 ms of start-up (python -X importtime), as much as a whole
        # `shipflow inspect oci:…` may take otherwise.
        from filelock import FileLock, Timeout

        if self._file_lock is None:
            self._file_lock = FileLock(str(self._path / LOCK_FILE), timeout=LOCK_TIMEOUT)
        lock = self._file_lock
        try:
            lock.acquire()
        except Timeout as exc:
            raise LayoutError(
                f"timed out after {LOCK_TIMEOUT:.0f}s waiting for the lock on {self.name}",
                hint=f"another process is writing to this layout; if none is, remove {lock.lock_file}",
            ) from exc
        except OSError as exc:
            raise LayoutError(
                f"cannot lock {self.name}: {exc.strerror or exc}",
                hint="check that the layout directory is writable",
            ) from exc
        try:
            yield
        finally:
            lock.release()

    # -- blobs ---------------------------------------------------------------------------------

    def _blob_path(self, digest: Digest) -> Path:
        return self._path / BLOBS_DIR / digest.algorithm / digest.hex

    def _new_temp_name(self, kind: str) -> Path:
        """A fresh unused ``new-…`` name in the layout's temporary directory.

        Temporary files are born as ``new-<kind>-…``, locked (``flock``) by their writer, and
        only then renamed to ``<kind>-…`` (:func:`_activate`): a ``blob-``/``link-`` file that is
        not locked belongs to no live process and is removed by :meth:`_clean_temps`.
        """
        directory = self._path / TMP_DIR
        try:
            directory.mkdir(exist_ok=True)
        except OSError as exc:
            raise LayoutError(
                f"cannot write into {self.name}: {exc.strerror or exc}",
                hint="check that the layout directory is writable",
            ) from exc
        if not self._temps_cleaned:
            self._temps_cleaned = True
            self._clean_temps()
        return directory / f"new-{kind}-{os.getpid()}-{os.urandom(8).hex()}"

    def _new_temp_file(self) -> tuple[Path, int]:
        """A new, empty, locked temporary file for writing: (path, fd). The caller closes it
        with :func:`_discard_temp` (which also removes it unless it was renamed away)."""
        name = self._new_temp_name("blob")
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise LayoutError(
                f"cannot write into {self.name}: {exc.strerror or exc}",
                hint="check free disk space and that the layout directory is writable",
            ) from exc
        try:
            _lock_temp(name, fd)
            return _activate(name, "blob"), fd
        except OSError as exc:
            _discard_temp(name, fd)
            raise LayoutError(
                f"cannot write into {self.name}: {exc.strerror or exc}",
                hint="check that the layout directory is writable",
            ) from exc

    def _clean_temps(self) -> None:
        """Remove temporary files a killed or crashed writer left behind.

        A ``blob-``/``link-`` file whose lock can be taken has no live writer (the kernel drops
        a dead process's locks); a ``new-`` file (a writer dies between creating and locking it)
        once it is over an hour old. Files of live writers, in this or another process, stay.
        """
        directory = self._path / TMP_DIR
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return
        removed = 0
        now = time.time()
        for entry in entries:
            try:
                if entry.name.startswith("new-"):
                    if now - entry.stat(follow_symlinks=False).st_ctime > _NEW_TEMP_GRACE:
                        os.unlink(entry.path)
                        removed += 1
                    continue
                if entry.is_symlink():
                    os.unlink(entry.path)
                    removed += 1
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue  # not something shipflow writes: left alone
                fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                try:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # a live writer holds it
                    os.unlink(entry.path)
                    removed += 1
                finally:
                    os.close(fd)
            except FileNotFoundError:
                continue  # another cleaner (or the writer) was faster
            except OSError as exc:
                log.debug("cannot clean %s: %s", entry.path, exc)
        if removed:
            log.info("removed %d stale temporary file(s) from %s", removed, directory)

    def _commit_blob(self, temp: Path, digest: Digest) -> None:
        final = self._blob_path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, final)
        _fsync_dir(final.parent)

    def _blob_matches(self, digest: Digest, data: bytes) -> bool:
        if not self.has_blob(digest, len(data)):
            return False
        try:
            with self._open_blob_file(self._blob_path(digest), digest, len(data)) as handle:
                return handle.read(len(data) + 1) == data
        except (OSError, LayoutError, IntegrityError, BlobNotFound):
            return False

    def _open_blob_file(self, path: Path, digest: Digest, size: int | None) -> BinaryIO:
        """The blob's file, opened for reading: a regular file (never a symlink, a device or a
        FIFO: ``/dev/zero`` never ends) whose size is the descriptor's, if ``size`` is given."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError as exc:
            raise BlobNotFound(
                f"blob {digest} is not in {self.name}",
                hint="copy the image into this layout again to restore its blobs",
            ) from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LayoutError(
                    f"blob {digest.short} in {self.name} is a symbolic link ({path}); shipflow reads only "
                    "regular files in blobs/",
                    hint="replace the link with the blob's file (copy the image into the layout again)",
                ) from exc
            raise LayoutError(f"cannot read {path}: {exc.strerror}", hint="check permissions") from exc
        handle = os.fdopen(fd, "rb")
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            handle.close()
            raise LayoutError(
                f"blob {digest.short} in {self.name} is not a regular file ({path})",
                hint="blobs/ must hold only the blobs' files; copy the image into the layout again",
            )
        if size is not None and info.st_size != size:
            handle.close()
            raise IntegrityError(
                f"blob {digest} in {self.name} is {info.st_size} bytes, but its descriptor says {size}",
                hint=f"{path} was changed on disk; delete it and copy the image into the layout again",
            )
        return handle

    def _verified_chunks(self, handle: BinaryIO, digest: Digest, path: Path, length: int) -> Iterator[bytes]:
        """The file's first ``length`` bytes (never more, even if it grows), hashed."""
        hasher = StreamHasher(digest, expected_size=length)
        try:
            left = length
            while left > 0 and (chunk := handle.read(min(CHUNK_SIZE, left))):
                left -= len(chunk)
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
            handle = self._open_blob_file(path, digest, None)
        except BlobNotFound as exc:
            raise ManifestNotFound(
                f"manifest {digest} is not in {self.name}",
                hint=self._tags_hint(index or self._read_index()),
            ) from exc
        try:
            with handle:
                data = _read_at_most(handle, mt.MANIFEST_SIZE_LIMIT + 1)
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

    def _tag_is_usable(self, index: LayoutIndex, tag: str) -> bool:
        try:
            entry = index.find_tag(tag, self._index_source)
            return entry is not None and self.has_blob(Digest.parse(entry["digest"]), entry["size"])
        except (LayoutError, DigestError):
            return False

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
        # Only tags whose manifest is really there: a broken tag is not "available".
        tags = [t for t in index.tags() if self._tag_is_usable(index, t)]
        if not tags:
            return f"{self.name} has no usable tags; copy an image there first"
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


def _read_layout_file(path: Path, limit: int) -> bytes:
    """A layout's own file (index.json, oci-layout): a regular file of at most ``limit`` bytes."""
    try:
        with open(path, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise LayoutError(f"{path} is not a regular file", hint="restore the layout's own files")
            data = _read_at_most(handle, limit + 1)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise LayoutError(
            f"cannot read {path}: {exc.strerror or exc}", hint="check that the layout exists and is readable"
        ) from exc
    if len(data) > limit:
        raise LayoutError(
            f"{path} is larger than {limit} bytes", hint="this is not an OCI layout file shipflow can read"
        )
    return data


def _read_at_most(handle: BinaryIO, limit: int) -> bytes:
    """Up to ``limit`` bytes, read in pieces: ``read(limit)`` would allocate ``limit`` up front."""
    parts: list[bytes] = []
    left = limit
    while left > 0 and (piece := handle.read(min(left, CHUNK_SIZE))):
        parts.append(piece)
        left -= len(piece)
    return b"".join(parts)


def _outermost_missing(path: Path) -> Path | None:
    """The outermost of ``path`` and its parents that does not exist yet (None: it exists)."""
    missing: Path | None = None
    for candidate in [path, *path.parents]:
        if candidate.exists():
            break
        missing = candidate
    return missing


def _lock_temp(path: Path, fd: int) -> int:
    """Hold an exclusive ``flock`` on a temporary file for as long as ``fd`` is open."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:  # a filesystem without flock: the file lives unprotected
        log.debug("cannot lock %s: %s", path, exc)
    return fd


def _activate(new_name: Path, kind: str) -> Path:
    """Rename a locked ``new-<kind>-…`` file to ``<kind>-…`` (see ``_new_temp_name``)."""
    active = new_name.with_name(new_name.name.removeprefix("new-"))
    os.rename(new_name, active)
    return active


def _discard_temp(path: Path, fd: int | None) -> None:
    """Remove a temporary file (unless it was renamed into place), then close its fd."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("cannot remove %s: %s", path, exc)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


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
