"""Run catalogers over a file source and merge what they find into one Inventory."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from shipflow.errors import UsageError
from shipflow.sbom.catalogers import Cataloger, directory_catalogers, osrelease
from shipflow.sbom.model import Inventory, Location, NotRead, Package
from shipflow.sbom.source import DirectorySource, FileSource, Reducer, Wants

log = logging.getLogger(__name__)


def combined_wants(catalogers: Sequence[Cataloger]) -> Wants:
    """One predicate for the layer reader: the OS release files plus every cataloger's.

    It runs for every regular file of every layer, so catalogers that declare
    ``wanted_names`` are asked only about paths ending in one of those names (one dict
    look-up per path instead of a call per cataloger: 15-20 ms less on a 1,200-file image)."""
    by_name: dict[str, list[Wants]] = {}
    always: list[Wants] = []
    hinted: list[tuple[Wants, frozenset[str] | None]] = [(osrelease.wants, osrelease.WANTED_NAMES)]
    hinted += [(c.wants, getattr(c, "wanted_names", None)) for c in catalogers]
    for check, names in hinted:
        if names is None:
            always.append(check)
            continue
        for name in names:
            by_name.setdefault(name, []).append(check)

    def wants(path: str) -> bool:
        for check in by_name.get(path[path.rfind("/") + 1 :], ()):
            if check(path):
                return True
        for check in always:  # noqa: SIM110  (a loop: cheaper per path than any() over a generator)
            if check(path):
                return True
        return False

    return wants


def reducers_of(catalogers: Sequence[Cataloger]) -> list[Reducer]:
    """The catalogers that read big files through a :class:`Reducer` (Go binaries, jars)."""
    return [c for c in catalogers if isinstance(c, Reducer)]


def _location_key(location: Location) -> tuple[str, str]:
    return (location.path, location.layer or "")


def merge_by_purl(packages: Iterable[Package]) -> list[Package]:
    """One package per purl, with every place it was found (the same npm package is often
    installed at several nesting levels; a lock file and node_modules name it twice). A
    package is a dev dependency only if every record of it says so."""
    merged: dict[str, Package] = {}
    for package in packages:
        seen = merged.get(package.purl)
        if seen is None:
            merged[package.purl] = package
            continue
        locations = tuple(sorted(set(seen.locations) | set(package.locations), key=_location_key))
        merged[package.purl] = replace(
            seen,
            locations=locations,
            licenses=seen.licenses or package.licenses,
            dev=seen.dev and package.dev,
        )
    return sorted(merged.values(), key=lambda p: p.sort_key)


def catalog_source(
    source: FileSource, catalogers: Sequence[Cataloger], *, subject: str, subject_digest: str | None = None
) -> Inventory:
    distro = osrelease.find_distro(source)
    found: list[Package] = []
    not_read: list[NotRead] = []
    for cataloger in catalogers:
        result = cataloger.catalog(source, distro)
        log.info(
            "%s: %d packages, %d files not read", cataloger.name, len(result.packages), len(result.not_read)
        )
        for skipped in result.not_read:
            log.warning("not read: %s: %s", skipped.location.path, skipped.reason)
        found.extend(result.packages)
        not_read.extend(result.not_read)
    return Inventory(
        subject=subject,
        subject_digest=subject_digest,
        distro=distro,
        packages=merge_by_purl(found),
        not_read=sorted(set(not_read), key=lambda n: n.sort_key),
    )


def catalog_directory(path: Path | str) -> Inventory:
    """Catalog a directory: lock files of a source tree (dev dependencies included and
    marked) and installed-package records (a checked-in ``node_modules``, a virtualenv, an
    unpacked root filesystem), Go executables and Java archives alike."""
    root = Path(path)
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory", hint="pass a directory, or an image reference")
    catalogers = directory_catalogers()
    source = DirectorySource(root, combined_wants(catalogers), reducers=reducers_of(catalogers))
    return catalog_source(source, catalogers, subject=str(root))
