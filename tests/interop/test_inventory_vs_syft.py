"""Syft as the reference inventory: on every image of the corpus (tests/support/corpus.py),
shipflow lists every (type, name, version) that Syft v1.57.1 lists, in the package types both
catalog; every remaining difference, either way, is an entry of :data:`EXPLAINED` with its
reason, and every entry must still be needed (a fixed difference fails the test until its entry
goes).

Names compare as both tools spell them, with three conventions lined up
(support.peers.package_key): Python names normalised (PEP 503: Syft keeps the METADATA spelling,
e.g. ``Jinja2``), Java archives by artifactId (Syft's name; shipflow's is groupId:artifactId),
Go's standard library version without its ``go``/``v`` prefix (Syft: go1.26.8, shipflow:
v1.26.8).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pytest

from fixtures.images import BuiltImage
from support.corpus import CORPUS
from support.peers import (
    SHIPFLOW_TO_SYFT_TYPE,
    PackageKey,
    peer_env,
    shipflow_packages,
    syft_document,
    syft_packages,
)

pytestmark = [pytest.mark.interop, pytest.mark.slow]

# Package types both catalog (Syft's names).
SHARED_TYPES = frozenset(SHIPFLOW_TO_SYFT_TYPE.values())
# What Syft finds that is not a package database or manifest shipflow reads, and why it is out
# of scope.
SYFT_ONLY_TYPES: dict[str, str] = {
    "binary": "Syft's binary classifier reads version strings out of executables (here the static "
    "busybox); shipflow catalogs package databases, manifests and Go build info, not strings in "
    "arbitrary binaries",
}


@dataclass(frozen=True)
class Explained:
    """A known, accepted difference: ``pattern`` (fnmatch on ``type:name@version``) on ``image``
    is listed only by ``side``."""

    image: str
    side: Literal["syft-only", "shipflow-only"]
    pattern: str
    reason: str

    def matches(self, key: PackageKey) -> bool:
        return fnmatch.fnmatchcase(str(key), self.pattern)


EXPLAINED: tuple[Explained, ...] = (
    Explained(
        "debian-app",
        "syft-only",
        "npm:sbom-fixture@1.0.0",
        'the application\'s own /opt/app/package.json ("private": true, next to node_modules): Syft '
        "lists the project itself as a package; shipflow lists what is installed under node_modules "
        "(the project is the image, the SBOM's subject, not one of its dependencies)",
    ),
    Explained(
        "debian-app",
        "shipflow-only",
        "npm:@babel/helper-validator-identifier@7.10.4",
        "a later layer deleted node_modules/@babel (a whiteout), but the project's package-lock.json "
        "copied into the image still names it. shipflow reads the lock files of projects copied into "
        "images (each package located at the lock file), Syft's image catalogers read installed "
        "package.json files only. On disk Syft is right; the lock file is what the project declares, "
        "and shipflow's SBOM says which file each entry comes from",
    ),
    Explained(
        "rocky-mix",
        "shipflow-only",
        "npm:*",
        "the image has no node_modules: its npm packages are those of the pnpm-lock.yaml (/srv/web) and "
        "yarn.lock (/srv/admin) of the two projects copied in, production dependencies only. shipflow "
        "reads lock files of projects in images; Syft reads lock files only when it scans a directory "
        "(its image catalogers are the installed-package ones), so it lists none of them",
    ),
    Explained(
        "rocky-mix",
        "syft-only",
        "npm:lockfile-fixture@1.0.0",
        "the projects' own package.json (the project itself, not a dependency; see debian-app)",
    ),
    Explained(
        "rocky-mix",
        "syft-only",
        "go-module:example.com/*@UNKNOWN",
        "the executable's main module (example.com/lockfile-fixture, built from a source tree: "
        'version "(devel)") and a module replaced by a local directory (example.com/local => '
        "./local) have no version; Syft lists them as UNKNOWN, shipflow lists no package without a "
        "version (nothing could match it)",
    ),
    Explained(
        "rocky-mix",
        "syft-only",
        "java-archive:shop@UNKNOWN",
        "shop.ear has no pom.properties and no version in its manifest; Syft lists it by file name "
        "with version UNKNOWN, shipflow lists only archives with a version (the war inside it, "
        "com.example:shop 3.0.0, is listed by both)",
    ),
    Explained(
        "rocky-mix",
        "syft-only",
        "java-archive:function@1.2.0",
        "the manifest-only OSGi bundle org.osgi.util.function-1.2.0.jar (no pom.properties): Syft "
        "names it from the file name's last dotted part, shipflow from its Bundle-SymbolicName "
        "(org.osgi.util.function, the name the bundle declares — shipflow is right); same version",
    ),
    Explained(
        "rocky-mix",
        "shipflow-only",
        "java-archive:org.osgi.util.function@1.2.0",
        "the same bundle under its Bundle-SymbolicName (see the Syft-only entry above)",
    ),
)


@pytest.mark.parametrize("image_name", [entry.name for entry in CORPUS])
def test_shipflow_lists_every_package_syft_lists(
    image_name: str, corpus_images: Callable[[str], BuiltImage], syft_bin: str
) -> None:
    image = corpus_images(image_name)
    document = syft_document(syft_bin, image.layout_path, peer_env())
    syft_all = syft_packages(document)
    ours, unmapped = shipflow_packages(image.layout_path, image.tag)
    assert not unmapped, f"shipflow package types without a Syft name in SHIPFLOW_TO_SYFT_TYPE: {unmapped}"

    unknown_types = {k.type for k in syft_all} - SHARED_TYPES - set(SYFT_ONLY_TYPES)
    assert not unknown_types, f"Syft found package types this comparison does not place: {unknown_types}"
    syft_shared = {k for k in syft_all if k.type in SHARED_TYPES}

    explained = [e for e in EXPLAINED if e.image == image_name]
    differences = {
        "syft-only": sorted(syft_shared - ours),
        "shipflow-only": sorted(ours - syft_shared),
    }
    unexplained = {
        side: [str(k) for k in keys if not any(e.side == side and e.matches(k) for e in explained)]
        for side, keys in differences.items()
    }
    assert unexplained == {"syft-only": [], "shipflow-only": []}, (
        "differences to Syft without an explanation in EXPLAINED"
    )
    stale = [e.pattern for e in explained if not any(e.matches(k) for k in differences[e.side])]
    assert not stale, f"EXPLAINED entries that no longer match a difference (remove them): {stale}"
    # Not vacuous: most of what Syft lists, both list.
    assert len(syft_shared & ours) >= len(syft_shared) / 2 > 0
