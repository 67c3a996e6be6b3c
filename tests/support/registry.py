"""Helpers shared by the registry client tests: tiny images, a byte-counting transport."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.models import ManifestBytes
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import RegistryConfig
from shipflow.oci.registry.store import RegistryStore


@dataclass
class Blob:
    data: bytes
    media_type: str

    @property
    def digest(self) -> Digest:
        return Digest.of(self.data)

    def descriptor(self) -> dict[str, object]:
        return {"mediaType": self.media_type, "digest": str(self.digest), "size": len(self.data)}


@dataclass
class TinyImage:
    config: Blob
    layers: list[Blob]
    manifest: ManifestBytes

    @property
    def blobs(self) -> list[Blob]:
        return [self.config, *self.layers]


def tiny_image(
    layer_sizes: Iterable[int] = (1024,),
    *,
    seed: str = "",
    subject: ManifestBytes | None = None,
    artifact_type: str | None = None,
) -> TinyImage:
    """An OCI image with random layers (content unique per call)."""
    layers = [Blob(os.urandom(size), mt.OCI_LAYER_GZIP) for size in layer_sizes]
    config_doc = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [str(b.digest) for b in layers]},
        "seed": seed or os.urandom(8).hex(),
    }
    config = Blob(json.dumps(config_doc).encode(), mt.OCI_CONFIG)
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [b.descriptor() for b in layers],
    }
    if artifact_type:
        doc["artifactType"] = artifact_type
    if subject is not None:
        doc["subject"] = {
            "mediaType": subject.media_type,
            "digest": str(subject.digest),
            "size": subject.size,
        }
    manifest = ManifestBytes.create(json.dumps(doc, indent=1).encode(), mt.OCI_MANIFEST)
    return TinyImage(config, layers, manifest)


def push_image(store: RegistryStore, image: TinyImage, tag: str | None = None) -> Digest:
    for blob in image.blobs:
        store.put_blob(blob.digest, len(blob.data), [blob.data])
    return store.put_manifest(image.manifest, tag=tag)


def read_blob(store: RegistryStore, digest: Digest) -> bytes:
    with store.open_blob(digest) as chunks:
        return b"".join(chunks)


@dataclass
class Exchange:
    method: str
    path: str
    query: str
    status: int
    sent_bytes: int


@dataclass
class CountingTransport(httpx.BaseTransport):
    """Wraps the real transport and records every exchange and the request body bytes sent."""

    inner: httpx.BaseTransport = field(default_factory=httpx.HTTPTransport)
    exchanges: list[Exchange] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        counted = [0]
        original = request.stream

        def counting() -> Iterable[bytes]:
            for chunk in original:  # type: ignore[union-attr]
                counted[0] += len(chunk)
                yield chunk

        if isinstance(original, httpx.ByteStream):
            body = b"".join(original)
            counted[0] = len(body)
            request.stream = httpx.ByteStream(body)
        else:
            request.stream = _IterStream(counting())
        response = self.inner.handle_request(request)
        with self._lock:
            self.exchanges.append(
                Exchange(
                    request.method,
                    request.url.path,
                    request.url.query.decode(),
                    response.status_code,
                    counted[0],
                )
            )
        return response

    def close(self) -> None:
        self.inner.close()

    def bytes_sent(self, method: str | None = None) -> int:
        return sum(e.sent_bytes for e in self.exchanges if method is None or e.method == method)

    def count(self, method: str, path_contains: str = "") -> int:
        return sum(1 for e in self.exchanges if e.method == method and path_contains in e.path)


class _IterStream(httpx.SyncByteStream):
    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield from self._chunks


def client_for(
    host: str,
    config: RegistryConfig | None = None,
    transport: httpx.BaseTransport | None = None,
    **config_args: object,
) -> RegistryClient:
    cfg = config or RegistryConfig(**config_args)  # type: ignore[arg-type]
    return RegistryClient(host, cfg, transport=transport)
