"""copy/retag between the real stores: OCI layouts on disk and real docker-registry instances.

Images are built by buildah (fixtures/images.py); digests are checked against what buildah
reported and, where another tool is the better judge, against skopeo.
"""

from __future__ import annotations

import json
import os
import subprocess
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.images import BuiltImage, ImageBuilder, PublishedImage
from fixtures.registry import Registry
from shipflow.errors import IntegrityError, ManifestNotFound
from shipflow.oci import mediatypes as mt
from shipflow.oci.copy import copy, copy_image, retag
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
from shipflow.oci.models import ManifestBytes
from shipflow.oci.open import open_store
from shipflow.oci.registry.config import RegistryConfig
from shipflow.oci.store import Store
from support.oci import put_artifact


class CountingObserver:
    """Counts the bytes a copy reports as moved."""

    def __init__(self) -> None:
        self.total: int = 0
        self.advanced = 0
        self.notes: list[str] = []

    def start(self, task: str, total_bytes: int | None) -> None:
        self.total += total_bytes or 0

    def advance(self, nbytes: int) -> None:
        self.advanced += nbytes

    def note(self, message: str) -> None:
        self.notes.append(message)

    def finish(self) -> None:
        pass


def registry_store(reg: Registry, repo: str) -> Store:
    return open_store(f"{reg.host}/{repo}", config=RegistryConfig.from_env({}))


def layout(path: Path, *, create: bool = False) -> LayoutStore:
    return LayoutStore(path, create=create)


def blob_requests(reg: Registry) -> list[str]:
    """Access-log lines of blob requests (the registry logs every request it serves)."""
    lines = reg.log.read_text(errors="replace").splitlines()
    return [line for line in lines if "/blobs/" in line and '"' in line]


def test_layout_registry_registry_layout_round_trip_keeps_the_digest(
    busybox_built: BuiltImage, registry: Registry, registry2: Registry, repo_name: str, tmp_path: Path
) -> None:
    source = layout(busybox_built.layout_path)
    first = registry_store(registry, repo_name)
    second = registry_store(registry2, repo_name)
    back = layout(tmp_path / "back", create=True)

    assert copy(source, busybox_built.tag, first, "v1") == Digest.parse(busybox_built.digest)
    assert copy(first, "v1", second, "v1") == Digest.parse(busybox_built.digest)
    result = copy_image(second, "v1", back, "v1")

    assert str(result.digest) == busybox_built.digest
    assert back.get_manifest("v1").data == busybox_built.manifest_bytes
    assert second.get_manifest("v1").data == busybox_built.manifest_bytes
    manifest = back.get_manifest("v1").as_manifest()
    for blob in [manifest.config, *manifest.layers]:
        assert back.has_blob(blob.digest)
    assert result.blobs_copied == 1 + len(manifest.layers)


def test_multiplatform_index_is_copied_whole(
    multiarch_built: BuiltImage, registry: Registry, registry2: Registry, repo_name: str, tmp_path: Path
) -> None:
    source = layout(multiarch_built.layout_path)
    index = source.get_manifest(multiarch_built.tag)
    children = index.as_index().manifests
    assert len(children) == 2

    first = registry_store(registry, repo_name)
    second = registry_store(registry2, repo_name)
    copy(source, multiarch_built.tag, first, "multi")
    copy(first, "multi", second, "multi")
    back = layout(tmp_path / "back", create=True)
    digest = copy(second, "multi", back, "multi")

    assert str(digest) == multiarch_built.digest
    for store in (first, second, back):
        assert store.get_manifest("multi").data == index.data
        for child in children:
            child_bytes = store.get_manifest(str(child.digest))
            assert child_bytes.data == source.get_manifest(str(child.digest)).data
            for blob in [child_bytes.as_manifest().config, *child_bytes.as_manifest().layers]:
                assert store.has_blob(blob.digest)


