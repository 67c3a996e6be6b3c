"""shipflow writes purl strings itself (sbom/_purls.py; packageurl-python cost 134 µs a purl,
a quarter of a small image's catalog). On every image of the corpus (dpkg, apk, rpm, npm, PyPI,
Go, Java, pnpm, yarn), each purl must be the string packageurl-python — the purl spec's
reference library for Python — builds from the same components."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fixtures.images import BuiltImage
from shipflow.oci.layout import LayoutStore
from shipflow.sbom import catalog_image
from support.corpus import CORPUS
from support.purls import assert_same_as_library, recorded


@pytest.mark.parametrize("image_name", [entry.name for entry in CORPUS])
def test_corpus_purls_are_packageurl_pythons(
    image_name: str, corpus_images: Callable[[str], BuiltImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    image = corpus_images(image_name)
    with recorded(monkeypatch) as calls:
        inventory = catalog_image(LayoutStore(image.layout_path), image.tag)
    assert inventory.packages
    assert_same_as_library(calls)
    assert {p.purl for p in inventory.packages} <= {call[-1] for call in calls}
