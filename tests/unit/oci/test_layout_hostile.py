"""An OCI layout someone tampered with, and the leftovers of writers that died (LayoutStore).

Files on disk only: blobs that are symlinks, devices or FIFOs, sizes that lie, manifests
altered after they were written, tags naming missing manifests, temporary files of a killed
process, and a destination layout created by a copy that then failed.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from shipflow.errors import (
    BlobNotFound,
    IntegrityError,
    LayoutError,
    ManifestNotFound,
    NotFound,
    ShipflowError,
)
from shipflow.oci import layout as layout_module
from shipflow.oci import mediatypes as mt
from shipflow.oci.copy import copy
from shipflow.oci.digest import Digest
from shipflow.oci.layout import TMP_DIR, LayoutStore
from shipflow.oci.models import ManifestBytes

LAYER = b"a layer that is not really a tar " * 4
CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'


def put_image(
    store: LayoutStore, tag: str = "v1", *, layer: bytes = LAYER, layer_size: int | None = None
) -> Digest:
    for blob in (layer, CONFIG):
        store.put_blob(Digest.of(blob), len(blob), [blob])
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": str(Digest.of(CONFIG)), "size": len(CONFIG)},
        "layers": [
            {
                "mediaType": mt.OCI_LAYER_TAR,
                "digest": str(Digest.of(layer)),
                "size": len(layer) if layer_size is None else layer_size,
            }
        ],
    }
    return store.put_manifest(ManifestBytes.create(json.dumps(doc).encode()), tag=tag)


def blob_file(store: LayoutStore, digest: Digest) -> Path:
    return store.path / "blobs" / digest.algorithm / digest.hex


@pytest.fixture
def store(tmp_path: Path) -> LayoutStore:
    return LayoutStore(tmp_path / "layout", create=True)


# -- blobs that are not regular files, or not the size they claim --------------------------------


def test_a_blob_symlinked_to_dev_zero_is_refused_not_read(store: LayoutStore) -> None:
    put_image(store)
    layer = Digest.of(LAYER)
    path = blob_file(store, layer)
    path.unlink()
    path.symlink_to("/dev/zero")
    assert store.has_blob(layer) is False
    with pytest.raises(LayoutError, match="is a symbolic link") as info, store.open_blob(layer, 110):
        pass
    assert info.value.exit_code == 3


def test_a_blob_that_is_a_fifo_is_refused(store: LayoutStore) -> None:
    put_image(store)
    layer = Digest.of(LAYER)
    path = blob_file(store, layer)
    path.unlink()
    os.mkfifo(path)  # opening it for reading would block forever without O_NONBLOCK
    with pytest.raises(LayoutError, match="not a regular file"), store.open_blob(layer):
        pass


def test_never_read_past_the_descriptor_size(store: LayoutStore) -> None:
    put_image(store)
    layer = Digest.of(LAYER)
    with pytest.raises(IntegrityError, match="descriptor says 110"), store.open_blob(layer, 110):
        pass
    # A file that grows while it is read is read up to its size when opened, and no further.
    with store.open_blob(layer, len(LAYER)) as chunks:
        with blob_file(store, layer).open("ab") as grow:
            grow.write(b"appended meanwhile" * 100_000)
        assert b"".join(chunks) == LAYER


def test_a_manifest_blob_symlinked_elsewhere_is_refused(store: LayoutStore, tmp_path: Path) -> None:
    digest = put_image(store)
    path = blob_file(store, digest)
    target = tmp_path / "outside"
    target.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(target)
    with pytest.raises(LayoutError, match="symbolic link"):
        store.resolve("v1")


# -- digests printed are digests of the bytes --------------------------------------------------


def test_resolving_a_tag_hashes_the_manifest(store: LayoutStore) -> None:
    digest = put_image(store)
    path = blob_file(store, digest)
    data = bytearray(path.read_bytes())
    data[10] ^= 0x01  # same size, other bytes
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="corrupt") as info:
        store.resolve("v1")
    assert info.value.exit_code == 3


def test_a_tag_naming_a_missing_manifest_is_a_broken_layout(store: LayoutStore) -> None:
    digest = put_image(store, "v1")
    other = put_image(store, "v2", layer=b"another layer")
    blob_file(store, digest).unlink()
    for attempt in (lambda: store.resolve("v1"), lambda: store.get_manifest("v1")):
        with pytest.raises(LayoutError) as info:
            attempt()
        assert "'v1'" in info.value.message and str(digest) in info.value.message
        assert info.value.exit_code == 3
    # Asked for a tag that does not exist, the hint lists the usable tags only.
    with pytest.raises(ManifestNotFound) as missing:
        store.resolve("v3")
    assert missing.value.hint is not None
    assert "v2" in missing.value.hint and "v1" not in missing.value.hint
    assert store.resolve("v2").digest == other


def test_a_missing_layout_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as info:
        LayoutStore(tmp_path / "nonexistent")
    assert info.value.exit_code == 1


# -- a corrupt source is blamed on the source -----------------------------------------------


def test_layout_to_layout_copy_blames_a_corrupt_source_blob(tmp_path: Path) -> None:
    source = LayoutStore(tmp_path / "src", create=True)
    put_image(source)
    path = blob_file(source, Digest.of(LAYER))
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    destination = LayoutStore(tmp_path / "dst", create=True)
    with pytest.raises(IntegrityError) as info:
        copy(source, "v1", destination, "v1")
    assert f"in oci:{tmp_path / 'src'} is corrupt" in info.value.message
    assert str(tmp_path / "dst") not in info.value.message
    assert str(path) in (info.value.hint or "")
    assert not (tmp_path / "dst").exists()  # created for the copy, removed when it failed


# -- leftovers -------------------------------------------------------------------------------


def test_stale_temporary_files_are_removed_on_the_next_write(store: LayoutStore) -> None:
    tmp = store.path / TMP_DIR
    tmp.mkdir(exist_ok=True)
    stale = tmp / "blob-left-by-a-killed-copy"
    stale.write_bytes(b"partial" * 1000)
    old_style = tmp / "link-12345-abcdef"
    old_style.write_bytes(b"x")
    live = tmp / "blob-being-written-right-now"
    live.write_bytes(b"in progress")
    holder = os.open(live, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # as a live writer (another process) holds it
    try:
        reopened = LayoutStore(store.path)
        put_image(reopened)
        assert sorted(p.name for p in tmp.iterdir()) == ["blob-being-written-right-now"]
    finally:
        os.close(holder)
    put_image(LayoutStore(store.path), "v2")
    assert list(tmp.iterdir()) == []


def test_a_new_temp_file_is_removed_only_when_old(
    store: LayoutStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = store.path / TMP_DIR
    tmp.mkdir(exist_ok=True)
    newborn = tmp / "new-blob-1-abc"
    newborn.write_bytes(b"")
    put_image(LayoutStore(store.path))
    assert newborn.exists()  # its writer may be between creating and locking it
    monkeypatch.setattr(layout_module, "_NEW_TEMP_GRACE", -1.0)
    put_image(LayoutStore(store.path), "v2")
    assert not newborn.exists()


def test_a_failed_copy_removes_the_layout_it_created(tmp_path: Path) -> None:
    source = LayoutStore(tmp_path / "src", create=True)
    put_image(source, layer_size=len(LAYER) + 1)  # the descriptor lies about the layer's size
    target = tmp_path / "new" / "deeper" / "layout"
    destination = LayoutStore(target, create=True)
    with pytest.raises(ShipflowError):
        copy(source, "v1", destination, "v1")
    assert not (tmp_path / "new").exists()


def test_a_failed_copy_into_an_existing_empty_directory_leaves_the_directory(tmp_path: Path) -> None:
    source = LayoutStore(tmp_path / "src", create=True)
    put_image(source, layer_size=7)
    (tmp_path / "mine").mkdir()
    with pytest.raises(ShipflowError):
        copy(source, "v1", LayoutStore(tmp_path / "mine", create=True), "v1")
    assert (tmp_path / "mine").is_dir() and list((tmp_path / "mine").iterdir()) == []


def test_a_layout_that_existed_or_holds_something_is_kept(tmp_path: Path) -> None:
    source = LayoutStore(tmp_path / "src", create=True)
    put_image(source, "good")
    put_image(source, "bad", layer=b"short", layer_size=99)
    existing = LayoutStore(tmp_path / "existing", create=True)
    with pytest.raises(ShipflowError):
        copy(source, "bad", LayoutStore(existing.path, create=True), "bad")
    assert (tmp_path / "existing" / "oci-layout").exists()  # it was there before the copy

    fresh = LayoutStore(tmp_path / "fresh", create=True)
    copy(source, "good", fresh, "good")
    with pytest.raises(ShipflowError):
        copy(source, "bad", fresh, "bad")
    assert fresh.list_tags() == ["good"]  # a successful copy made it the user's


def test_missing_blob_is_still_blob_not_found(store: LayoutStore) -> None:
    with pytest.raises(BlobNotFound), store.open_blob(Digest.of(b"nothing"), 7):
        pass
