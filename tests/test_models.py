"""Manifest models: bytes kept exactly, media types detected (umoci omits them), bad input refused."""

from __future__ import annotations

import json

import pytest

from shipflow.errors import ManifestError
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.models import Descriptor, ImageConfig, Index, Manifest, ManifestBytes, detect_media_type

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
    descriptor = Descriptor.model_validate(raw)
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
    config = ImageConfig.model_validate(raw)
    assert config.os == "linux"
    assert json.loads(config.to_json_bytes()) == raw
