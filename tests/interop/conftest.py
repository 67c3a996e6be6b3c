"""Fixtures of the peer comparisons: the image corpus (tests/support/corpus.py), built once a
session by the real ``image_builder``, and looked up by name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.images import BuiltImage, ImageBuilder
from support.corpus import corpus_image


@pytest.fixture(scope="session")
def corpus_images(
    image_builder: ImageBuilder, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], BuiltImage]:
    """``corpus_images("debian-app")`` -> the built image (built on first use, then cached)."""
    built: dict[str, BuiltImage] = {}
    workdir: Path = tmp_path_factory.mktemp("corpus")

    def get(name: str) -> BuiltImage:
        if name not in built:
            entry = corpus_image(name)
            built[name] = entry.build(image_builder, workdir / name)
        return built[name]

    return get
