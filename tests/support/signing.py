"""Helpers shared by the tests/test_signing_*.py modules (tiny images, cosign fixtures)."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
from shipflow.oci.models import ManifestBytes
from shipflow.oci.store import Store
from support.paths import DATA_DIR

COSIGN_DATA = DATA_DIR / "cosign"
COSIGN_PASSWORD = "shipflow-fixture-password"


def cosign_digests() -> dict[str, Any]:
    return dict(json.loads((COSIGN_DATA / "digests.json").read_text()))


def fixture_layout(tmp_path: Path) -> LayoutStore:
    """A writable copy of the layout the real cosign's signatures were copied into."""
    target = tmp_path / "cosign-layout"
    shutil.copytree(COSIGN_DATA / "layout", target)
    return LayoutStore(target)


def _tar(name: str, content: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def put_bytes(store: Store, data: bytes) -> Digest:
    digest = Digest.of(data)
    if not store.has_blob(digest):
        store.put_blob(digest, len(data), [data])
    return digest


def make_image(store: Store, content: str, tag: str | None = None) -> Digest:
    """Push a one-layer OCI image whose file holds ``content``; return its manifest digest."""
    layer = _tar("hello.txt", content.encode())
    layer_digest = put_bytes(store, layer)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [str(layer_digest)]},
        }
    ).encode()
    config_digest = put_bytes(store, config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": str(config_digest), "size": len(config)},
            "layers": [{"mediaType": mt.OCI_LAYER_TAR, "digest": str(layer_digest), "size": len(layer)}],
        }
    ).encode()
    return store.put_manifest(ManifestBytes.create(manifest, mt.OCI_MANIFEST), tag=tag)
