"""The OCI layout store against independent implementations: skopeo, umoci and buildah read what
shipflow writes, and shipflow reads theirs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fixtures.procs import require_binary
from shipflow.oci import mediatypes as mt
from shipflow.oci._referrers import fallback_tag
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
from support.layout_images import BuiltImage, artifact, build_image, put_image


@pytest.fixture
def store(tmp_path: Path) -> LayoutStore:
    return LayoutStore(tmp_path / "layout", create=True)


@pytest.fixture
def image() -> BuiltImage:
    return build_image({"etc/hello.txt": b"hello from shipflow\n"})


def index_doc(store: LayoutStore) -> dict[str, object]:
    doc = json.loads((store.path / "index.json").read_bytes())
    assert isinstance(doc, dict)
    return doc


def entries(store: LayoutStore) -> list[dict[str, object]]:
    listed = index_doc(store)["manifests"]
    assert isinstance(listed, list)
    return listed


def read_blob(store: LayoutStore, digest: Digest) -> bytes:
    with store.open_blob(digest) as chunks:
        return b"".join(chunks)


# -- interop with skopeo and umoci ------------------------------------------------------------


def run(*args: str, cwd: Path | None = None) -> str:
    require_binary(args[0])
    proc = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=120)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stderr}"
    return proc.stdout


def skopeo_digest(ref: str) -> Digest:
    return Digest.parse(json.loads(run("skopeo", "inspect", ref))["Digest"])


def skopeo_raw(ref: str) -> bytes:
    require_binary("skopeo")
    proc = subprocess.run(["skopeo", "inspect", "--raw", ref], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def umoci_image(tmp_path: Path) -> Path:
    """A layout written by umoci: init, new, insert a directory as a layer."""
    layout = tmp_path / "umoci-layout"
    content = tmp_path / "content"
    content.mkdir()
    (content / "greeting").write_text("written by umoci\n")
    run("umoci", "init", "--layout", str(layout))
    run("umoci", "new", "--image", f"{layout}:base")
    run("umoci", "insert", "--rootless", "--image", f"{layout}:base", str(content), "/data")
    return layout


def copy_between_layouts(source: LayoutStore, target: LayoutStore, ref: str, tag: str) -> Digest:
    """The minimal copy the layout store supports on its own: blobs, then manifest + tag."""
    manifest = source.get_manifest(ref)
    parsed = manifest.as_manifest()
    for descriptor in [parsed.config, *parsed.layers]:
        with source.open_blob(descriptor.digest) as chunks:
            target.put_blob(descriptor.digest, descriptor.size, chunks)
    return target.put_manifest(manifest, tag=tag)


def test_reads_a_layout_written_by_umoci(tmp_path: Path) -> None:
    layout = umoci_image(tmp_path)
    listed = json.loads((layout / "index.json").read_bytes())["manifests"]
    store = LayoutStore(layout)
    assert store.list_tags() == ["base"]
    manifest = store.get_manifest("base")
    assert str(manifest.digest) == listed[0]["digest"]
    assert manifest.digest == skopeo_digest(f"oci:{layout}:base")
    assert "mediaType" not in json.loads(manifest.data)  # umoci omits it; detected by shape
    assert manifest.media_type == mt.OCI_MANIFEST
    parsed = manifest.as_manifest()
    for descriptor in [parsed.config, *parsed.layers]:
        assert Digest.of(read_blob(store, descriptor.digest)) == descriptor.digest

    # and what shipflow copies out of it, umoci unpacks
    ours = LayoutStore(tmp_path / "ours", create=True)
    assert copy_between_layouts(store, ours, "base", "copied") == manifest.digest
    bundle = tmp_path / "bundle"
    run("umoci", "unpack", "--rootless", "--image", f"{ours.path}:copied", str(bundle))
    assert (bundle / "rootfs" / "data" / "greeting").read_text() == "written by umoci\n"


def test_reads_a_layout_written_by_skopeo(tmp_path: Path) -> None:
    umoci_layout = umoci_image(tmp_path)
    skopeo_layout = tmp_path / "skopeo-layout"
    run("skopeo", "copy", f"oci:{umoci_layout}:base", f"oci:{skopeo_layout}:copied")
    store = LayoutStore(skopeo_layout)
    assert store.list_tags() == ["copied"]
    manifest = store.get_manifest("copied")
    assert manifest.digest == skopeo_digest(f"oci:{skopeo_layout}:copied")
    assert manifest.data == skopeo_raw(f"oci:{skopeo_layout}:copied")
    for descriptor in [manifest.as_manifest().config, *manifest.as_manifest().layers]:
        assert Digest.of(read_blob(store, descriptor.digest)) == descriptor.digest


def test_layout_written_by_shipflow_is_read_by_skopeo_and_umoci(tmp_path: Path, image: BuiltImage) -> None:
    store = LayoutStore(tmp_path / "ours", create=True)
    digest = put_image(store, image, "v1")
    # more entries than one tag: an untagged image and a referrer fallback index
    extra = build_image({"other": b"untagged"}, label="untagged")
    put_image(store, extra, None)
    sbom = artifact(image.manifest, "application/spdx+json", b"sbom")
    put_image(store, sbom, None)
    store.add_referrer(digest, sbom.manifest)

    assert skopeo_digest(f"oci:{store.path}:v1") == digest
    assert skopeo_raw(f"oci:{store.path}:v1") == image.manifest.data
    other = tmp_path / "skopeo-copy"
    run("skopeo", "copy", "--preserve-digests", f"oci:{store.path}:v1", f"oci:{other}:v1")
    assert LayoutStore(other).resolve("v1").digest == digest

    bundle = tmp_path / "bundle"
    run("umoci", "unpack", "--rootless", "--image", f"{store.path}:v1", str(bundle))
    assert (bundle / "rootfs" / "etc" / "hello.txt").read_bytes() == b"hello from shipflow\n"
    assert sorted(run("umoci", "ls", "--layout", str(store.path)).split()) == sorted(
        ["v1", fallback_tag(digest)]
    )

    # umoci's garbage collection keeps everything index.json lists, untagged images included
    run("umoci", "gc", "--layout", str(store.path))
    reopened = LayoutStore(store.path)
    assert reopened.get_manifest(str(extra.manifest.digest)).data == extra.manifest.data
    assert [d.digest for d in reopened.referrers(digest)] == [sbom.manifest.digest]
    for blob in [*image.blobs, *extra.blobs, *sbom.blobs]:
        assert read_blob(reopened, Digest.of(blob)) == blob


def test_skopeo_and_umoci_write_into_a_shipflow_layout(tmp_path: Path, image: BuiltImage) -> None:
    store = LayoutStore(tmp_path / "ours", create=True)
    digest = put_image(store, image, "v1")
    assert (store.path / ".shipflow-tmp").is_dir()  # our own files are there; they must not bother them
    umoci_layout = umoci_image(tmp_path)
    run("skopeo", "copy", f"oci:{umoci_layout}:base", f"oci:{store.path}:from-skopeo")
    run("umoci", "new", "--image", f"{store.path}:from-umoci")
    assert store.list_tags() == ["from-skopeo", "from-umoci", "v1"]
    assert store.resolve("v1").digest == digest
    assert store.resolve("from-skopeo").digest == skopeo_digest(f"oci:{umoci_layout}:base")
    assert store.get_manifest("from-umoci").as_manifest().layers == []
    store.tag(store.resolve("from-umoci").digest, "retagged")
    assert skopeo_digest(f"oci:{store.path}:retagged") == store.resolve("from-umoci").digest


def test_reads_a_layout_written_by_buildah(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "hello").write_text("built by buildah\n")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY hello /hello\n")
    storage = [
        "--storage-driver",
        "vfs",
        "--root",
        str(tmp_path / "root"),
        "--runroot",
        str(tmp_path / "run"),
    ]
    run(
        "buildah",
        *storage,
        "bud",
        "--isolation",
        "chroot",
        "--timestamp",
        "0",
        "-f",
        str(context / "Dockerfile"),
        "-t",
        "localhost/layout-test:latest",
        str(context),
    )
    store = LayoutStore(tmp_path / "ours", create=True)
    put_image(store, build_image({"x": b"already here"}), "mine")
    digest_file = tmp_path / "digest"
    # buildah pushes into a layout shipflow created (lock file and temp dir present)
    run(
        "buildah",
        *storage,
        "push",
        "--digestfile",
        str(digest_file),
        "localhost/layout-test:latest",
        f"oci:{store.path}:built",
    )
    pushed = Digest.parse(digest_file.read_text().strip())
    assert store.list_tags() == ["built", "mine"]
    manifest = store.get_manifest("built")
    assert manifest.digest == pushed
    layer = manifest.as_manifest().layers[0]
    assert Digest.of(read_blob(store, layer.digest)) == layer.digest
