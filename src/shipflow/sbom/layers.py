"""Safe, streaming reader of image layers into a :class:`~shipflow.sbom._filetree.FileTree`.

Nothing is extracted to disk. Each layer blob is streamed once: decompressed (gzip, zstd or
none; chosen by the magic bytes, cross-checked with the media type), walked as a tar archive,
and applied to the in-memory view. Only files a cataloger wants (``wants(path)``) are read
into memory; all other data is skipped as it streams past.

Hostile layers are handled as follows:

* absolute member names are made relative (as GNU tar does); a name whose ``..`` would climb
  above the root is *refused* (:class:`~shipflow.errors.UnsafeContentError`): no builder
  writes such names, so the image is malicious or broken;
* symlinks are stored, never followed while writing, and resolved later inside the view only;
* device nodes and FIFOs are recorded as "other" and never read;
* a decompression bomb hits :attr:`Limits.max_total_bytes` (counted on decompressed bytes as
  they are produced, so memory stays bounded), an oversized wanted file hits
  :attr:`Limits.max_file_bytes`, a flood of entries hits :attr:`Limits.max_entries`, and a
  giant pax/GNU long-name header hits :attr:`Limits.max_header_bytes` before it is buffered.

Regular files a :class:`~shipflow.sbom.source.Reducer` accepts (Go executables, Java
archives) are handed to it as they stream past; only its small result is kept, and counts
against :attr:`Limits.max_captured_bytes` (each reducer caps what it reads itself).

After the tar end marker the rest of the blob is still read, so the store's digest check
runs over every byte before the result is used.
"""

from __future__ import annotations

import io
import logging
import queue
import struct
import sys
import tarfile
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeVar

from shipflow.errors import LayerFormatError, UnsafeContentError
from shipflow.oci import mediatypes as mt
from shipflow.sbom._filetree import FileTree, Node
from shipflow.sbom.source import Reducer

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_READ_CHUNK = 1024 * 1024

