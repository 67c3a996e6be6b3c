"""LayoutStore: the on-disk OCI image layout store (round trips, safety, bad input)."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shipflow.errors import (
    BlobNotFound,
    IntegrityError,
    InvalidReference,
    LayoutError,
    ManifestError,
    ManifestNotFound,
    NotFound,
    TransportError,
    UsageError,
)
from shipflow.oci import mediatypes as mt
from shipflow.oci._layout_index import REF_NAME
from shipflow.oci._referrers import fallback_tag
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
from shipflow.oci.models import ManifestBytes
from shipflow.oci.open import open_store
from shipflow.oci.store import CHUNK_SIZE, Store
from support.layout_images import BuiltImage, artifact, build_image, put_blobs, put_image


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


# -- creating and opening ---------------------------------------------------------------------


def test_create_initialises_an_empty_layout(tmp_path: Path) -> None:
    path = tmp_path / "new" / "layout"
    store = LayoutStore(path, create=True)
    assert isinstance(store, Store)
    assert store.name == f"oci:{path}"
    assert json.loads((path / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    assert json.loads((path / "index.json").read_bytes())["manifests"] == []
    assert (path / "blobs" / "sha256").is_dir()
    assert store.list_tags() == []
    # create on an existing layout opens it and changes nothing
    before = (path / "index.json").read_bytes()
    LayoutStore(path, create=True)
    assert (path / "index.json").read_bytes() == before


def test_open_store_gives_a_layout_store(tmp_path: Path) -> None:
    store = open_store(f"oci:{tmp_path / 'via-open'}:dev", create=True)
    assert isinstance(store, LayoutStore)
    assert store.path == tmp_path / "via-open"
    with pytest.raises(NotFound, match="no such directory"):
        open_store(f"oci:{tmp_path / 'absent'}:dev")


def test_a_file_is_not_a_layout(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a directory") as info:
        LayoutStore(tmp_path / "file")
    assert info.value.exit_code == 2
    with pytest.raises(UsageError, match="not a directory"):
        LayoutStore(tmp_path / "file", create=True)


def test_create_in_an_existing_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert LayoutStore(tmp_path / "empty", create=True).list_tags() == []


def test_missing_layout_without_create_is_not_found(tmp_path: Path) -> None:
    # Like a repository a registry does not have: exit 1 (not found), never 3 ("retry").
    with pytest.raises(NotFound, match="no such directory") as info:
        LayoutStore(tmp_path / "nope")
    assert info.value.hint and "shipflow copy" in info.value.hint
    assert info.value.exit_code == 1
    assert not (tmp_path / "nope").exists()


def test_directory_without_oci_layout_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a layout")
    with pytest.raises(UsageError, match="no oci-layout file") as refused:
        LayoutStore(tmp_path)
    assert refused.value.exit_code == 2  # some other directory: the user named the wrong one
    (tmp_path / "blobs").mkdir()
    with pytest.raises(LayoutError, match="no oci-layout file"):
        LayoutStore(tmp_path)  # blobs/ but no oci-layout: a damaged layout (exit 3)
    (tmp_path / "blobs").rmdir()
    with pytest.raises(LayoutError, match="not empty") as info:
        LayoutStore(tmp_path, create=True)
    assert "notes.txt" in info.value.message
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".shipflow")) == ["notes.txt"]


def test_malformed_oci_layout_file_is_refused(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "l", create=True)
    (store.path / "oci-layout").write_text('{"imageLayoutVersion": "2.0.0"}')
    with pytest.raises(LayoutError, match="unsupported image layout version"):
        LayoutStore(store.path)
    (store.path / "oci-layout").write_text("[]")
    with pytest.raises(LayoutError, match="no imageLayoutVersion"):
        LayoutStore(store.path)


# -- round trips ------------------------------------------------------------------------------


def test_round_trip_keeps_bytes_and_digests(store: LayoutStore, image: BuiltImage) -> None:
    digest = put_image(store, image, "v1")
    assert digest == image.manifest.digest
    descriptor = store.resolve("v1")
    assert (descriptor.digest, descriptor.size, descriptor.media_type) == (
        image.manifest.digest,
        image.manifest.size,
        mt.OCI_MANIFEST,
    )
    got = store.get_manifest("v1")
    assert got.data == image.manifest.data  # the indented bytes, not re-serialised
    assert store.get_manifest(str(digest)) == got
    assert store.resolve(str(digest)).digest == digest
    for blob in image.blobs:
        assert store.has_blob(Digest.of(blob))
        assert read_blob(store, Digest.of(blob)) == blob
    assert (store.path / "blobs" / "sha256" / digest.hex).read_bytes() == image.manifest.data
    assert not store.has_blob(Digest.of(b"absent"))


def test_open_blob_streams_in_chunks(store: LayoutStore) -> None:
    blob = os.urandom(CHUNK_SIZE * 2 + 17)
    digest = Digest.of(blob)
    store.put_blob(digest, len(blob), (blob[i : i + 4096] for i in range(0, len(blob), 4096)))
    with store.open_blob(digest) as chunks:
        sizes = [len(c) for c in chunks]
    assert sizes == [CHUNK_SIZE, CHUNK_SIZE, 17]


def test_sha512_blobs_live_under_their_algorithm(store: LayoutStore) -> None:
    blob = b"sha512 content"
    digest = Digest.of(blob, "sha512")
    store.put_blob(digest, len(blob), [blob])
    assert (store.path / "blobs" / "sha512" / digest.hex).read_bytes() == blob
    assert read_blob(store, digest) == blob


def test_list_tags_is_sorted(store: LayoutStore, image: BuiltImage) -> None:
    digest = put_image(store, image, "zeta")
    for tag in ["alpha", "Beta", "1.0"]:
        store.tag(digest, tag)
    assert store.list_tags() == sorted(["zeta", "alpha", "Beta", "1.0"])


def test_index_put_by_tag_with_children(store: LayoutStore) -> None:
    amd = build_image({"a": b"amd64"}, label="amd64")
    arm = build_image({"a": b"arm64"}, label="arm64")
    put_image(store, amd, None)
    put_image(store, arm, None)
    assert len(entries(store)) == 2  # untagged children listed so they are not garbage
    index = ManifestBytes.create(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_INDEX,
                "manifests": [
                    {
                        **json.loads(m.descriptor().to_json_bytes()),
                        "platform": {"os": "linux", "architecture": a},
                    }
                    for m, a in [(amd.manifest, "amd64"), (arm.manifest, "arm64")]
                ],
            }
        ).encode()
    )
    store.put_manifest(index, tag="multi")
    # the children are reachable through the tagged index now: their plain entries go
    assert [(e["digest"], e["annotations"]) for e in entries(store)] == [
        (str(index.digest), {REF_NAME: "multi"})
    ]
    got = store.get_manifest("multi")
    assert got.is_index and got.data == index.data
    assert store.get_manifest(str(amd.manifest.digest)).data == amd.manifest.data


# -- tags in index.json -----------------------------------------------------------------------


def test_retag_replaces_the_entry_and_keeps_the_old_image_listed(store: LayoutStore) -> None:
    one = build_image({"f": b"one"}, label="one")
    two = build_image({"f": b"two"}, label="two")
    put_image(store, one, "prod")
    put_image(store, two, "prod")
    listed = entries(store)
    named = [e for e in listed if e.get("annotations", {}).get(REF_NAME) == "prod"]  # type: ignore[union-attr]
    assert [e["digest"] for e in named] == [str(two.manifest.digest)]
    # the image prod moved away from stays listed by digest (a rollback target), once
    assert [e["digest"] for e in listed if "annotations" not in e] == [str(one.manifest.digest)]
    assert store.resolve(str(one.manifest.digest)).digest == one.manifest.digest
    # moving prod back absorbs that untagged entry: still one entry per manifest
    store.tag(one.manifest.digest, "prod")
    assert sorted((e["digest"], "annotations" in e) for e in entries(store)) == sorted(
        [(str(one.manifest.digest), True), (str(two.manifest.digest), False)]
    )


def test_same_digest_is_listed_once_unless_tagged_differently(store: LayoutStore, image: BuiltImage) -> None:
    put_image(store, image, None)
    put_image(store, image, None)
    assert len(entries(store)) == 1
    store.tag(image.manifest.digest, "a")
    assert len(entries(store)) == 1  # the untagged entry became the tagged one
    store.put_manifest(image.manifest)  # already listed under a tag: nothing to add
    store.tag(image.manifest.digest, "a")  # same target: no-op
    assert len(entries(store)) == 1
    store.tag(image.manifest.digest, "b")
    assert sorted(e["annotations"][REF_NAME] for e in entries(store)) == ["a", "b"]  # type: ignore[index]


def test_foreign_entries_and_annotations_are_kept(store: LayoutStore, image: BuiltImage) -> None:
    put_blobs(store, image)
    store.put_blob(image.manifest.digest, image.manifest.size, [image.manifest.data])
    foreign = {
        "mediaType": "application/xml",
        "size": 7143,
        "digest": "sha256:" + "b" * 64,
        "annotations": {"org.freedesktop.specifications.metainfo.type": "AppStream"},
    }
    untagged_with_platform = {
        **json.loads(image.manifest.descriptor().to_json_bytes()),
        "platform": {"os": "linux", "architecture": "amd64"},
        "annotations": {"org.example.built-by": "another tool"},
    }
    doc = {
        "schemaVersion": 2,
        "manifests": [foreign, untagged_with_platform],
        "annotations": {"com.example.index.revision": "r124356"},
    }
    (store.path / "index.json").write_text(json.dumps(doc))
    store.tag(image.manifest.digest, "v1")
    after = index_doc(store)
    assert after["annotations"] == {"com.example.index.revision": "r124356"}
    assert "mediaType" not in after  # nothing added to the foreign top level
    listed = entries(store)
    assert listed[0] == foreign
    assert listed[1] == {
        **untagged_with_platform,
        "annotations": {"org.example.built-by": "another tool", REF_NAME: "v1"},
    }
    assert store.list_tags() == ["v1"]


def test_tag_needs_a_manifest_in_the_store(store: LayoutStore, image: BuiltImage) -> None:
    with pytest.raises(ManifestNotFound, match=str(image.manifest.digest)):
        store.tag(image.manifest.digest, "v1")
    put_image(store, image, None)
    with pytest.raises(InvalidReference, match="invalid tag"):
        store.tag(image.manifest.digest, "-bad")
    with pytest.raises(InvalidReference, match="invalid tag"):
        store.put_manifest(image.manifest, tag="has:colon")
    assert store.list_tags() == []


def test_delete_tag_keeps_the_manifest_by_digest(store: LayoutStore, image: BuiltImage) -> None:
    put_image(store, image, "v1")
    store.tag(image.manifest.digest, "v2")
    store.delete_tag("v1")
    assert store.list_tags() == ["v2"]
    store.delete_tag("v2")
    assert store.list_tags() == []
    assert [e["digest"] for e in entries(store)] == [str(image.manifest.digest)]
    assert store.get_manifest(str(image.manifest.digest)).data == image.manifest.data
    with pytest.raises(ManifestNotFound, match="'v2'"):
        store.delete_tag("v2")


# -- verification and bad input ---------------------------------------------------------------


def test_put_blob_refuses_wrong_bytes_and_leaves_nothing(store: LayoutStore) -> None:
    blob = b"the real content"
    digest = Digest.of(blob)
    with pytest.raises(IntegrityError, match="does not match its digest"):
        store.put_blob(digest, len(blob), [b"the fake content"])
    with pytest.raises(IntegrityError, match="is 4 bytes, expected"):
        store.put_blob(digest, len(blob), [blob[:4]])
    with pytest.raises(IntegrityError, match="longer than"):
        store.put_blob(digest, 4, [blob])
    assert not store.has_blob(digest)
    assert list((store.path / ".shipflow-tmp").iterdir()) == []
    assert list((store.path / "blobs" / "sha256").iterdir()) == []


def test_put_blob_stream_failure_leaves_nothing(store: LayoutStore) -> None:
    def failing() -> object:
        yield b"partial"
        raise ConnectionResetError("peer went away")

    with pytest.raises(TransportError, match="failed mid-stream: peer went away"):
        store.put_blob(Digest.of(b"x"), 100, failing())  # type: ignore[arg-type]
    assert list((store.path / ".shipflow-tmp").iterdir()) == []
    assert list((store.path / "blobs" / "sha256").iterdir()) == []


def test_corrupt_blob_on_disk_is_detected(store: LayoutStore, image: BuiltImage) -> None:
    put_image(store, image, "v1")
    layer = Digest.of(image.layers[0])
    path = store.path / "blobs" / "sha256" / layer.hex
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with store.open_blob(layer) as chunks, pytest.raises(IntegrityError, match="corrupt") as info:
        b"".join(chunks)
    assert info.value.hint and str(path) in info.value.hint

    manifest_path = store.path / "blobs" / "sha256" / image.manifest.digest.hex
    manifest_path.write_bytes(image.manifest.data.replace(b"amd64", b"arm64") + b" ")
    with pytest.raises(IntegrityError, match="corrupt"):
        store.get_manifest("v1")


def test_missing_blob_is_blob_not_found(store: LayoutStore) -> None:
    with pytest.raises(BlobNotFound, match="not in oci:") as info:
        store.open_blob(Digest.of(b"missing")).__enter__()
    assert info.value.exit_code == 1


def test_tag_whose_manifest_blob_is_missing(store: LayoutStore, image: BuiltImage) -> None:
    put_image(store, image, "v1")
    (store.path / "blobs" / "sha256" / image.manifest.digest.hex).unlink()
    with pytest.raises(LayoutError, match=r"points at .* but that manifest is missing"):
        store.get_manifest("v1")
    with pytest.raises(ManifestNotFound):
        store.get_manifest(str(image.manifest.digest))


def test_missing_tag_lists_the_existing_tags(store: LayoutStore, image: BuiltImage) -> None:
    digest = put_image(store, image, "v1")
    store.tag(digest, "staging")
    with pytest.raises(ManifestNotFound, match="tag 'prod' is not in") as info:
        store.resolve("prod")
    assert info.value.hint == f"tags in {store.name}: staging, v1"
    with pytest.raises(ManifestNotFound) as info:
        store.get_manifest("sha256:" + "0" * 64)
    assert info.value.hint and "staging, v1" in info.value.hint
    with pytest.raises(InvalidReference, match="neither a tag nor a valid digest"):
        store.resolve("sha256:abc")


def test_broken_index_json_is_reported_and_never_overwritten(store: LayoutStore, image: BuiltImage) -> None:
    put_image(store, image, None)
    index_file = store.path / "index.json"
    for broken in [
        b'{"schemaVersion": 2, "manifests": [',
        b'{"manifests": "oops"}',
        b"[1, 2]",
        b'{"manifests": [{"digest": "sha256:x"}]}',
    ]:
        index_file.write_bytes(broken)
        with pytest.raises(LayoutError, match=str(index_file)) as info:
            store.tag(image.manifest.digest, "v1")
        assert info.value.hint and "does not overwrite" in info.value.hint
        with pytest.raises(LayoutError):
            store.put_manifest(image.manifest, tag="v2")
        with pytest.raises(LayoutError):
            LayoutStore(store.path)
        with pytest.raises(LayoutError):
            LayoutStore(store.path, create=True)
        assert index_file.read_bytes() == broken


def test_manifest_over_the_size_cap_is_refused(store: LayoutStore, image: BuiltImage) -> None:
    put_blobs(store, image)
    doc = json.loads(image.manifest.data)
    doc["annotations"] = {"padding": "x" * mt.MANIFEST_SIZE_LIMIT}
    big = json.dumps(doc).encode()
    with pytest.raises(ManifestError, match="over the"):
        ManifestBytes.create(big)
    with pytest.raises(ManifestError, match="over the"):
        store.put_manifest(ManifestBytes(big, mt.OCI_MANIFEST, Digest.of(big)), tag="big")
    assert store.list_tags() == []
    assert not store.has_blob(Digest.of(big))
    # a huge blob named by a tag (written by something else) is not read as a manifest
    store.put_blob(Digest.of(big), len(big), [big])
    listed = {
        "mediaType": mt.OCI_MANIFEST,
        "digest": str(Digest.of(big)),
        "size": len(big),
        "annotations": {REF_NAME: "big"},
    }
    (store.path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [listed]}))
    with pytest.raises(ManifestError, match="manifest limit"):
        store.get_manifest("big")


def test_manifest_with_missing_blobs_is_refused_and_no_tag_written(
    store: LayoutStore, image: BuiltImage
) -> None:
    store.put_blob(Digest.of(image.config), len(image.config), [image.config])  # config only
    with pytest.raises(BlobNotFound, match="1 referenced blob") as info:
        store.put_manifest(image.manifest, tag="v1")
    assert str(Digest.of(image.layers[0])) in info.value.message
    assert info.value.hint and "no tag was written" in info.value.hint
    assert store.list_tags() == []
    assert not store.has_blob(image.manifest.digest)
    assert entries(store) == []


def test_index_with_missing_child_is_refused(store: LayoutStore, image: BuiltImage) -> None:
    index = ManifestBytes.create(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_INDEX,
                "manifests": [json.loads(image.manifest.descriptor().to_json_bytes())],
            }
        ).encode()
    )
    with pytest.raises(BlobNotFound, match=f"manifest {image.manifest.digest}"):
        store.put_manifest(index, tag="multi")
    assert store.list_tags() == []


def test_manifest_that_is_not_json_is_refused(store: LayoutStore) -> None:
    with pytest.raises(ManifestError, match="not valid JSON"):
        ManifestBytes.create(b"<html>not a manifest</html>")
    # a blob that is not a manifest, named by digest
    blob = b"\x1f\x8b not json"
    store.put_blob(Digest.of(blob), len(blob), [blob])
    with pytest.raises(ManifestError, match="not a manifest shipflow can read"):
        store.resolve(str(Digest.of(blob)))


# -- referrers and mounts ---------------------------------------------------------------------


def test_referrers_use_the_tag_scheme_fallback(store: LayoutStore, image: BuiltImage) -> None:
    put_image(store, image, "v1")
    subject = image.manifest.digest
    assert store.referrers(subject) == []
    sbom = artifact(image.manifest, "application/spdx+json", b"sbom")
    sig = artifact(image.manifest, "application/vnd.dev.cosign.artifact.sig.v1+json", b"sig")
    for referrer in (sbom, sig):
        put_image(store, referrer, None)
        store.add_referrer(subject, referrer.manifest)
    store.add_referrer(subject, sbom.manifest)  # recorded once
    found = store.referrers(subject)
    assert [d.digest for d in found] == [sbom.manifest.digest, sig.manifest.digest]
    assert found[0].artifact_type == "application/spdx+json"
    assert found[0].annotations == {"org.example.payload": "sbom"}
    only = store.referrers(subject, "application/spdx+json")
    assert [d.digest for d in only] == [sbom.manifest.digest]
    assert fallback_tag(subject) in store.list_tags()
    # referrers are reachable through the fallback index; superseded fallback indexes are not kept
    assert sorted(store.list_tags()) == sorted(["v1", fallback_tag(subject)])
    assert len(entries(store)) == 2


def test_add_referrer_needs_the_referrer_stored(store: LayoutStore, image: BuiltImage) -> None:
    put_image(store, image, "v1")
    sbom = artifact(image.manifest, "application/spdx+json", b"sbom")
    with pytest.raises(ManifestNotFound, match="is not in") as info:
        store.add_referrer(image.manifest.digest, sbom.manifest)
    assert info.value.hint and "put the referrer" in info.value.hint
    assert store.list_tags() == ["v1"]


def test_mount_blob_between_layouts(tmp_path: Path, image: BuiltImage) -> None:
    source = LayoutStore(tmp_path / "src", create=True)
    target = LayoutStore(tmp_path / "dst", create=True)
    put_image(source, image, "v1")
    layer = Digest.of(image.layers[0])
    assert target.mount_blob(layer, source) is True
    assert read_blob(target, layer) == image.layers[0]
    # same filesystem: a hard link, no bytes copied
    linked = target.path / "blobs" / "sha256" / layer.hex
    assert linked.stat().st_ino == (source.path / "blobs" / "sha256" / layer.hex).stat().st_ino
    assert target.mount_blob(Digest.of(b"absent"), source) is False
    assert not target.has_blob(Digest.of(b"absent"))


def test_mount_blob_copies_where_it_cannot_link(
    tmp_path: Path, image: BuiltImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = LayoutStore(tmp_path / "src", create=True)
    target = LayoutStore(tmp_path / "dst", create=True)
    put_image(source, image, "v1")

    def no_links(src: object, dst: object) -> None:
        raise OSError(18, "Invalid cross-device link")  # what another filesystem answers

    monkeypatch.setattr(os, "link", no_links)
    layer = Digest.of(image.layers[0])
    assert target.mount_blob(layer, source) is True
    copied = target.path / "blobs" / "sha256" / layer.hex
    assert copied.read_bytes() == image.layers[0]
    assert copied.stat().st_ino != (source.path / "blobs" / "sha256" / layer.hex).stat().st_ino


def test_mount_blob_refuses_a_corrupt_source(tmp_path: Path, image: BuiltImage) -> None:
    source = LayoutStore(tmp_path / "src", create=True)
    target = LayoutStore(tmp_path / "dst", create=True)
    put_image(source, image, "v1")
    config = Digest.of(image.config)
    (source.path / "blobs" / "sha256" / config.hex).write_bytes(b"tampered")
    with pytest.raises(IntegrityError):
        target.mount_blob(config, source)
    assert not target.has_blob(config)


class _NotALayout:
    """Only the part of a foreign store mount_blob may look at."""

    name = "127.0.0.1:5000/app"


def test_mount_blob_from_a_foreign_store_is_false(store: LayoutStore) -> None:
    assert store.mount_blob(Digest.of(b"x"), _NotALayout()) is False  # type: ignore[arg-type]


def test_threads_sharing_one_store_lose_no_tag(store: LayoutStore, image: BuiltImage) -> None:
    digest = put_image(store, image, "base")

    def tag_many(prefix: str) -> None:
        for i in range(20):
            store.tag(digest, f"{prefix}-{i}")

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(tag_many, ["a", "b", "c"]))
    assert len(store.list_tags()) == 1 + 3 * 20
