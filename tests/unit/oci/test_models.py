"""Manifest models: bytes kept exactly, media types detected (umoci omits them), bad input refused."""

from __future__ import annotations

import json

import pytest

from shipflow.errors import ManifestError
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.models import (
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    ManifestBytes,
    WireError,
    detect_media_type,
)

CONFIG = {"mediaType": mt.OCI_CONFIG, "digest": "sha256:" + "c" * 64, "size": 2}
LAYER = {"mediaType": mt.OCI_LAYER_GZIP, "digest": "sha256:" + "d" * 64, "size": 10}


def test_manifest_bytes_keep_the_original_bytes() -> None:
    # odd but valid formatting and key order: a re-serialisation would change the digest
    data = b'{\n   "schemaVersion" : 2,\n "layers":[ ],  "config": ' + json.dumps(CONFIG).encode() + b"}\n"
    manifest = ManifestBytes.create(data)
    assert manifest.data is data
    assert manifest.digest == Digest.of(data)
    assert manifest.size == len(data)
    assert (
        manifest.descriptor().to_json_bytes()
        == json.dumps(
            {"mediaType": mt.OCI_MANIFEST, "digest": str(Digest.of(data)), "size": len(data)},
            separators=(",", ":"),
        ).encode()
    )
    parsed = manifest.as_manifest()
    assert parsed.config.digest == Digest.parse(CONFIG["digest"])  # type: ignore[arg-type]
    assert manifest.data == data  # parsing never touched the bytes


def test_umoci_style_manifest_without_media_type_is_detected() -> None:
    # what `umoci new` writes: no mediaType in the body (see FACTS.md)
    data = json.dumps(
        {"schemaVersion": 2, "config": CONFIG, "layers": [LAYER]}, separators=(",", ":")
    ).encode()
    assert detect_media_type(data) == mt.OCI_MANIFEST
    manifest = ManifestBytes.create(data)
    assert manifest.media_type == mt.OCI_MANIFEST
    assert not manifest.is_index
    assert isinstance(manifest.parse(), Manifest)


def test_index_without_media_type_is_detected() -> None:
    data = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    manifest = ManifestBytes.create(data)
    assert manifest.media_type == mt.OCI_INDEX
    assert manifest.is_index
    assert isinstance(manifest.parse(), Index)
    with pytest.raises(ManifestError, match="is an index, not an image manifest"):
        manifest.as_manifest()


def test_declared_and_body_media_types() -> None:
    docker = json.dumps(
        {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST, "config": CONFIG, "layers": []}
    ).encode()
    assert ManifestBytes.create(docker).media_type == mt.DOCKER_MANIFEST
    # a declared (Content-Type / descriptor) manifest type wins; an unknown one falls back to the body
    assert detect_media_type(docker, mt.DOCKER_MANIFEST) == mt.DOCKER_MANIFEST
    assert detect_media_type(docker, "application/octet-stream") == mt.DOCKER_MANIFEST
    docker_list = json.dumps(
        {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_LIST, "manifests": []}
    ).encode()
    assert ManifestBytes.create(docker_list).is_index


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<html>502 Bad Gateway</html>", "manifest is not valid JSON"),
        (b"\xff\xfe\x00", "manifest is not valid JSON"),
        (b"[1, 2]", "manifest is not a JSON object"),
        (
            b'{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}',
            "unsupported manifest media type 'application/vnd.docker.distribution.manifest.v1+prettyjws'",
        ),
        (b'{"schemaVersion": 2}', "unsupported manifest media type None"),
    ],
)
def test_bad_manifests_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        ManifestBytes.create(data)
    assert message in info.value.message


def test_manifest_over_the_size_cap_is_refused() -> None:
    padding = "x" * mt.MANIFEST_SIZE_LIMIT
    data = json.dumps(
        {"schemaVersion": 2, "config": CONFIG, "layers": [], "annotations": {"p": padding}}
    ).encode()
    with pytest.raises(ManifestError, match=f"over the {mt.MANIFEST_SIZE_LIMIT} byte limit"):
        ManifestBytes.create(data)
    # exactly at the cap is fine
    small = json.dumps(
        {"schemaVersion": 2, "config": CONFIG, "layers": [], "annotations": {"p": ""}}
    ).encode()
    fill = mt.MANIFEST_SIZE_LIMIT - len(small)
    at_cap = small.replace(b'"p": ""', b'"p": "' + b"y" * fill + b'"')
    assert len(at_cap) == mt.MANIFEST_SIZE_LIMIT
    assert ManifestBytes.create(at_cap).size == mt.MANIFEST_SIZE_LIMIT


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({**CONFIG, "digest": "sha256:bad"}, "config.digest"),
        ({**CONFIG, "size": -1}, "config.size"),
        ({"mediaType": mt.OCI_CONFIG, "size": 2}, "config.digest"),
    ],
)
def test_malformed_manifest_fields_are_manifest_errors(config: dict[str, object], field: str) -> None:
    data = json.dumps({"schemaVersion": 2, "config": config, "layers": []}).encode()
    manifest = ManifestBytes.create(data)
    with pytest.raises(ManifestError, match="is malformed") as info:
        manifest.parse()
    assert field in info.value.message


