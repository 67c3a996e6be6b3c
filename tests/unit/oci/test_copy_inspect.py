"""Unit tests of the inspect summary (oci/inspect.py) on the in-memory Store of test_copy."""

from __future__ import annotations

from shipflow.oci.inspect import summarize, tags_pointing_at
from support.memory_store import MemoryStore, add_image, add_index


def test_image_summary_reads_config_and_layers() -> None:
    store = MemoryStore("mem")
    image = add_image(store, [b"aaaa", b"bbbbbb"], arch="arm64", tag="v1")

    summary = summarize(store, "v1")

    assert summary.digest == image.digest
    assert summary.kind == "image"
    assert (summary.layers, summary.layer_bytes) == (2, 10)
    assert (summary.os, summary.architecture) == ("linux", "arm64")
    assert summary.tags == ["v1"] and summary.tags_complete
    assert summary.to_json()["digest"] == str(image.digest)


def test_tags_skip_attachments_and_respect_the_limit() -> None:
    store = MemoryStore("mem")
    image = add_image(store, [b"x"], tag="v1")
    other = add_image(store, [b"y"], tag="other")
    for name in ("dev", "staging", "prod"):
        store.tags[name] = image.digest
    store.tags[f"{image.digest.tag_form}.sig"] = other.digest
    store.tags[image.digest.tag_form] = other.digest

    found, total, checked = tags_pointing_at(store, image.digest)
    assert found == ["dev", "prod", "staging", "v1"]
    assert (total, checked) == (5, 5)  # attachment and referrer-index tags are not candidates

    found, total, checked = tags_pointing_at(store, image.digest, known="v1", limit=1)
    assert found == ["v1"] and (total, checked) == (5, 1)
    summary = summarize(store, "v1", tag_limit=2)
    assert not summary.tags_complete


def test_index_summary_lists_platforms_and_warns_about_missing_children() -> None:
    store = MemoryStore("mem")
    amd = add_image(store, [b"1", b"22"])
    arm = add_image(store, [b"333"], arch="arm64")
    add_index(store, [amd, arm], "multi")
    del store.manifests[arm.digest]

    summary = summarize(store, "multi", with_tags=False)

    assert summary.kind == "index"
    assert [p.platform for p in summary.platforms] == ["linux/amd64", "linux/arm64"]
    assert summary.platforms[0].layers == 2 and summary.platforms[1].layers is None
    assert any("missing" in w for w in summary.warnings)
    assert summary.tags == [] and summary.tags_checked == 0


def test_artifact_is_not_read_as_an_image_config() -> None:
    store = MemoryStore("mem")
    image = add_image(store, [b"x"], tag="v1")
    sbom = add_image(
        store, [b"{}"], tag="sbom", subject=image.descriptor(), artifact_type="application/spdx+json"
    )

    summary = summarize(store, str(sbom.digest), with_tags=False)

    assert summary.artifact_type == "application/spdx+json"
    assert summary.subject == image.digest