def test_cross_repository_copy_mounts_and_moves_no_blob_bytes(
    busybox_image: PublishedImage, registry: Registry, repo_name: str
) -> None:
    source = registry_store(registry, busybox_image.repo)
    destination = registry_store(registry, repo_name)
    observer = CountingObserver()
    before = len(blob_requests(registry))

    result = copy_image(source, busybox_image.tag, destination, "mounted", observer=observer)

    assert str(result.digest) == busybox_image.digest
    assert result.blobs_copied == 0 and result.bytes_copied == 0
    assert result.blobs_mounted >= 2
    assert observer.total == 0 and observer.advanced == 0
    new_lines = blob_requests(registry)[before:]
    assert new_lines, "the registry access log shows the mount requests"
    assert not any('"GET /v2/' in line and "/blobs/sha256:" in line for line in new_lines), new_lines
    assert not any('"PATCH /v2/' in line for line in new_lines), new_lines
    assert destination.get_manifest("mounted").data == busybox_image.built.manifest_bytes


def test_copy_to_a_registry_that_has_the_blobs_skips_them(
    busybox_built: BuiltImage, registry: Registry, repo_name: str
) -> None:
    source = layout(busybox_built.layout_path)
    destination = registry_store(registry, repo_name)
    copy(source, busybox_built.tag, destination, "one")

    again = copy_image(source, busybox_built.tag, destination, "two")

    assert again.blobs_copied == 0 and again.bytes_copied == 0
    assert again.blobs_skipped >= 2
    assert destination.resolve("two").digest == Digest.parse(busybox_built.digest)


def test_retag_in_a_registry_moves_no_blob(busybox_image: PublishedImage, registry: Registry) -> None:
    store = registry_store(registry, busybox_image.repo)
    digest = Digest.parse(busybox_image.digest)
    before = len(blob_requests(registry))

    retag(store, digest, "retagged-staging")

    assert store.resolve("retagged-staging").digest == digest
    assert blob_requests(registry)[before:] == []


def test_with_attachments_copies_cosign_tag_and_referrer(
    image_builder: ImageBuilder,
    busybox_built: BuiltImage,
    registry: Registry,
    registry2: Registry,
    repo_name: str,
    tmp_path: Path,
) -> None:
    published = image_builder.push(busybox_built, registry, repo_name, "v1")
    source = registry_store(registry, repo_name)
    image = source.get_manifest("v1")
    signature = put_artifact(source, b"signature-payload", artifact_type=mt.COSIGN_SIMPLESIGNING)
    source.put_manifest(signature, tag=f"{image.digest.tag_form}.sig")
    sbom = put_artifact(
        source, b'{"spdxVersion":"SPDX-2.3"}', artifact_type="application/spdx+json", subject=image
    )
    source.put_manifest(sbom)
    source.add_referrer(image.digest, sbom)

    destination = registry_store(registry2, repo_name)
    result = copy_image(source, "v1", destination, "v1", with_attachments=True)

    assert str(result.digest) == published.digest
    assert destination.resolve(f"{image.digest.tag_form}.sig").digest == signature.digest
    assert destination.get_manifest(str(signature.digest)).data == signature.data
    assert [d.digest for d in destination.referrers(image.digest)] == [sbom.digest]
    assert destination.get_manifest(str(sbom.digest)).data == sbom.data

    # ... and on to a layout, which keeps referrers in the fallback tag index too.
    back = layout(tmp_path / "back", create=True)
    copy(destination, "v1", back, "v1", with_attachments=True)
    assert back.resolve(f"{image.digest.tag_form}.sig").digest == signature.digest
    assert [d.digest for d in back.referrers(image.digest)] == [sbom.digest]


def test_referrers_travel_between_api_and_fallback_registries(
    busybox_built: BuiltImage,
    referrers_registry: Registry,
    registry: Registry,
    registry2: Registry,
    repo_name: str,
) -> None:
    source = registry_store(registry, repo_name)
    copy(layout(busybox_built.layout_path), busybox_built.tag, source, "v1")
    image = source.get_manifest("v1")
    sbom = put_artifact(source, b"sbom-bytes", artifact_type="application/spdx+json", subject=image)
    source.put_manifest(sbom)
    source.add_referrer(image.digest, sbom)

    destination = registry_store(referrers_registry, repo_name)
    copy(source, "v1", destination, "v1", with_attachments=True)

    found = destination.referrers(image.digest)
    assert [d.digest for d in found] == [sbom.digest]
    assert found[0].artifact_type == "application/spdx+json"

    # ... and back out of the API registry into one that only has the tag-scheme fallback.
    fallback_only = registry_store(registry2, repo_name)
    copy(destination, "v1", fallback_only, "v1", with_attachments=True)
    assert [d.digest for d in fallback_only.referrers(image.digest)] == [sbom.digest]
    assert fallback_only.get_manifest(str(sbom.digest)).data == sbom.data