# What a blob is when it is not what it claims: leading bytes -> a name for the message.
_MAGICS: tuple[tuple[bytes, str], ...] = (
    (GZIP_MAGIC, "gzip data"),
    (ZSTD_MAGIC, "zstd data"),
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "a zip archive"),
    (b"PK\x07\x08", "a zip archive"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-zip archive"),
    (b"\x04\x22\x4d\x18", "lz4 data"),
    (b"\x7fELF", "an ELF executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"%PDF-", "a PDF document"),
)
_TAR_MAGIC_OFFSET = 257  # "ustar" in a POSIX/GNU tar header


def describe_magic(head: bytes) -> str | None:
    """What ``head`` (a blob's first bytes, 512 ideally) looks like: ``"a zip archive"``,
    ``"gzip data"``, ``"a tar archive"``, ``"an HTML page"``…; None when unrecognised."""
    if head[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + 5] == b"ustar":
        return "a tar archive"  # first: a tar's first bytes are a file name, which may be "BZh…"
    for magic, name in _MAGICS:
        if head.startswith(magic):
            return name
    text = head.lstrip()[:64].lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "an HTML page"
    if text.startswith(b"<?xml"):
        return "an XML document"
    if text.startswith((b"{", b"[")):
        return "a JSON document"
    if not head:
        return "empty"
    return None


WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"

_LIMIT_HINT = "if the image is legitimately this large, raise the limit (shipflow sbom --max-size)"


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps that make a hostile image fail fast with bounded memory."""

    max_total_bytes: int = 32 * 1024**3  # decompressed bytes over all layers
    max_file_bytes: int = 64 * 1024**2  # one file read into memory for a cataloger
    max_captured_bytes: int = 1024**3  # all files read into memory together
    max_entries: int = 5_000_000  # tar entries over all layers
    max_header_bytes: int = 1024**2  # one pax / GNU long-name header


class Budget:
    """Counts what all layers of one image have used against the limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total_bytes = 0
        self.captured_bytes = 0
        self.entries = 0
        self.tarinfo = type("_CappedTarInfo", (_SafeTarInfo,), {"max_header_bytes": limits.max_header_bytes})

    def spend_bytes(self, n: int, layer: str) -> None:
        self.total_bytes += n
        if self.total_bytes > self.limits.max_total_bytes:
            raise UnsafeContentError(
                f"layer {layer} expands past {self.limits.max_total_bytes} bytes in total "
                "(decompression bomb or an unusually large image); stopped reading",
                hint=_LIMIT_HINT,
            )


class _Prefetcher:
    """Pulls a store's blob chunks on a worker thread into a small bounded queue.

    The store hashes every chunk to verify the digest as it yields it; hashlib and zlib both
    release the GIL, so hashing on the worker and decompressing on the caller's thread run
    in parallel, as ``tar`` and ``gzip -d`` do in a pipe. At most ``depth`` chunks wait in
    the queue, so memory stays bounded. Errors on the worker (a digest mismatch) are
    re-raised to the reader.
    """

    _DONE = object()

    def __init__(self, chunks: Iterator[bytes], depth: int = 8) -> None:
        self._chunks = chunks
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shipflow-layer-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for chunk in self._chunks:
                if not self._put(chunk):
                    return
            self._put(self._DONE)
        except BaseException as exc:  # handed to the reading thread, which raises it
            self._put(exc)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield item

    def close(self) -> None:
        """Stop the worker (early exit on an error) and wait for it."""
        self._stop.set()
        self._thread.join()


class ChunkStream(io.RawIOBase):
    """A raw file object over an iterator of byte chunks (a store's blob stream)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def drain(self) -> None:
        """Consume the rest of the blob so the store verifies its digest."""
        self._pending = memoryview(b"")
        for _ in self._chunks:
            pass


class _GzipStream(io.RawIOBase):
    """gzip decompression done entirely in zlib (header, CRC and length checks included),
    member after member. ``gzip.GzipFile`` does the same with per-call Python overhead and
    a separate CRC pass that cost a third of the layer reading time."""

    def __init__(self, raw: io.BufferedReader[Any]) -> None:
        self._raw = raw
        self._inflater = zlib.decompressobj(wbits=31)
        self._input = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        while True:
            if self._inflater.eof:
                leftover = self._inflater.unused_data or self._raw.read1(_READ_CHUNK)
                if not leftover.lstrip(b"\0"):
                    return 0  # end of the last member (zero padding after it is tolerated)
                self._inflater = zlib.decompressobj(wbits=31)
                self._input = leftover
            if not self._input:
                self._input = self._inflater.unconsumed_tail or self._raw.read1(_READ_CHUNK)
                if not self._input:
                    raise EOFError("gzip stream ends before its end marker")
            out = self._inflater.decompress(self._input, size)
            self._input = self._inflater.unconsumed_tail
            if out:
                buffer[: len(out)] = out
                return len(out)


class _ForwardReader:
    """What ``tarfile`` needs from a file object over a decompressed stream: ``read``,
    ``tell`` and a ``seek`` that only moves forward (skipping by reading). Every byte read
    is charged to the budget, so a bomb stops at the cap, not at the end of memory."""

    def __init__(self, stream: Any, budget: Budget, layer: str) -> None:
        self._stream = stream
        self._budget = budget
        self._layer = layer
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise LayerFormatError("internal: unbounded read from a layer stream")
        data: bytes = self._stream.read(size)
        while len(data) < size:  # zstd readers may return short reads before EOF
            more = self._stream.read(size - len(data))
            if not more:
                break
            data += more
        self._pos += len(data)
        self._budget.spend_bytes(len(data), self._layer)
        return data

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self._pos + offset
        if whence not in (io.SEEK_SET, io.SEEK_CUR) or target < self._pos:
            raise LayerFormatError(f"layer {self._layer}: tar reader tried to seek backwards")
        while self._pos < target:
            if not self.read(min(_READ_CHUNK, target - self._pos)):
                break
        return self._pos


# Header types whose whole body tarfile buffers: GNU long names and pax extended headers.
_META_TYPES = frozenset(
    {
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
    }
)


# A tar header block (POSIX ustar / GNU): name, mode, uid, gid, size, mtime, chksum, typeflag,
# linkname, magic, version, uname, gname, devmajor, devminor, prefix, padding.
_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s12x")
_BLOCK = 512


def _octal(field: bytes) -> int:
    """A numeric header field written in octal digits, as tarfile reads it (text up to the first
    NUL, surrounding spaces ignored, empty is 0). Raises ValueError for anything else (base-256
    numbers, stray bytes): the caller then leaves the header to tarfile."""
    return int(field.split(b"\0", 1)[0].strip() or b"0", 8)


_Info = TypeVar("_Info", bound=tarfile.TarInfo)


def _header_fast(cls: type[_Info], buf: bytes | bytearray, encoding: str, errors: str) -> _Info | None:
    """``cls.frombuf(buf, …)`` for an ordinary header: the same TarInfo tarfile builds, or None
    when the header is anything but ordinary (then tarfile decides, raises included)."""
    if len(buf) != _BLOCK:
        return None
    (name, mode, uid, gid, size, mtime, chksum, kind, linkname, _, _, uname, gname, major, minor, prefix) = (
        _HEADER.unpack(buf)
    )
    try:
        numbers = [_octal(f) for f in (mode, uid, gid, size, mtime, chksum, major, minor)]
    except ValueError:
        return None
    # The unsigned sum with the checksum field counted as spaces; tarfile also accepts a signed
    # one (old Sun and NeXT tars): such headers, and all-zero end blocks, go to tarfile.
    if numbers[5] != 256 + sum(buf) - sum(buf[148:156]) or kind == tarfile.GNUTYPE_SPARSE:
        return None
    info = cls()
    info.name = name.split(b"\0", 1)[0].decode(encoding, errors)
    info.mode, info.uid, info.gid, info.size, info.mtime, info.chksum, info.devmajor, info.devminor = numbers
    info.type = kind
    info.linkname = linkname.split(b"\0", 1)[0].decode(encoding, errors)
    info.uname = uname.split(b"\0", 1)[0].decode(encoding, errors)
    info.gname = gname.split(b"\0", 1)[0].decode(encoding, errors)
    path_prefix = prefix.split(b"\0", 1)[0].decode(encoding, errors)
    if info.type == tarfile.AREGTYPE and info.name.endswith("/"):
        info.type = tarfile.DIRTYPE  # old V7 tars write a directory as a file named "x/"
    if info.isdir():
        info.name = info.name.rstrip("/")
    if path_prefix and info.type not in tarfile.GNU_TYPES:
        info.name = path_prefix + "/" + info.name
    return info


class _SafeTarInfo(tarfile.TarInfo):
    """Refuses pax and GNU long-name headers over the cap *before* tarfile buffers them
    (``tarfile`` reads such headers whole into memory). Subclassed per image with its cap.

    Ordinary headers are decoded by :func:`_header_fast` rather than ``tarfile.TarInfo.frombuf``:
    the same fields by the same rules, in one ``struct`` unpack instead of eight number and six
    text conversions: ``frombuf`` was 30 % of a cProfile of `shipflow sbom` on the start-up
    benchmark's debian-app image, and the SBOM's work after start-up went from 0.160 to 0.128 s
    of CPU (median of 12, in one process, the two decoders alternating). Any header it does not
    recognise as ordinary (base-256 numbers, a signed checksum, GNU sparse files, the
    end-of-archive block, garbage) goes to tarfile as before; tests/unit/sbom/test_tar_headers.py
    checks both agree, field for field.
    """

    max_header_bytes = Limits().max_header_bytes

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        info = _header_fast(cls, buf, encoding, errors)
        if info is None:
            info = super().frombuf(buf, encoding, errors)
        return info

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _META_TYPES and self.size > self.max_header_bytes:
            raise UnsafeContentError(
                f"tar header of {self.size} bytes (over {self.max_header_bytes}) in a layer",
                hint="the layer is malformed or hostile",
            )
        result: tarfile.TarInfo = super()._proc_member(archive)  # type: ignore[misc]
        return result


def open_decompressed(raw: io.BufferedReader[Any], media_type: str | None, layer: str) -> Any:
    """A readable stream of the layer's tar bytes, by magic bytes (the media type is only
    cross-checked: some tools label zstd layers as gzip)."""
    head = raw.peek(_TAR_MAGIC_OFFSET + 8)[:512]
    if head.startswith(GZIP_MAGIC):
        found = "gzip"
    elif head.startswith(ZSTD_MAGIC):
        found = "zstd"
    else:
        found = "tar"
    declared = (
        "gzip"
        if media_type in mt.GZIP_LAYERS
        else "zstd"
        if media_type in mt.ZSTD_LAYERS
        else "tar"
        if media_type in mt.TAR_LAYERS
        else None
    )
    if found == "tar" and head:
        kind = describe_magic(head)
        if kind is not None and kind != "a tar archive":
            # Not a tar in any compression shipflow reads: say what the bytes are instead of
            # letting the tar reader fail on its first header.
            raise LayerFormatError(
                f"layer {layer} is {kind}, not {declared or 'a tar archive'}"
                + (f" as its media type {media_type} says" if media_type else ""),
                hint="the image was built or pushed wrongly: layers are tar archives, gzip- or "
                "zstd-compressed or plain",
            )
    if declared is not None and declared != found:
        log.warning("layer %s is declared %s (%s) but its bytes are %s", layer, declared, media_type, found)
    if found == "gzip":
        return io.BufferedReader(_GzipStream(raw), buffer_size=_READ_CHUNK)
    if found == "zstd":
        # Imported for the first zstd layer (most images are gzip): 10-25 ms of start-up.
        import zstandard

        # zstd frames may ask for windows up to 2 GiB; cap at the decoder default (128 MiB).
        decompressor = zstandard.ZstdDecompressor(max_window_size=1 << 27)
        reader = decompressor.stream_reader(raw, read_across_frames=True)
        return io.BufferedReader(reader, buffer_size=_READ_CHUNK)
    return raw


def read_errors() -> tuple[type[Exception], ...]:
    """What a broken layer raises while it is read; zstandard's error once a zstd layer has
    imported it (before that none can occur)."""
    errors: tuple[type[Exception], ...] = (tarfile.TarError, EOFError, zlib.error)
    module = sys.modules.get("zstandard")
    return (*errors, module.ZstdError) if module is not None else errors


def normalise_member_name(name: str, layer: str) -> list[str]:
    """Path components of a tar member inside the root; refuses names that climb out."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue  # leading "/" (absolute names) and "./" are dropped
        if part == "..":
            if not parts:
                raise UnsafeContentError(
                    f"layer {layer} has an entry that escapes the image root: {name!r}",
                    hint="the image is malicious or broken; do not use it",
                )
            parts.pop()
            continue
        parts.append(part)
    return parts


