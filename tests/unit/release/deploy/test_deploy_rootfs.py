"""Extracting an image's root filesystem for the local target: layers in order, whiteouts,
and hostile entries (traversal, escaping links, setuid, device nodes, writes through links)."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
import zstandard

from shipflow.errors import UnsafeContentError
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
from shipflow.oci.models import ManifestBytes
from shipflow.release.deploy.rootfs import ensure_rootfs, extract_layers, image_runtime

Entry = tuple[str, str, object]  # (kind, name, content-or-target)


def tar_layer(entries: list[Entry], *, compress: str = "gzip") -> tuple[bytes, str]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, value in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data, mode = value if isinstance(value, tuple) else (value, 0o644)
                info.size = len(data)
                info.mode = mode
                tar.addfile(info, io.BytesIO(data))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = str(value)
                tar.addfile(info)
            elif kind == "hardlink":
                info.type = tarfile.LNKTYPE
                info.linkname = str(value)
                tar.addfile(info)
            elif kind == "chardev":
                info.type = tarfile.CHRTYPE
                info.devmajor, info.devminor = 1, 3
                tar.addfile(info)
    raw = buf.getvalue()
    if compress == "gzip":
        return gzip.compress(raw), mt.OCI_LAYER_GZIP
    if compress == "zstd":
        return zstandard.ZstdCompressor().compress(raw), mt.OCI_LAYER_ZSTD
    return raw, mt.OCI_LAYER_TAR


def put(store: LayoutStore, data: bytes) -> Digest:
    digest = Digest.of(data)
    if not store.has_blob(digest):
        store.put_blob(digest, len(data), [data])
    return digest


def image(
    store: LayoutStore, layers: list[tuple[bytes, str]], config: dict[str, object] | None = None
) -> Digest:
    cfg = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": config or {},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": str(put(store, cfg)), "size": len(cfg)},
        "layers": [
            {"mediaType": media, "digest": str(put(store, blob)), "size": len(blob)} for blob, media in layers
        ],
    }
    return store.put_manifest(ManifestBytes.create(json.dumps(manifest).encode()))


@pytest.fixture
def store(tmp_path: Path) -> LayoutStore:
    return LayoutStore(tmp_path / "store", create=True)


def extract(store: LayoutStore, digest: Digest, root: Path) -> Path:
    root.mkdir()
    extract_layers(store, store.get_manifest(str(digest)), root)
    return root


def test_layers_apply_in_order_with_whiteouts_and_opaque_dirs(store: LayoutStore, tmp_path: Path) -> None:
    lower = tar_layer(
        [
            ("dir", "etc", None),
            ("file", "etc/keep", b"keep"),
            ("file", "etc/gone", b"gone"),
            ("dir", "var/cache", None),
            ("file", "var/cache/old", b"old"),
            ("file", "bin/tool", (b"#!/bin/sh\n", 0o755)),
        ]
    )
    upper = tar_layer(
        [
            ("file", "etc/.wh.gone", b""),
            ("dir", "var/cache", None),
            ("file", "var/cache/.wh..wh..opq", b""),
            ("file", "var/cache/new", b"new"),
            ("file", "etc/keep", b"changed"),
        ],
        compress="zstd",
    )
    root = extract(store, image(store, [lower, upper]), tmp_path / "root")
    assert (root / "etc/keep").read_bytes() == b"changed"
    assert not (root / "etc/gone").exists()
    assert sorted(os.listdir(root / "var/cache")) == ["new"]
    assert os.stat(root / "bin/tool").st_mode & 0o111  # executables stay executable


def test_absolute_symlinks_are_rewritten_to_stay_inside(store: LayoutStore, tmp_path: Path) -> None:
    layer = tar_layer(
        [
            ("file", "bin/busybox", (b"BB", 0o755)),
            ("symlink", "bin/sh", "/bin/busybox"),
            ("dir", "usr/lib", None),
            ("symlink", "lib", "usr/lib"),
            ("symlink", "usr/lib/sh", "/bin/busybox"),
            ("symlink", "etc/root", "/"),
        ]
    )
    root = extract(store, image(store, [layer]), tmp_path / "root")
    assert os.readlink(root / "bin/sh") == "../bin/busybox"
    assert (root / "bin/sh").read_bytes() == b"BB"
    assert os.readlink(root / "usr/lib/sh") == "../../bin/busybox"
    assert (root / "lib/sh").read_bytes() == b"BB"
    assert os.path.realpath(root / "etc/root") == os.path.realpath(root)


def test_a_file_replacing_a_symlink_never_writes_through_it(store: LayoutStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("host file")
    lower = tar_layer([("file", "app/real", b"real"), ("symlink", "app/config", "real")])
    upper = tar_layer([("file", "app/config", b"new config")])
    root = extract(store, image(store, [lower, upper]), tmp_path / "root")
    assert (root / "app/real").read_bytes() == b"real"
    assert not (root / "app/config").is_symlink() and (root / "app/config").read_bytes() == b"new config"
    assert outside.read_text() == "host file"


@pytest.mark.parametrize(
    "entries",
    [
        [("file", "../escape", b"x")],
        [("file", "a/../../escape", b"x")],
        [("symlink", "up", "../../../../etc"), ("file", "up/passwd", b"x")],
        [("dir", "d", None), ("symlink", "d/link", "../../..")],
        [("file", "real", b"r"), ("hardlink", "link", "../../etc/passwd")],
    ],
)
def test_hostile_entries_are_refused(store: LayoutStore, tmp_path: Path, entries: list[Entry]) -> None:
    with pytest.raises(UnsafeContentError):
        extract(store, image(store, [tar_layer(entries)]), tmp_path / "root")
    assert not (tmp_path / "escape").exists()


def test_setuid_bits_and_device_nodes_are_dropped(store: LayoutStore, tmp_path: Path) -> None:
    layer = tar_layer([("file", "bin/su", (b"x", 0o4755)), ("chardev", "dev/mem", None)])
    root = extract(store, image(store, [layer]), tmp_path / "root")
    mode = os.stat(root / "bin/su").st_mode
    assert not mode & stat.S_ISUID and mode & 0o100
    assert not os.path.lexists(root / "dev/mem")


def test_a_corrupted_layer_is_never_used(store: LayoutStore, tmp_path: Path) -> None:
    from shipflow.errors import IntegrityError, LayerFormatError

    blob, media = tar_layer([("file", "app/x", b"x" * 1000)])
    digest = image(store, [(blob, media)])
    blob_path = store.path / "blobs" / "sha256" / Digest.of(blob).hex
    blob_path.chmod(0o644)
    blob_path.write_bytes(blob[:-8] + b"\0" * 8)  # same size, wrong bytes
    runtime = image_runtime(store, digest)
    with pytest.raises((IntegrityError, LayerFormatError)):
        ensure_rootfs(store, runtime, tmp_path / "state")
    assert not (tmp_path / "state" / "rootfs" / digest.hex).exists()
    assert [p.name for p in (tmp_path / "state" / "rootfs").iterdir()] == []  # no temporary left


def test_runtime_from_config_and_rootfs_reused(store: LayoutStore, tmp_path: Path) -> None:
    config = {
        "Entrypoint": ["/bin/sh", "/srv/start.sh"],
        "Cmd": ["--port", "8080"],
        "Env": ["PATH=/bin", "GREETING=hi=there"],
        "WorkingDir": "/srv",
        "User": "1001:1001",
        "Labels": {"org.opencontainers.image.version": "2.0.0"},
    }
    digest = image(store, [tar_layer([("file", "srv/start.sh", b"echo hi\n")])], config)
    runtime = image_runtime(store, digest)
    assert runtime.argv == ("/bin/sh", "/srv/start.sh", "--port", "8080")
    assert runtime.env == (("PATH", "/bin"), ("GREETING", "hi=there"))
    assert (runtime.workdir, runtime.user, runtime.version) == ("/srv", "1001:1001", "2.0.0")
    root, fresh = ensure_rootfs(store, runtime, tmp_path / "state")
    assert fresh and (root / "srv/start.sh").read_text() == "echo hi\n"
    assert (root / "tmp").is_dir() and (root / "etc/hosts").exists()
    again, fresh_again = ensure_rootfs(store, runtime, tmp_path / "state")
    assert again == root and not fresh_again


def test_a_layer_that_is_not_a_tar_says_what_it_is(store: LayoutStore, tmp_path: Path) -> None:
    """The local target reads layers with the SBOM's layer reader (``sbom.layers``): a zip
    declared as a gzip layer is named as such, not reported as a tar error."""
    from shipflow.errors import LayerFormatError

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("app/x", b"x")
    digest = image(store, [(archive.getvalue(), mt.OCI_LAYER_GZIP)])
    with pytest.raises(LayerFormatError, match=r"is a zip archive, not gzip as its media type"):
        extract(store, digest, tmp_path / "root")


def test_zstd_layer_and_its_corruption(store: LayoutStore, tmp_path: Path) -> None:
    from shipflow.errors import LayerFormatError

    blob, media = tar_layer([("file", "app/x", b"zstd" * 100)], compress="zstd")
    root = extract(store, image(store, [(blob, media)]), tmp_path / "root")
    assert (root / "app" / "x").read_bytes() == b"zstd" * 100
    # A damaged zstd frame is a layer format error naming the layer, never a zstandard traceback.
    damaged = blob[:4] + bytes(range(256)) * 4
    with pytest.raises(LayerFormatError, match="cannot be extracted"):
        extract(store, image(store, [(damaged, media)]), tmp_path / "root2")
