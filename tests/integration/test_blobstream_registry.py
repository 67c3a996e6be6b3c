"""Blob streaming against the real registry: large blobs round-trip in whole chunks, and a corrupt
verified source is never committed (monolithic and chunked uploads).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.registry import Registry
from shipflow.errors import IntegrityError
from shipflow.oci._blobstream import (
    BACKGROUND_HASH_MIN,
)
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import MIB, RegistryConfig
from shipflow.oci.registry.store import RegistryStore
from shipflow.oci.store import CHUNK_SIZE


def _pieces(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def _layout(path: Path) -> LayoutStore:
    return LayoutStore(path, create=True)


@pytest.fixture
def registry_client(registry: Registry) -> Iterator[RegistryClient]:
    # Small thresholds so that both upload kinds run with little data.
    client = RegistryClient(
        registry.host, RegistryConfig(monolithic_threshold=MIB, upload_chunk_size=2 * MIB)
    )
    yield client
    client.close()


def test_large_blob_round_trip_in_whole_chunks(registry_client: RegistryClient, repo_name: str) -> None:
    data = os.urandom(BACKGROUND_HASH_MIN + CHUNK_SIZE // 3)
    digest = Digest.of(data)
    store = RegistryStore(registry_client, repo_name)
    store.put_blob(digest, len(data), _pieces(data, 100_000))
    with store.open_blob(digest) as chunks:
        received = list(chunks)
    assert b"".join(received) == data
    assert [len(c) for c in received[:-1]] == [CHUNK_SIZE] * (len(received) - 1)


@pytest.mark.parametrize("size", [MIB // 2, 5 * MIB], ids=["monolithic", "chunked"])
def test_corrupt_verified_source_is_not_committed_to_the_registry(
    size: int, registry_client: RegistryClient, repo_name: str, tmp_path: Path
) -> None:
    data = os.urandom(size)
    digest = Digest.of(data)
    layout = _layout(tmp_path / "src")
    layout.put_blob(digest, size, [data])
    (layout.path / "blobs" / "sha256" / digest.hex).write_bytes(bytes(size))  # zeros, same size
    store = RegistryStore(registry_client, repo_name)
    with pytest.raises(IntegrityError, match="is corrupt"), layout.open_blob(digest) as chunks:
        store.put_blob(digest, size, chunks)
    assert not store.has_blob(digest)
