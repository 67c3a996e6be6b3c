"""Fast verified blob streams (shipflow.oci._blobstream) and the stores that use them.

Hashing on a helper thread must give the digest inline hashing gives; a stream whose source
verifies it is hashed once, yet wrong bytes still never become visible in a layout or a real
registry; blob bodies are read raw (no Content-Encoding is undone).
"""

from __future__ import annotations

import gzip
import itertools
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shipflow.errors import IntegrityError
from shipflow.oci._blobstream import (
    BACKGROUND_HASH_MIN,
    StreamHasher,
    VerifiedChunks,
    keep_verification,
    verified_by_source,
)
from shipflow.oci.digest import Digest
from shipflow.oci.layout import TMP_DIR, LayoutStore
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import MIB, RegistryConfig
from shipflow.oci.registry.credentials import Credentials
from shipflow.oci.registry.store import RegistryStore
from shipflow.oci.store import CHUNK_SIZE


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def _hash_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "blob-hash")


@pytest.mark.parametrize("expected_size", [10, BACKGROUND_HASH_MIN, None])
def test_stream_hasher_matches_hashlib_inline_or_on_a_thread(expected_size: int | None) -> None:
    data = os.urandom(BACKGROUND_HASH_MIN + 12345)
    digest = Digest.of(data)
    hasher = StreamHasher(digest, expected_size=expected_size)
    try:
        for piece in _pieces(data, 300_001):
            hasher.update(piece)
        assert hasher.hexdigest() == digest.hex
        assert hasher.hexdigest() == digest.hex  # asking again is fine
    finally:
        hasher.close()
    assert _hash_threads() == 0


def test_stream_hasher_copies_mutable_buffers_before_queueing() -> None:
    data = os.urandom(2 * MIB)
    hasher = StreamHasher(Digest.of(data), expected_size=None)
    try:
        buffer = bytearray(data[:MIB])
        hasher.update(buffer)
        buffer[:] = b"\0" * MIB  # reused by the caller while the hash may still be queued
        hasher.update(data[MIB:])
        assert hasher.hexdigest() == Digest.of(data).hex
    finally:
        hasher.close()


def test_abandoned_stream_hasher_leaves_no_thread() -> None:
    hasher = StreamHasher(Digest.of(b""), expected_size=None)
    for _ in range(20):  # more than the queue holds: the thread must keep draining
        hasher.update(os.urandom(64 * 1024))
    hasher.close()
    hasher.close()
    assert _hash_threads() == 0


def test_verification_marker_survives_only_a_declared_passthrough() -> None:
    digest = Digest.of(b"abc")
    verified = VerifiedChunks(iter([b"abc"]), digest)
    assert verified_by_source(verified, digest)
    assert not verified_by_source(verified, Digest.of(b"other"))
    assert not verified_by_source([b"abc"], digest)
    passthrough = keep_verification(verified, (c for c in verified))
    assert verified_by_source(passthrough, digest)
    assert list(passthrough) == [b"abc"]
    plain = keep_verification([b"abc"], iter([b"abc"]))
    assert not verified_by_source(plain, digest)


# -- layouts ------------------------------------------------------------------------------------


def _layout(path: Path) -> LayoutStore:
    return LayoutStore(path, create=True)


def test_layout_to_layout_blob_copy_through_a_verified_stream(tmp_path: Path) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 5)
    digest = Digest.of(data)
    src, dst = _layout(tmp_path / "src"), _layout(tmp_path / "dst")
    src.put_blob(digest, len(data), _pieces(data, 4096))
    with src.open_blob(digest) as chunks:
        assert verified_by_source(chunks, digest)
        dst.put_blob(digest, len(data), chunks)
    assert (dst.path / "blobs" / "sha256" / digest.hex).read_bytes() == data