def apply_layer(
    tree: FileTree,
    chunks: Iterator[bytes],
    *,
    digest: str,
    media_type: str | None,
    wants: Callable[[str], bool],
    budget: Budget,
    reducers: Sequence[Reducer] = (),
) -> None:
    """Stream one layer blob and apply it to ``tree`` as the next layer."""
    index = len(tree.layers)
    tree.layers.append(digest)
    prefetcher = _Prefetcher(chunks)
    source = ChunkStream(iter(prefetcher))
    raw = io.BufferedReader(source, buffer_size=_READ_CHUNK)
    try:
        stream = open_decompressed(raw, media_type, digest)
        reader = _ForwardReader(stream, budget, digest)
        if not stream.peek(1):
            source.drain()  # a zero-byte tar stream: an empty layer
            return
        archive = tarfile.TarFile(fileobj=reader, mode="r", tarinfo=budget.tarinfo)  # type: ignore[arg-type]
        while True:
            member = archive.next()
            if member is None:
                break
            archive.members.clear()  # type: ignore[attr-defined]  # tarfile keeps every member otherwise: memory grows
            budget.entries += 1
            if budget.entries > budget.limits.max_entries:
                raise UnsafeContentError(
                    f"image has more than {budget.limits.max_entries} tar entries; stopped reading",
                    hint=_LIMIT_HINT,
                )
            _apply_member(tree, archive, member, index, wants, budget, reducers)
        source.drain()
    except read_errors() as exc:
        raise LayerFormatError(
            f"layer {digest} is not a readable tar archive: {exc}",
            hint="the layer is corrupt or in an unsupported compression (gzip, zstd, plain tar)",
        ) from exc
    finally:
        prefetcher.close()


