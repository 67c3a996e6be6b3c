"""Small real images built in the test suite (a tar layer, a config, a manifest) for layout tests.

Everything is made here with the standard library: no network, no base images.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass

from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.models import ManifestBytes
from shipflow.oci.store import Store


@dataclass(frozen=True)
class BuiltImage:
    manifest: ManifestBytes
    config: bytes
    layers: list[bytes]

    @property
    def blobs(self) -> list[bytes]:
        return [self.config, *self.layers]


def tar_layer(files: dict[str, bytes]) -> bytes:
    """A reproducible uncompressed tar of ``files`` (path -> content), parents included."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        seen: set[str] = set()
        for path in sorted(files):
            parts = path.split("/")
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                if parent not in seen:
                    seen.add(parent)
                    info = tarfile.TarInfo(parent + "/")
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo(path)
            info.size = len(files[path])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[path]))
    return out.getvalue()


def build_image(files: dict[str, bytes], *, label: str = "test", gzip_layer: bool = True) -> BuiltImage:
    tar = tar_layer(files)
    layer = gzip.compress(tar, mtime=0) if gzip_layer else tar
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"test": label}},
            "rootfs": {"type": "layers", "diff_ids": [str(Digest.of(tar))]},
            "history": [{"created_by": "shipflow tests"}],
        },
        separators=(",", ":"),
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": str(Digest.of(config)), "size": len(config)},
        "layers": [
            {
                "mediaType": mt.OCI_LAYER_GZIP if gzip_layer else mt.OCI_LAYER_TAR,
                "digest": str(Digest.of(layer)),
                "size": len(layer),
            }
        ],
    }
    data = json.dumps(manifest, indent=2).encode()
    return BuiltImage(ManifestBytes.create(data), config, [layer])


def artifact(subject: ManifestBytes, artifact_type: str, payload: bytes) -> BuiltImage:
    """An OCI 1.1 artifact manifest with ``subject`` (what signatures and SBOMs look like)."""
    empty = b"{}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": mt.OCI_EMPTY, "digest": str(Digest.of(empty)), "size": 2},
        "layers": [{"mediaType": "text/plain", "digest": str(Digest.of(payload)), "size": len(payload)}],
        "subject": {"mediaType": subject.media_type, "digest": str(subject.digest), "size": subject.size},
        "annotations": {"org.example.payload": payload.decode()},
    }
    data = json.dumps(manifest, separators=(",", ":")).encode()
    return BuiltImage(ManifestBytes.create(data), empty, [payload])


def put_blobs(store: Store, image: BuiltImage) -> None:
    for blob in image.blobs:
        store.put_blob(Digest.of(blob), len(blob), [blob])


def put_image(store: Store, image: BuiltImage, tag: str | None) -> Digest:
    put_blobs(store, image)
    return store.put_manifest(image.manifest, tag=tag)
