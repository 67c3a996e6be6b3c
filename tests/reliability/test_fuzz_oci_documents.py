"""Fuzz the OCI document parsers: manifests, indexes (through ManifestBytes, as every store
reads them) and a layout's ``index.json``.

Finding (fixed): ``json.loads`` in ``oci/`` had no depth limit, so a manifest or
``index.json`` of ~1000 nested brackets raised RecursionError (a traceback from ``inspect``,
``copy``, ``sbom``…). ``oci/`` now parses with the bounded loader of :mod:`shipflow.jsonload`;
:func:`test_deep_oci_documents_are_refused_cleanly` is the regression test, and the fuzz
property no longer tolerates any foreign exception here.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reliability.fuzzing import DATA, check, json_bytes, mutated
from shipflow.errors import ShipflowError
from shipflow.oci import mediatypes as mt
from shipflow.oci._layout_index import LayoutIndex
from shipflow.oci.digest import Digest
from shipflow.oci.models import ImageConfig, ManifestBytes, WireError

BLOBS = DATA / "cosign" / "layout" / "blobs" / "sha256"
MANIFEST_SEEDS = [p.read_bytes() for p in sorted(BLOBS.iterdir()) if p.read_bytes().lstrip().startswith(b"{")]
INDEX_SEEDS = [
    (DATA / "cosign" / "layout" / "index.json").read_bytes(),
    b'{"schemaVersion":2,"manifests":null}',
]
VOCABULARY = [
    "schemaVersion",
    "mediaType",
    "config",
    "layers",
    "manifests",
    "digest",
    "size",
    "annotations",
    "platform",
    "architecture",
    "os",
    "variant",
    "os.features",
    "subject",
    "artifactType",
    "urls",
    "org.opencontainers.image.ref.name",
    mt.OCI_MANIFEST,
    mt.OCI_INDEX,
    mt.DOCKER_MANIFEST,
    mt.OCI_LAYER_GZIP,
]
MEDIA_TYPES = st.none() | st.sampled_from(
    [mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST, "x/y"]
)


def _parse_manifest(data: bytes, media_type: str | None) -> object:
    manifest = ManifestBytes.create(data, media_type)
    parsed = manifest.parse()
    parsed.to_json_bytes()  # what a copy re-serialises for the models it builds
    return parsed


@given(mutated(MANIFEST_SEEDS) | json_bytes(VOCABULARY), MEDIA_TYPES)
def test_fuzz_manifest_and_index(data: bytes, media_type: str | None) -> None:
    check("manifest/index (ManifestBytes)", _parse_manifest, data, media_type, size=len(data))


@given(mutated(INDEX_SEEDS) | json_bytes(VOCABULARY))
def test_fuzz_layout_index_json(data: bytes) -> None:
    index = check("layout index.json", LayoutIndex.parse, data, "index.json", size=len(data))
    if index is not None:
        LayoutIndex.parse(index.to_bytes(), "index.json")  # what shipflow writes back, it reads


DEEP = b'{"manifests":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
JUST_DEEP_ENOUGH = b'{"manifests":' + b"[" * 1_000 + b"]" * 1_000 + b"}"  # the old RecursionError


@pytest.mark.parametrize("data", [DEEP, JUST_DEEP_ENOUGH], ids=["100000-levels", "1000-levels"])
@pytest.mark.parametrize(
    ("parse", "message"),
    [
        (lambda d: ManifestBytes.create(d), "manifest is nested more than 128 levels deep"),
        (
            lambda d: ManifestBytes(d, mt.OCI_INDEX, Digest.of(d)).parse(),
            "is malformed: nested more than 128 levels deep",
        ),
        (lambda d: LayoutIndex.parse(d, "index.json"), "index.json is nested more than 128 levels deep"),
        (lambda d: ImageConfig.from_json(d), "nested more than 128 levels deep"),
    ],
    ids=["ManifestBytes.create", "ManifestBytes.parse", "LayoutIndex.parse", "ImageConfig.from_json"],
)
def test_deep_oci_documents_are_refused_cleanly(parse: Any, message: str, data: bytes) -> None:
    with pytest.raises((ShipflowError, WireError)) as refused:
        parse(data)
    assert message in str(refused.value)


def test_a_real_depth_still_parses() -> None:
    """128 levels (the limit) is a document, not an attack: parsed, not refused."""
    nested = b"[" * 126 + b"]" * 126
    data = b'{"schemaVersion":2,"manifests":[],"annotations":{},"x":' + nested + b"}"
    index = LayoutIndex.parse(data, "index.json")
    assert index.to_bytes().count(b"[") == 127
