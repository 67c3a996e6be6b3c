"""The layer reader's combined ``wants`` asks a cataloger only about paths ending in one of its
``wanted_names`` (a speed-up: one dict look-up per file instead of a call per cataloger). It
must accept exactly the paths the catalogers' own ``wants`` accept."""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from shipflow.sbom.catalog import combined_wants
from shipflow.sbom.catalogers import Cataloger, directory_catalogers, image_catalogers, osrelease

DATA = Path(__file__).resolve().parents[2] / "data"

DIRECTORIES = (
    "",
    "app/",
    "srv/app/",
    "etc/",
    "usr/lib/",
    "var/lib/dpkg/",
    "var/lib/dpkg/status.d/",
    "usr/share/doc/libc6/",
    "usr/share/doc/libc6/x/",
    "var/lib/rpm/",
    "usr/lib/sysimage/rpm/",
    "lib/apk/db/",
    "opt/app/node_modules/lodash/",
    "opt/app/node_modules/@babel/core/",
    "opt/app/node_modules/a/node_modules/b/",
    "vendor/x/",
    "usr/lib/python3/dist-packages/six-1.16.0.dist-info/",
    "usr/lib/python3/dist-packages/six.egg-info/",
)
NAMES = sorted(
    {
        *itertools.chain.from_iterable(
            getattr(c, "wanted_names", None) or () for c in [*image_catalogers(), *directory_catalogers()]
        ),
        *osrelease.WANTED_NAMES,
        "METADATA",
        "PKG-INFO",
        "six.egg-info",
        "status",
        "copyright",
        "libc6.md5sums",
        "libc6",
        "requirements.txt",
        "requirements-dev.txt",
        "pylock.toml",
        "pylock.dev.toml",
        "app.jar",
        "README.md",
        "index.js",
    }
)


def _paths() -> list[str]:
    synthetic = [directory + name for directory, name in itertools.product(DIRECTORIES, NAMES)]
    data = [p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file()]
    return synthetic + data


def _plain(catalogers: list[Cataloger]) -> list[object]:
    return [osrelease.wants, *(c.wants for c in catalogers)]


def test_hints_name_every_file_their_cataloger_wants() -> None:
    for cataloger in [*image_catalogers(), *directory_catalogers()]:
        names = getattr(cataloger, "wanted_names", None)
        if names is None:
            continue
        for path in _paths():
            if cataloger.wants(path):
                assert path.rsplit("/", 1)[-1] in names, (cataloger.name, path)


def test_combined_wants_accepts_what_the_catalogers_accept() -> None:
    for catalogers in (image_catalogers(), directory_catalogers()):
        fast = combined_wants(catalogers)
        checks = [osrelease.wants, *(c.wants for c in catalogers)]
        accepted = 0
        for path in _paths():
            expected = any(check(path) for check in checks)
            assert fast(path) == expected, path
            accepted += expected
        assert accepted > 50  # the corpus does exercise the hints


_SEGMENT = st.sampled_from(
    ["", "a", "node_modules", "vendor", "@s", "var", "lib", "dpkg", "status.d", *NAMES]
)


@settings(max_examples=500, deadline=None, database=None)
@given(st.lists(_SEGMENT, min_size=1, max_size=6))
def test_combined_wants_on_generated_paths(segments: list[str]) -> None:
    path = "/".join(segments)
    catalogers = image_catalogers()
    checks = [osrelease.wants, *(c.wants for c in catalogers)]
    assert combined_wants(catalogers)(path) == any(check(path) for check in checks)
