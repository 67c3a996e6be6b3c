"""The safe layer reader: compression, whiteouts, overwrites, and hostile layers.

Layers are crafted with :mod:`tarfile`, written into a real OCI image layout and read back
through :class:`~shipflow.oci.layout.LayoutStore` (digest-verified streaming).
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from shipflow.errors import IntegrityError, LayerFormatError, UnsafeContentError
from shipflow.oci.layout import LayoutStore
from shipflow.oci.store import NullObserver
from shipflow.sbom._filetree import FileTree
from shipflow.sbom.catalog import catalog_source, combined_wants
from shipflow.sbom.catalogers import installed_catalogers
from shipflow.sbom.image import catalog_image, image_tree
from shipflow.sbom.layers import Limits
from shipflow.sbom.source import TreeSource
from support.sbom import TarBuilder, compress, write_layout

OS_RELEASE = b'ID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n'


def wants_all(path: str) -> bool:
    return True


def build_tree(
    tmp_path: Path,
    layers: list[tuple[bytes, str]],
    *,
    limits: Limits | None = None,
    wants: Callable[[str], bool] = wants_all,
) -> FileTree:
    digest = write_layout(tmp_path / "layout", layers)
    store = LayoutStore(tmp_path / "layout")
    manifest = store.get_manifest(digest)
    return image_tree(store, manifest, wants=wants, limits=limits or Limits(), observer=NullObserver())


def paths(tree: FileTree) -> set[str]:
    found: set[str] = set()
    todo = [("", tree.root)]
    while todo:
        prefix, node = todo.pop()
        for name, child in (node.children or {}).items():
            found.add(prefix + name)
            if child.children is not None:
                todo.append((prefix + name + "/", child))
    return found


@pytest.mark.parametrize("how", ["gzip", "zstd", "plain"])
def test_every_compression_is_read(tmp_path: Path, how: str) -> None:
    layer = TarBuilder().dir("etc").file("etc/os-release", OS_RELEASE).bytes()
    tree = build_tree(tmp_path, [compress(layer, how)])
    node = tree.lookup_exact("etc/os-release")
    assert node is not None and node.content == OS_RELEASE


def test_multi_member_gzip_with_padding(tmp_path: Path) -> None:
    """pigz/bgzip-style layers: the tar split over several gzip members, zero padding after."""
    layer = TarBuilder().file("etc/os-release", OS_RELEASE).file("usr/x", os.urandom(3000)).bytes()
    blob = gzip.compress(layer[:700]) + gzip.compress(layer[700:]) + bytes(512)
    tree = build_tree(tmp_path, [(blob, "application/vnd.oci.image.layer.v1.tar+gzip")])
    node = tree.lookup_exact("usr/x")
    assert node is not None and node.size == 3000


def test_magic_bytes_win_over_a_wrong_media_type(tmp_path: Path) -> None:
    layer = TarBuilder().file("etc/os-release", OS_RELEASE).bytes()
    blob, _ = compress(layer, "zstd")
    tree = build_tree(tmp_path, [(blob, "application/vnd.oci.image.layer.v1.tar+gzip")])
    node = tree.lookup_exact("etc/os-release")
    assert node is not None and node.content == OS_RELEASE


def test_whiteouts_opaque_dirs_and_overwrites(tmp_path: Path) -> None:
    lower = (
        TarBuilder()
        .file("a/x", b"x")
        .file("a/y", b"y")
        .file("d/sub/z", b"z")
        .file("d/keep-me-not", b"k")
        .file("f", b"old")
        .bytes()
    )
    upper = (
        TarBuilder()
        .file("a/.wh.x")
        .file("d/.wh..wh..opq")
        .file("d/new", b"n")
        .file("f", b"new")
        .file("a/added", b"same layer")
        .file("a/.wh.added")  # a whiteout never hides what its own layer wrote
        .bytes()
    )
    tree = build_tree(tmp_path, [compress(lower, "gzip"), compress(upper, "gzip")])
    assert paths(tree) == {"a", "a/y", "a/added", "d", "d/new", "f"}
    f = tree.lookup_exact("f")
    assert f is not None and f.content == b"new" and f.layer == 1
    y = tree.lookup_exact("a/y")
    assert y is not None and y.layer == 0
    assert tree.layers[1].startswith("sha256:")


def test_opaque_marker_after_entries_of_its_own_layer(tmp_path: Path) -> None:
    lower = TarBuilder().file("d/old", b"o").file("d/sub/old", b"o").bytes()
    upper = TarBuilder().file("d/sub/new", b"n").file("d/.wh..wh..opq").bytes()
    tree = build_tree(tmp_path, [compress(lower, "plain"), compress(upper, "plain")])
    assert paths(tree) == {"d", "d/sub", "d/sub/new"}


def test_whiteout_of_a_directory_removes_its_tree(tmp_path: Path) -> None:
    lower = TarBuilder().file("opt/app/node_modules/lodash/package.json", b"{}").bytes()
    upper = TarBuilder().file("opt/app/node_modules/.wh.lodash").bytes()
    tree = build_tree(tmp_path, [compress(lower, "gzip"), compress(upper, "gzip")])
    assert paths(tree) == {"opt", "opt/app", "opt/app/node_modules"}


def test_file_replaces_directory_and_directory_replaces_symlink(tmp_path: Path) -> None:
    lower = TarBuilder().file("x/inner", b"i").symlink("lib", "usr/lib").bytes()
    upper = TarBuilder().file("x", b"now a file").file("lib/apk/db/installed", b"P:a\nV:1\n").bytes()
    tree = build_tree(tmp_path, [compress(lower, "gzip"), compress(upper, "gzip")])
    x = tree.lookup_exact("x")
    assert x is not None and x.kind == "file" and x.children is None
    lib = tree.lookup_exact("lib")
    assert lib is not None and lib.kind == "dir"


def test_absolute_and_dot_names_are_made_relative(tmp_path: Path) -> None:
    layer = TarBuilder().file("/etc/os-release", OS_RELEASE).file("./usr/./lib/x", b"x").bytes()
    tree = build_tree(tmp_path, [compress(layer, "gzip")])
    assert {"etc/os-release", "usr/lib/x"} <= paths(tree)


def test_symlinks_resolve_inside_the_image_only(tmp_path: Path) -> None:
    """etc/os-release links far above the root; it must land on the image's own file, never
    the host's (/usr/lib/os-release here says Debian)."""
    layer = (
        TarBuilder()
        .symlink("etc/os-release", "../../../../../../../usr/lib/os-release")
        .file("usr/lib/os-release", OS_RELEASE)
        .symlink("etc/loop-a", "loop-b")
        .symlink("etc/loop-b", "loop-a")
        .symlink("etc/abs", "/usr/lib/../lib/os-release")
        .bytes()
    )
    tree = build_tree(tmp_path, [compress(layer, "gzip")])
    resolved = tree.resolve("etc/os-release")
    assert resolved is not None and resolved[0] == "usr/lib/os-release"
    assert resolved[1].content == OS_RELEASE
    assert tree.resolve("etc/loop-a") is None
    absolute = tree.resolve("etc/abs")
    assert absolute is not None and absolute[0] == "usr/lib/os-release"
    source = TreeSource(tree)
    inventory = catalog_source(source, installed_catalogers(), subject="test")
    assert inventory.distro is not None and inventory.distro.id == "alpine"


