"""A one-image OCI layout of random layers, written with the standard library (for the tests of
hostile servers and faults: random content is never at a destination already)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
TAG = "v1"


@dataclass(frozen=True)
class RandomImage:
    layout: Path
    digest: str
    big: str  # a 300 kB layer (a chunked upload once the monolithic threshold is lower)
    small: str  # a 20 kB layer

    @property
    def ref(self) -> str:
        return f"oci:{self.layout}:{TAG}"

    def blob_file(self, digest: str) -> Path:
        return self.layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_image(path: Path, *, tag: str = TAG) -> RandomImage:
    """A layout at ``path`` with one image tagged ``tag``: two random layers and a config."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict[str, object]:
        (blobs / sha256(data).split(":")[1]).write_bytes(data)
        return {"digest": sha256(data), "size": len(data)}

    big, small = put(os.urandom(300_000)), put(os.urandom(20_000))
    config = put(json.dumps({"architecture": "amd64", "os": "linux"}).encode())
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **big},
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **small},
            ],
        }
    ).encode()
    root = put(manifest)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": OCI_MANIFEST, **root, "annotations": {"org.opencontainers.image.ref.name": tag}}
        ],
    }
    (path / "index.json").write_text(json.dumps(index))
    return RandomImage(path, str(root["digest"]), str(big["digest"]), str(small["digest"]))
