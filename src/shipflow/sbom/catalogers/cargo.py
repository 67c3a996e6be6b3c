"""``Cargo.lock`` (Rust): TOML ``[[package]]`` tables with ``name``, ``version`` and ``source``.

Packages without a ``source`` are the workspace's own crates (path dependencies): the project,
not a dependency. Crates from a registry (``registry+…`` or ``sparse+…`` sources: crates.io or
another registry) are cataloged; ``git+…`` sources are not published versions advisories
could name, and are skipped. Cargo.lock does not mark dev-dependencies (they are locked like
the others), so none is marked.
"""

from __future__ import annotations

import logging
import posixpath

from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.lockfiles import in_dependency_dir
from shipflow.sbom.catalogers.packages import cargo_package
from shipflow.sbom.catalogers.parsing import Unreadable, load_toml
from shipflow.sbom.model import Distro, Location, Package
from shipflow.sbom.source import FileSource

log = logging.getLogger(__name__)

_REGISTRY_SOURCES = ("registry+", "sparse+")


def parse_cargo_lock(data: bytes, location: Location) -> list[Package]:
    doc = load_toml(data)
    entries = doc.get("package", [])
    if not isinstance(entries, list):
        raise Unreadable("'package' is not an array of tables")
    version = doc.get("version")
    if isinstance(version, int) and version > 4:
        log.info(
            "%s: Cargo.lock version %d is newer than shipflow knows; read as version 4",
            location.path,
            version,
        )
    packages: list[Package] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name, crate_version, source = entry.get("name"), entry.get("version"), entry.get("source")
        if not isinstance(name, str) or not isinstance(crate_version, str) or not name or not crate_version:
            continue
        if not isinstance(source, str):
            continue  # a workspace member
        if not source.startswith(_REGISTRY_SOURCES):
            log.debug("%s: %s %s comes from %s; skipped", location.path, name, crate_version, source)
            continue
        packages.append(cargo_package(name, crate_version, location))
    return packages


class CargoLockCataloger:
    name = "cargo-lock"
    wanted_names = frozenset({"Cargo.lock"})

    def wants(self, path: str) -> bool:
        return posixpath.basename(path) == "Cargo.lock" and not in_dependency_dir(path)

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        for found in source.find(self.wants):
            try:
                result.packages.extend(parse_cargo_lock(found.data, found.location))
            except Unreadable as exc:
                result.skip(found.location, self.name, str(exc))
        return result