def test_path_traversal_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    outside = tmp_path / "escaped"
    layer = TarBuilder().file("etc/ok", b"ok").file(f"../../../../..{outside}", b"owned").bytes()
    with pytest.raises(UnsafeContentError, match="escapes the image root"):
        build_tree(tmp_path, [compress(layer, "gzip")])
    assert not outside.exists()


def test_device_files_are_never_read(tmp_path: Path) -> None:
    layer = TarBuilder().device("dev/null").device("var/lib/dpkg/status").bytes()
    tree = build_tree(tmp_path, [compress(layer, "gzip")])
    node = tree.lookup_exact("var/lib/dpkg/status")
    assert node is not None and node.kind == "other" and node.content is None
    inventory = catalog_source(TreeSource(tree), installed_catalogers(), subject="test")
    assert inventory.packages == []


def test_hardlinks_share_content(tmp_path: Path) -> None:
    layer = (
        TarBuilder()
        .file("usr/lib/os-release", OS_RELEASE)
        .hardlink("etc/os-release", "usr/lib/os-release")
        .bytes()
    )
    tree = build_tree(tmp_path, [compress(layer, "gzip")])
    node = tree.lookup_exact("etc/os-release")
    assert node is not None and node.content == OS_RELEASE


def _zstd_zero_bomb(uncompressed: int) -> bytes:
    """A tar with one file of ``uncompressed`` zero bytes, zstd-compressed (a few KiB)."""
    header = tarfile.TarInfo("var/lib/bomb")
    header.size = uncompressed
    out = io.BytesIO()
    with zstandard.ZstdCompressor(level=3).stream_writer(out, closefd=False) as writer:
        writer.write(header.tobuf(tarfile.USTAR_FORMAT))
        zeros = bytes(1024 * 1024)
        for _ in range(uncompressed // len(zeros)):
            writer.write(zeros)
        writer.write(bytes(1024))  # end of archive
    return out.getvalue()


def test_decompression_bomb_stops_at_the_cap_with_bounded_memory(tmp_path: Path) -> None:
    bomb = _zstd_zero_bomb(1024**3)  # 1 GiB of zeros
    assert len(bomb) < 1024**2
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeContentError, match="decompression bomb"):
            build_tree(
                tmp_path,
                [(bomb, "application/vnd.oci.image.layer.v1.tar+zstd")],
                limits=Limits(max_total_bytes=64 * 1024**2),
                wants=lambda path: False,  # streamed past, never kept: only the total cap applies
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024**2, f"peak Python memory {peak} bytes"


def test_gzip_bomb_in_a_wanted_file_is_refused_before_reading(tmp_path: Path) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    header = tarfile.TarInfo("var/lib/dpkg/status")
    header.size = 40 * 1024**2
    parts = [compressor.compress(header.tobuf(tarfile.USTAR_FORMAT))]
    zeros = bytes(1024 * 1024)
    parts += [compressor.compress(zeros) for _ in range(40)]
    parts += [compressor.compress(bytes(1024)), compressor.flush()]
    with pytest.raises(UnsafeContentError, match=r"over the .* byte limit"):
        build_tree(
            tmp_path,
            [(b"".join(parts), "application/vnd.oci.image.layer.v1.tar+gzip")],
            limits=Limits(max_file_bytes=16 * 1024**2),
        )


def test_huge_pax_header_is_refused_before_buffering(tmp_path: Path) -> None:
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = 8 * 1024**2
    raw = header.tobuf(tarfile.USTAR_FORMAT) + bytes(header.size) + bytes(1024)
    with pytest.raises(UnsafeContentError, match="tar header of"):
        build_tree(tmp_path, [compress(raw, "gzip")], limits=Limits(max_header_bytes=64 * 1024))


def test_entry_flood_is_refused(tmp_path: Path) -> None:
    builder = TarBuilder()
    for number in range(200):
        builder.file(f"many/{number}", b"")
    with pytest.raises(UnsafeContentError, match="more than 100 tar entries"):
        build_tree(tmp_path, [compress(builder.bytes(), "gzip")], limits=Limits(max_entries=100))


def test_corrupt_and_empty_layers(tmp_path: Path) -> None:
    tree = build_tree(tmp_path / "empty", [(b"", "application/vnd.oci.image.layer.v1.tar")])
    assert paths(tree) == set()
    tree = build_tree(
        tmp_path / "empty-gz", [(gzip.compress(b""), "application/vnd.oci.image.layer.v1.tar+gzip")]
    )
    assert paths(tree) == set()
    whole = gzip.compress(TarBuilder().file("a", os.urandom(20000)).bytes())
    broken = whole[: len(whole) // 2]
    with pytest.raises(LayerFormatError, match="not a readable tar"):
        build_tree(tmp_path / "broken", [(broken, "application/vnd.oci.image.layer.v1.tar+gzip")])


def test_tampered_blob_fails_digest_verification(tmp_path: Path) -> None:
    """The reader drains every blob to its end, so the store's digest check always runs."""
    layer, media_type = compress(TarBuilder().file("etc/os-release", OS_RELEASE).bytes(), "gzip")
    digest = write_layout(tmp_path / "layout", [(layer, media_type)])
    store = LayoutStore(tmp_path / "layout")
    layer_digest = store.get_manifest(digest).as_manifest().layers[0].digest
    blob = tmp_path / "layout" / "blobs" / "sha256" / layer_digest.hex
    blob.write_bytes(layer + b"trailing bytes after the gzip stream")
    with pytest.raises(IntegrityError):
        catalog_image(store, digest)


def test_only_wanted_files_are_kept_in_memory(tmp_path: Path) -> None:
    layer = TarBuilder().file("etc/os-release", OS_RELEASE).file("usr/bin/big", b"\x7fELF" * 10000).bytes()
    digest = write_layout(tmp_path / "layout", [compress(layer, "gzip")])
    store = LayoutStore(tmp_path / "layout")
    wants = combined_wants(installed_catalogers())
    tree = image_tree(
        store, store.get_manifest(digest), wants=wants, limits=Limits(), observer=NullObserver()
    )
    big = tree.lookup_exact("usr/bin/big")
    assert big is not None and big.content is None and big.size == 40000
    release = tree.lookup_exact("etc/os-release")
    assert release is not None and release.content == OS_RELEASE