def _apply_member(
    tree: FileTree,
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    index: int,
    wants: Callable[[str], bool],
    budget: Budget,
    reducers: Sequence[Reducer],
) -> None:
    digest = tree.layers[index]
    parts = normalise_member_name(member.name, digest)
    if not parts:
        return  # the root directory itself
    base = parts[-1]
    if base.startswith(WHITEOUT_PREFIX):
        if base == OPAQUE_MARKER:
            tree.opaque(parts[:-1], index)
        elif base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            pass  # other aufs metadata (.wh..wh.plnk, .wh..wh.aufs): not part of the view
        else:
            tree.whiteout([*parts[:-1], base[len(WHITEOUT_PREFIX) :]], index)
        return
    if member.isdir():
        tree.add(parts, Node.directory(index))
    elif member.issym():
        tree.add(parts, Node("symlink", index, index, target=member.linkname))
    elif member.islnk():
        tree.add(parts, _hardlink(tree, member, index))
    elif member.isreg():
        node = Node("file", index, index, size=member.size)
        path = "/".join(parts)
        if wants(path):
            node.content = _read_member(archive, member, path, budget, digest)
        elif reducers:
            _reduce_member(archive, member, path, node, reducers, budget)
        tree.add(parts, node)
    else:
        # Devices and FIFOs: noted (they hide lower entries of the same name), never read.
        tree.add(parts, Node("other", index, index))