def test_corrupt_source_blob_fails_without_tagging_and_rerun_completes(
    busybox_built: BuiltImage, registry: Registry, repo_name: str, tmp_path: Path
) -> None:
    private = busybox_built.copy_layout(tmp_path / "src")
    source = layout(private.layout_path)
    manifest = source.get_manifest(private.tag).as_manifest()
    biggest = max(manifest.layers, key=lambda d: d.size)
    blob_path = private.layout_path / "blobs" / "sha256" / biggest.digest.hex
    good = blob_path.read_bytes()
    blob_path.chmod(0o644)
    blob_path.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    destination = registry_store(registry, repo_name)

    with pytest.raises(IntegrityError):
        copy(source, private.tag, destination, "release")

    with pytest.raises(ManifestNotFound):
        destination.resolve("release")
    assert not destination.has_blob(biggest.digest)

    blob_path.write_bytes(good)
    assert str(copy(source, private.tag, destination, "release")) == private.digest


def test_copy_streams_big_blobs_in_bounded_memory(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    size = 48 * 1024 * 1024
    source = layout(tmp_path / "big", create=True)
    data_path = tmp_path / "layer.bin"
    with data_path.open("wb") as fh:
        for _ in range(size // (1024 * 1024)):
            fh.write(os.urandom(1024 * 1024))
    digest = _file_digest(data_path)

    def chunks() -> Iterator[bytes]:
        with data_path.open("rb") as fh:
            while piece := fh.read(1024 * 1024):
                yield piece

    source.put_blob(digest, size, chunks())
    data_path.unlink()
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    source.put_blob(Digest.of(config), len(config), [config])
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": str(Digest.of(config)), "size": len(config)},
        "layers": [{"mediaType": mt.OCI_LAYER_TAR, "digest": str(digest), "size": size}],
    }
    source.put_manifest(ManifestBytes.create(json.dumps(doc).encode()), tag="big")
    destination = registry_store(registry, repo_name)
    back = layout(tmp_path / "back", create=True)

    tracemalloc.start()
    try:
        copy(source, "big", destination, "big", max_workers=2)
        copy(destination, "big", back, "big", max_workers=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert back.has_blob(digest)
    print(f"peak Python heap while copying {size / 2**20:.0f} MiB twice: {peak / 2**20:.1f} MiB")
    # Python-heap peak of both copies: well under the 48 MiB blob (chunks, not whole blobs).
    assert peak < size // 4, f"peak {peak / 2**20:.1f} MiB while copying a {size / 2**20:.0f} MiB blob"


def _file_digest(path: Path) -> Digest:
    import hashlib

    hasher = hashlib.sha256()
    with path.open("rb") as fh:
        while piece := fh.read(1024 * 1024):
            hasher.update(piece)
    return Digest("sha256", hasher.hexdigest())


def test_registry_copy_is_readable_by_skopeo(
    busybox_built: BuiltImage, registry: Registry, repo_name: str, skopeo_bin: str, tmp_path: Path
) -> None:
    copy(layout(busybox_built.layout_path), busybox_built.tag, registry_store(registry, repo_name), "v1")

    out = subprocess.run(
        [
            skopeo_bin,
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            f"docker://{registry.ref(repo_name, 'v1')}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == busybox_built.digest
    target = tmp_path / "skopeo-layout"
    subprocess.run(
        [
            skopeo_bin,
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            f"docker://{registry.ref(repo_name, 'v1')}",
            f"oci:{target}:v1",
        ],
        capture_output=True,
        check=True,
    )
    assert layout(target).resolve("v1").digest == Digest.parse(busybox_built.digest)
