"""Unit tests of copy/retag logic against a small in-memory Store (no network, no disk).

The real stores are exercised in test_copy_integration.py; here the point is the order of
writes, what is skipped/mounted/streamed, and what happens when a step fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

from shipflow.errors import ManifestNotFound, TransportError, UsageError
from shipflow.oci.copy import copy, copy_image, retag
from shipflow.oci.digest import Digest
from support.memory_store import CHUNK, FakeObserver, MemoryStore, add_image, add_index


def test_copy_single_image_preserves_bytes_and_tags_last() -> None:
    src, dst = MemoryStore("src"), MemoryStore("dst")
    image = add_image(src, [b"layer-one-data", b"layer-two-data-longer"], tag="v1")
    observer = FakeObserver()

    result = copy_image(src, "v1", dst, "prod", observer=observer)

    assert result.digest == image.digest
    assert dst.manifests[image.digest].data == image.data
    assert dst.tags == {"prod": image.digest}
    assert dst.writes[-1] == "tag:prod"
    assert all(w.startswith("blob:") for w in dst.writes[:3])
    assert (result.blobs_copied, result.blobs_mounted, result.blobs_skipped) == (3, 0, 0)
    moved = sum(len(b) for d, b in src.blobs.items())
    assert result.bytes_copied == moved
    assert observer.totals == [moved] and observer.advanced == moved and observer.finished == 1


def test_copy_streams_chunks_instead_of_whole_blobs() -> None:
    src, dst = MemoryStore("src"), MemoryStore("dst")
    add_image(src, [b"x" * 50], tag="v1")

    copy(src, "v1", dst, "v1", max_workers=1)

    assert dst.max_chunk_seen == CHUNK
    assert all(not isinstance(arg, bytes | bytearray) for arg in dst.put_blob_args)


def test_copy_by_digest_without_tag_writes_no_tag() -> None:
    src, dst = MemoryStore("src"), MemoryStore("dst")
    image = add_image(src, [b"a"], tag="v1")

    digest = copy(src, str(image.digest), dst, None)

    assert digest == image.digest
    assert dst.tags == {}
    assert image.digest in dst.manifests


def test_copy_skips_blobs_the_destination_has() -> None:
    src, dst = MemoryStore("src"), MemoryStore("dst")
    add_image(src, [b"shared-base", b"new-top"], tag="v1")
    shared = Digest.of(b"shared-base")
    dst.blobs[shared] = b"shared-base"
    observer = FakeObserver()

    result = copy_image(src, "v1", dst, "v1", observer=observer)

    assert result.blobs_skipped == 1 and result.blobs_copied == 2
    assert f"blob:{shared.short}" not in dst.writes
    assert observer.totals == [result.bytes_copied]


def test_copy_mounts_when_the_destination_can() -> None:
    src = MemoryStore("reg/app")
    dst = MemoryStore("reg/other", mount_from={"reg/app"})
    add_image(src, [b"l1", b"l2"], tag="v1")
    observer = FakeObserver()

    result = copy_image(src, "v1", dst, "v1", observer=observer)

    assert (result.blobs_mounted, result.blobs_copied, result.bytes_copied) == (3, 0, 0)
    assert src.open_count == 0
    assert observer.totals == []  # nothing to move, no progress bar


def test_copy_again_moves_nothing() -> None:
    src, dst = MemoryStore("src"), MemoryStore("dst")
    add_image(src, [b"l1", b"l2"], tag="v1")
    copy(src, "v1", dst, "v1")
    opened = src.open_count

    result = copy_image(src, "v1", dst, "v1")

    assert result.blobs_skipped == 3 and result.bytes_copied == 0
    assert src.open_count == opened


def test_multiplatform_index_children_before_index_and_shared_layers_once() -> None:
    src, dst = MemoryStore("src"), MemoryStore("dst")
    amd = add_image(src, [b"base", b"amd-top"], arch="amd64")
    arm = add_image(src, [b"base", b"arm-top"], arch="arm64")
    index = add_index(src, [amd, arm], "multi")

    result = copy_image(src, "multi", dst, "multi", max_workers=3)

    assert result.digest == index.digest
    assert dst.manifests[index.digest].data == index.data
    assert {amd.digest, arm.digest, index.digest} <= set(dst.manifests)
    manifest_writes = [w for w in dst.writes if w.startswith("manifest:")]
    assert manifest_writes[-1] == f"manifest:{index.digest.short}"
    assert dst.writes[-1] == "tag:multi"
    # base layer shared by both platforms: uploaded once; 2 configs + 3 distinct layers
    assert result.blobs_copied == 5
    assert result.manifests == 3


def test_failed_blob_leaves_no_tag_and_rerun_completes() -> None:
    src, dst = MemoryStore("src"), MemoryStore("dst")
    image = add_image(src, [b"good-layer", b"bad-layer"], tag="v1")
    dst.fail_put_blob = Digest.of(b"bad-layer")

    with pytest.raises(TransportError, match="connection reset"):
        copy(src, "v1", dst, "prod", max_workers=2)

    assert "prod" not in dst.tags
    assert image.digest not in dst.manifests

    dst.fail_put_blob = None
    assert copy(src, "v1", dst, "prod") == image.digest
    assert dst.tags["prod"] == image.digest


def test_missing_child_manifest_fails_before_any_write() -> None:
    src, dst = MemoryStore("src"), MemoryStore("dst")
    amd = add_image(src, [b"x"])
    arm = add_image(src, [b"y"], arch="arm64")
    add_index(src, [amd, arm], "multi")
    del src.manifests[arm.digest]

    with pytest.raises(ManifestNotFound):
        copy(src, "multi", dst, "multi")
    assert dst.writes == []


def test_missing_source_tag_raises_not_found() -> None:
    with pytest.raises(ManifestNotFound):
        copy(MemoryStore("src"), "nope", MemoryStore("dst"), "nope")


def test_with_attachments_copies_cosign_tags_and_referrers() -> None:
    src, dst = MemoryStore("src"), MemoryStore("dst")
    image = add_image(src, [b"app"], tag="v1")
    signature = add_image(src, [b"simple-signing-payload"], tag=f"{image.digest.tag_form}.sig")
    sbom = add_image(src, [b"spdx"], subject=image.descriptor(), artifact_type="application/spdx+json")
    src.referrer_index[image.digest] = [sbom.descriptor(artifact_type="application/spdx+json")]
    add_image(src, [b"unrelated"], tag="other")

    result = copy_image(src, "v1", dst, "v1", with_attachments=True, observer=FakeObserver())

    assert dst.tags[f"{image.digest.tag_form}.sig"] == signature.digest
    assert dst.manifests[sbom.digest].data == sbom.data
    assert [d.digest for d in dst.referrers(image.digest)] == [sbom.digest]
    assert "other" not in dst.tags
    assert dst.writes[-1] == "tag:v1"
    assert len(result.attachments) == 2


def test_with_attachments_on_index_covers_children() -> None:
    src, dst = MemoryStore("src"), MemoryStore("dst")
    amd = add_image(src, [b"a1"])
    arm = add_image(src, [b"a2"], arch="arm64")
    index = add_index(src, [amd, arm], "multi")
    index_sig = add_image(src, [b"sig-of-index"], tag=f"{index.digest.tag_form}.sig")
    child_att = add_image(src, [b"att-of-child"], tag=f"{arm.digest.tag_form}.att")

    result = copy_image(src, "multi", dst, "multi", with_attachments=True)

    assert dst.tags[f"{index.digest.tag_form}.sig"] == index_sig.digest
    assert dst.tags[f"{arm.digest.tag_form}.att"] == child_att.digest
    assert sorted(result.attachments) == sorted(
        [f"{index.digest.tag_form}.sig", f"{arm.digest.tag_form}.att"]
    )


def test_without_attachments_leaves_them_behind() -> None:
    src, dst = MemoryStore("src"), MemoryStore("dst")
    image = add_image(src, [b"app"], tag="v1")
    add_image(src, [b"sig"], tag=f"{image.digest.tag_form}.sig")

    copy(src, "v1", dst, "v1")

    assert list(dst.tags) == ["v1"]


def test_retag_moves_no_blob() -> None:
    store = MemoryStore("one")
    image = add_image(store, [b"big" * 1000], tag="dev")
    before = dict(store.blobs)

    retag(store, image.digest, "staging")

    assert store.tags["staging"] == image.digest
    assert store.writes == ["tag:staging"]
    assert store.blobs == before and store.open_count == 0


def test_max_workers_must_be_positive() -> None:
    src = MemoryStore("src")
    add_image(src, [b"a"], tag="v1")
    with pytest.raises(UsageError, match="max_workers"):
        copy(src, "v1", MemoryStore("dst"), "v1", max_workers=0)


class SlowSource(MemoryStore):
    """Serves ``slow`` chunk by chunk, pausing after the first until ``go`` is set."""

    def __init__(self, slow: Digest, go: threading.Event) -> None:
        super().__init__("slow-src")
        self.slow, self.go, self.served = slow, go, 0

    def open_blob(self, digest: Digest, size: int | None = None) -> AbstractContextManager[Iterator[bytes]]:
        if digest != self.slow:
            return super().open_blob(digest, size)
        data = self.blobs[digest]

        @contextmanager
        def opened() -> Iterator[Iterator[bytes]]:
            def chunks() -> Iterator[bytes]:
                for start in range(0, len(data), CHUNK):
                    if start == CHUNK:
                        self.go.wait(10)
                    self.served += 1
                    time.sleep(0.001)
                    yield data[start : start + CHUNK]

            yield chunks()

        return opened()


class FailingDestination(MemoryStore):
    def __init__(self, fail: Digest, failed: threading.Event) -> None:
        super().__init__("dst")
        self.fail, self.failed = fail, failed

    def put_blob(self, digest: Digest, size: int, chunks: Iterable[bytes]) -> None:
        if digest == self.fail:
            self.failed.set()
            raise TransportError("the destination went away")
        super().put_blob(digest, size, chunks)


def test_one_failed_blob_stops_the_other_transfers_early() -> None:
    slow_data = b"s" * (CHUNK * 2000)
    failed = threading.Event()
    src = SlowSource(Digest.of(slow_data), failed)
    add_image(src, [slow_data, b"doomed-layer"], tag="v1")
    dst = FailingDestination(Digest.of(b"doomed-layer"), failed)

    with pytest.raises(TransportError, match="went away"):
        copy(src, "v1", dst, "v1", max_workers=3)

    assert Digest.of(slow_data) not in dst.blobs
    assert src.served < 2000, "the slow transfer ran to the end although the copy had failed"
    assert dst.tags == {}
