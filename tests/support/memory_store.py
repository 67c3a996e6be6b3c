"""An in-memory Store for unit tests of logic that runs on any Store (copy, retag, promotion): it
records the order of writes and checks the Store contract's write order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager

from shipflow.errors import BlobNotFound, IntegrityError, ManifestNotFound, TransportError
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.models import Descriptor, ManifestBytes
from shipflow.oci.store import Store

CHUNK = 4


class MemoryStore:
    """A Store kept in dicts, recording every write so tests can check order and counts."""

    def __init__(self, name: str = "mem", *, mount_from: set[str] | None = None) -> None:
        self._name = name
        self.blobs: dict[Digest, bytes] = {}
        self.manifests: dict[Digest, ManifestBytes] = {}
        self.tags: dict[str, Digest] = {}
        self.referrer_index: dict[Digest, list[Descriptor]] = {}
        self.writes: list[str] = []  # "blob:<short>", "manifest:<short>", "tag:<tag>"
        self.mount_from = mount_from or set()
        self.fail_put_blob: Digest | None = None
        self.open_count = 0
        self.max_chunk_seen = 0
        self.put_blob_args: list[object] = []
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def resolve(self, tag_or_digest: str) -> Descriptor:
        return self.get_manifest(tag_or_digest).descriptor()

    def get_manifest(self, tag_or_digest: str) -> ManifestBytes:
        digest = self.tags.get(tag_or_digest)
        if digest is None and ":" in tag_or_digest:
            digest = Digest.parse(tag_or_digest)
        if digest is None or digest not in self.manifests:
            raise ManifestNotFound(f"{tag_or_digest} not in {self._name}")
        return self.manifests[digest]

    def put_manifest(self, manifest: ManifestBytes, *, tag: str | None = None) -> Digest:
        doc = json.loads(manifest.data)
        for key in ("config",):
            if key in doc:
                assert Digest.parse(doc[key]["digest"]) in self.blobs, "manifest before its blobs"
        for layer in doc.get("layers", []):
            assert Digest.parse(layer["digest"]) in self.blobs, "manifest before its blobs"
        for child in doc.get("manifests", []):
            assert Digest.parse(child["digest"]) in self.manifests, "index before its children"
        with self._lock:
            self.manifests[manifest.digest] = manifest
            self.writes.append(f"manifest:{manifest.digest.short}")
            if tag is not None:
                self.tags[tag] = manifest.digest
                self.writes.append(f"tag:{tag}")
        return manifest.digest

    def tag(self, digest: Digest, tag: str) -> None:
        if digest not in self.manifests:
            raise ManifestNotFound(f"{digest} not in {self._name}")
        with self._lock:
            self.tags[tag] = digest
            self.writes.append(f"tag:{tag}")

    def list_tags(self) -> list[str]:
        return sorted(self.tags)

    def has_blob(self, digest: Digest, size: int | None = None) -> bool:
        return digest in self.blobs and (size is None or len(self.blobs[digest]) == size)

    def open_blob(self, digest: Digest, size: int | None = None) -> AbstractContextManager[Iterator[bytes]]:
        if digest not in self.blobs:
            raise BlobNotFound(f"{digest} not in {self._name}")
        data = self.blobs[digest]
        with self._lock:
            self.open_count += 1

        @contextmanager
        def opened() -> Iterator[Iterator[bytes]]:
            def chunks() -> Iterator[bytes]:
                hasher = digest.hasher()
                for start in range(0, len(data), CHUNK):
                    piece = data[start : start + CHUNK]
                    hasher.update(piece)
                    yield piece
                if hasher.hexdigest() != digest.hex:
                    raise IntegrityError(f"{digest} mismatch")

            yield chunks()

        return opened()

    def put_blob(self, digest: Digest, size: int, chunks: Iterable[bytes]) -> None:
        self.put_blob_args.append(chunks)
        if digest == self.fail_put_blob:
            raise TransportError(f"connection reset while uploading {digest.short}")
        parts = []
        for chunk in chunks:
            self.max_chunk_seen = max(self.max_chunk_seen, len(chunk))
            parts.append(chunk)
        data = b"".join(parts)
        if len(data) != size or not digest.matches(data):
            raise IntegrityError(f"upload of {digest} does not match")
        with self._lock:
            self.blobs[digest] = data
            self.writes.append(f"blob:{digest.short}")

    def mount_blob(self, digest: Digest, source: Store, size: int | None = None) -> bool:
        if source.name not in self.mount_from or not source.has_blob(digest):
            return False
        assert isinstance(source, MemoryStore)
        with self._lock:
            self.blobs[digest] = source.blobs[digest]
            self.writes.append(f"mount:{digest.short}")
        return True

    def referrers(self, digest: Digest, artifact_type: str | None = None) -> list[Descriptor]:
        found = self.referrer_index.get(digest, [])
        return [d for d in found if artifact_type is None or d.artifact_type == artifact_type]

    def add_referrer(self, subject: Digest, manifest: ManifestBytes) -> None:
        assert manifest.digest in self.manifests, "referrer recorded before it was put"
        listed = self.referrer_index.setdefault(subject, [])
        if all(d.digest != manifest.digest for d in listed):
            listed.append(manifest.descriptor(artifact_type=json.loads(manifest.data).get("artifactType")))


class FakeObserver:
    def __init__(self) -> None:
        self.totals: list[int | None] = []
        self.advanced = 0
        self.notes: list[str] = []
        self.finished = 0

    def start(self, task: str, total_bytes: int | None) -> None:
        self.totals.append(total_bytes)

    def advance(self, nbytes: int) -> None:
        self.advanced += nbytes

    def note(self, message: str) -> None:
        self.notes.append(message)

    def finish(self) -> None:
        self.finished += 1


def add_blob(store: MemoryStore, data: bytes, media_type: str) -> Descriptor:
    digest = Digest.of(data)
    store.blobs[digest] = data
    return Descriptor(media_type=media_type, digest=digest, size=len(data))


def add_image(
    store: MemoryStore,
    layers: list[bytes],
    *,
    arch: str = "amd64",
    tag: str | None = None,
    subject: Descriptor | None = None,
    artifact_type: str | None = None,
) -> ManifestBytes:
    config = add_blob(store, json.dumps({"architecture": arch, "os": "linux"}).encode(), mt.OCI_CONFIG)
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": json.loads(config.to_json_bytes()),
        "layers": [json.loads(add_blob(store, data, mt.OCI_LAYER_GZIP).to_json_bytes()) for data in layers],
    }
    if subject is not None:
        doc["subject"] = json.loads(subject.to_json_bytes())
    if artifact_type is not None:
        doc["artifactType"] = artifact_type
    # Unusual spacing on purpose: a copy that re-serialised would change the digest.
    manifest = ManifestBytes.create(json.dumps(doc, indent=3).encode() + b"\n", mt.OCI_MANIFEST)
    store.manifests[manifest.digest] = manifest
    if tag:
        store.tags[tag] = manifest.digest
    return manifest


def add_index(store: MemoryStore, children: list[ManifestBytes], tag: str) -> ManifestBytes:
    entries = []
    for child, arch in zip(children, ["amd64", "arm64", "s390x"], strict=False):
        entry = json.loads(child.descriptor().to_json_bytes())
        entry["platform"] = {"architecture": arch, "os": "linux"}
        entries.append(entry)
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}
    index = ManifestBytes.create(json.dumps(doc).encode(), mt.OCI_INDEX)
    store.manifests[index.digest] = index
    store.tags[tag] = index.digest
    return index