def test_models_keep_unknown_fields_and_aliases() -> None:
    raw = {
        "mediaType": mt.OCI_MANIFEST,
        "digest": "sha256:" + "e" * 64,
        "size": 7,
        "platform": {"architecture": "arm64", "os": "linux", "variant": "v8", "os.version": "10"},
        "data": "e30=",
    }
    descriptor = Descriptor.from_dict(raw)
    assert str(descriptor.platform) == "linux/arm64/v8"
    assert descriptor.platform is not None and descriptor.platform.os_version == "10"
    assert json.loads(descriptor.to_json_bytes()) == raw


def test_image_config_keeps_what_it_does_not_model() -> None:
    raw = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
        "author": "me",
    }
    config = ImageConfig.from_dict(raw)
    assert config.os == "linux"
    assert json.loads(config.to_json_bytes()) == raw


MANIFEST = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": CONFIG, "layers": [LAYER]}
INDEX_CHILD = {**CONFIG, "mediaType": mt.OCI_MANIFEST, "platform": {"architecture": "amd64", "os": "linux"}}


@pytest.mark.parametrize(
    ("doc", "path", "problem"),
    [
        ({**MANIFEST, "config": {**CONFIG, "size": "2"}}, "config.size", "must be an integer, not str"),
        ({**MANIFEST, "config": {**CONFIG, "size": True}}, "config.size", "must be an integer, not bool"),
        ({**MANIFEST, "config": {**CONFIG, "size": 2.5}}, "config.size", "must be an integer, not float"),
        ({**MANIFEST, "config": {**CONFIG, "mediaType": 5}}, "config.mediaType", "must be a string"),
        ({**MANIFEST, "config": None}, "config", "field required"),
        ({**MANIFEST, "config": []}, "config", "must be an object, not list"),
        ({**MANIFEST, "layers": {}}, "layers", "must be a list, not dict"),
        ({**MANIFEST, "layers": [LAYER, {**LAYER, "digest": "md5:x"}]}, "layers[1].digest", ""),
        ({**MANIFEST, "layers": [{**LAYER, "urls": [1]}]}, "layers[0].urls[0]", "must be a string"),
        ({**MANIFEST, "schemaVersion": "2"}, "schemaVersion", "must be an integer, not str"),
        ({**MANIFEST, "annotations": {"a": 1}}, "annotations.a", "must be a string, not int"),
        (
            {**MANIFEST, "subject": {"mediaType": mt.OCI_MANIFEST, "size": 1}},
            "subject.digest",
            "field required",
        ),
    ],
)
def test_manifest_fields_are_checked_strictly(doc: dict[str, object], path: str, problem: str) -> None:
    manifest = ManifestBytes.create(json.dumps(doc).encode())
    with pytest.raises(ManifestError) as info:
        manifest.parse()
    assert f"is malformed: {path}: {problem}" in info.value.message


def test_index_children_are_checked_with_their_path() -> None:
    child = {**INDEX_CHILD, "platform": {"architecture": "amd64"}}
    data = json.dumps({"schemaVersion": 2, "manifests": [INDEX_CHILD, child]}).encode()
    with pytest.raises(ManifestError, match=r"manifests\[1\]\.platform\.os: field required"):
        ManifestBytes.create(data).parse()


def test_round_trip_keeps_unknown_fields_at_every_level() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {**INDEX_CHILD, "platform": {"architecture": "arm", "os": "linux", "variant": "v7", "x-p": [1]}},
            {**INDEX_CHILD, "x-d": {"nested": None}},
        ],
        "annotations": {"org.example.note": "grüße"},
        "x-top": 3,
    }
    index = Index.from_json(json.dumps(doc).encode())
    assert str(index.manifests[0].platform) == "linux/arm/v7"
    assert index.extra == {"x-top": 3}
    assert json.loads(index.to_json_bytes()) == doc
    assert "grüße".encode() in index.to_json_bytes()  # UTF-8, not \\u escapes, like before


def test_constructor_validates_and_serialises_compactly() -> None:
    digest = "sha256:" + "a" * 64
    descriptor = Descriptor(media_type=mt.OCI_LAYER_GZIP, digest=digest, size=3)  # type: ignore[arg-type]
    assert descriptor.digest == Digest.parse(digest)
    assert descriptor == Descriptor(media_type=mt.OCI_LAYER_GZIP, digest=Digest.parse(digest), size=3)
    assert hash(descriptor) == hash(Descriptor.from_dict(json.loads(descriptor.to_json_bytes())))
    assert descriptor.to_json_bytes() == (
        f'{{"mediaType":"{mt.OCI_LAYER_GZIP}","digest":"{digest}","size":3}}'.encode()
    )
    with pytest.raises(WireError, match="size: must be ≥ 0"):
        Descriptor(media_type=mt.OCI_LAYER_GZIP, digest=digest, size=-1)  # type: ignore[arg-type]
    with pytest.raises(WireError, match=r"^digest: "):
        Descriptor(media_type=mt.OCI_LAYER_GZIP, digest="sha256:short", size=1)  # type: ignore[arg-type]
    with pytest.raises(WireError, match="mediaType: field required"):
        Descriptor(media_type=None, digest=digest, size=1)  # type: ignore[arg-type]


def test_image_config_rejects_wrong_types() -> None:
    with pytest.raises(WireError, match="history\\[0\\]: must be an object"):
        ImageConfig.from_json(b'{"history": ["x"]}')
    with pytest.raises(WireError, match="not valid JSON"):
        ImageConfig.from_json(b"{")
    with pytest.raises(WireError, match="must be an object, not list"):
        ImageConfig.from_json(b"[]")