def test_corrupt_verified_source_leaves_nothing_in_the_layout(tmp_path: Path) -> None:
    data = os.urandom(BACKGROUND_HASH_MIN + 1)  # large: the source hashes on a thread
    digest = Digest.of(data)
    src, dst = _layout(tmp_path / "src"), _layout(tmp_path / "dst")
    src.put_blob(digest, len(data), [data])
    blob_file = src.path / "blobs" / "sha256" / digest.hex
    blob_file.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, last byte flipped
    with pytest.raises(IntegrityError, match="is corrupt"), src.open_blob(digest) as chunks:
        dst.put_blob(digest, len(data), chunks)  # not hashed here: the source must refuse
    assert not dst.has_blob(digest)
    assert list((dst.path / TMP_DIR).iterdir()) == []


def test_unverified_stream_with_wrong_bytes_is_still_refused(tmp_path: Path) -> None:
    data = os.urandom(BACKGROUND_HASH_MIN + 1)
    store = _layout(tmp_path / "dst")
    wrong = Digest.of(b"something else")
    with pytest.raises(IntegrityError, match="does not match its digest"):
        store.put_blob(wrong, len(data), _pieces(data, CHUNK_SIZE))
    assert not store.has_blob(wrong)


# -- registries ---------------------------------------------------------------------------------


def test_blob_body_is_read_raw_even_if_the_registry_encodes_it() -> None:
    # A gzip layer served with Content-Encoding: gzip must arrive as the gzip bytes its
    # digest names, not transparently decompressed.
    layer = gzip.compress(os.urandom(100_000))
    digest = Digest.of(layer)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Accept-Encoding"] == "identity"
        headers = {"Content-Encoding": "gzip", "Content-Length": str(len(layer))}
        return httpx.Response(200, headers=headers, content=iter([layer[:5000], layer[5000:]]))

    client = RegistryClient(
        "registry.test",
        RegistryConfig(),
        transport=httpx.MockTransport(handler),
        credentials=Credentials(),
    )
    try:
        with RegistryStore(client, "app").open_blob(digest) as chunks:
            assert b"".join(chunks) == layer
    finally:
        client.close()


@pytest.mark.parametrize(
    "piece_sizes",
    [
        [64 * 1024] * 40,  # the network's usual reads: 16 make a chunk
        [3 * CHUNK_SIZE + 5, 10, CHUNK_SIZE - 15, 7],  # pieces larger than a chunk, and ragged
        [CHUNK_SIZE, CHUNK_SIZE],  # exact chunks pass through
        [1] * 100,  # a tiny blob in tiny pieces
    ],
    ids=["network-reads", "ragged", "exact", "tiny"],
)
def test_downloaded_pieces_are_gathered_into_whole_chunks(piece_sizes: list[int]) -> None:
    data = os.urandom(sum(piece_sizes))
    digest = Digest.of(data)
    offsets = [sum(piece_sizes[:i]) for i in range(len(piece_sizes) + 1)]
    pieces = [data[a:b] for a, b in itertools.pairwise(offsets)]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(len(data))}, content=iter(pieces))

    client = RegistryClient(
        "registry.test", RegistryConfig(), transport=httpx.MockTransport(handler), credentials=Credentials()
    )
    try:
        with RegistryStore(client, "app").open_blob(digest) as chunks:
            received = list(chunks)
    finally:
        client.close()
    assert b"".join(received) == data
    assert all(len(c) == CHUNK_SIZE for c in received[:-1])
    assert 0 < len(received[-1]) <= CHUNK_SIZE


def test_leaving_open_blob_early_stops_the_hashing_thread(tmp_path: Path) -> None:
    data = os.urandom(BACKGROUND_HASH_MIN + CHUNK_SIZE)
    digest = Digest.of(data)
    store = _layout(tmp_path / "layout")
    store.put_blob(digest, len(data), [data])
    with store.open_blob(digest) as chunks:
        next(chunks)  # e.g. a reader that found what it wanted in the first chunk
        assert _hash_threads() == 1
    assert _hash_threads() == 0