def _hardlink(tree: FileTree, member: tarfile.TarInfo, index: int) -> Node:
    target = tree.lookup_exact("/".join(normalise_member_name(member.linkname, tree.layers[index])))
    if target is None or target.kind != "file":
        log.debug("hardlink %s -> %s: target missing; recorded without content", member.name, member.linkname)
        return Node("file", index, index)
    return Node("file", index, index, size=target.size, content=target.content, reduced=target.reduced)


def _read_member(
    archive: tarfile.TarFile, member: tarfile.TarInfo, path: str, budget: Budget, digest: str
) -> bytes:
    limits = budget.limits
    if member.size > limits.max_file_bytes:
        raise UnsafeContentError(
            f"/{path} in layer {digest} is {member.size} bytes, over the {limits.max_file_bytes} byte "
            "limit for a package database file",
            hint="the image is malformed or hostile",
        )
    budget.captured_bytes += member.size
    if budget.captured_bytes > limits.max_captured_bytes:
        raise UnsafeContentError(
            f"package database files in the image exceed {limits.max_captured_bytes} bytes together",
            hint=_LIMIT_HINT,
        )
    handle = archive.extractfile(member)
    if handle is None:
        return b""
    return handle.read()


def _reduce_member(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    path: str,
    node: Node,
    reducers: Sequence[Reducer],
    budget: Budget,
) -> None:
    for reducer in reducers:
        if not reducer.accepts(path, member.mode, member.size):
            continue
        handle = archive.extractfile(member)
        if handle is None:
            return
        result = reducer.reduce(path, handle, member.size)
        if result is not None:
            budget.captured_bytes += len(result)
            if budget.captured_bytes > budget.limits.max_captured_bytes:
                raise UnsafeContentError(
                    f"package records in the image exceed {budget.limits.max_captured_bytes} bytes together",
                    hint=_LIMIT_HINT,
                )
            node.content, node.reduced = result, reducer.name
        return
