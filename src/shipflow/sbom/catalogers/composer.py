"""``composer.lock`` (PHP): JSON with ``packages`` and ``packages-dev`` arrays of
``{"name": "vendor/package", "version": "v1.2.3", "license": [...], …}``.

Versions are kept as written (``v6.4.1``, ``1.2.3``, ``dev-main``): Packagist advisories are
matched with Composer's own version rules, which accept the ``v``. ``packages-dev`` are the
project's ``require-dev`` and what only they pull in.
"""

from __future__ import annotations

import posixpath

from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.lockfiles import in_dependency_dir
from shipflow.sbom.catalogers.packages import composer_package
from shipflow.sbom.catalogers.parsing import Unreadable, load_json_object
from shipflow.sbom.model import Distro, Location, Package
from shipflow.sbom.source import FileSource


def _licenses(entry: dict[str, object]) -> tuple[str, ...]:
    value = entry.get("license")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(v.strip() for v in value if isinstance(v, str) and v.strip())


def parse_composer_lock(data: bytes, location: Location, *, include_dev: bool) -> list[Package]:
    doc = load_json_object(data)
    if not isinstance(doc.get("packages"), list):
        raise Unreadable("no 'packages' array")
    packages: list[Package] = []
    for section, dev in (("packages", False), ("packages-dev", True)):
        entries = doc.get(section)
        if (dev and not include_dev) or not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            name, version = entry.get("name"), entry.get("version")
            if not isinstance(name, str) or "/" not in name or not isinstance(version, str) or not version:
                continue
            packages.append(composer_package(name, version, location, _licenses(entry), dev=dev))
    return packages


class ComposerLockCataloger:
    name = "composer-lock"
    wanted_names = frozenset({"composer.lock"})

    def __init__(self, *, include_dev: bool = True) -> None:
        self.include_dev = include_dev

    def wants(self, path: str) -> bool:
        return posixpath.basename(path) == "composer.lock" and not in_dependency_dir(path)

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        for found in source.find(self.wants):
            try:
                result.packages.extend(
                    parse_composer_lock(found.data, found.location, include_dev=self.include_dev)
                )
            except Unreadable as exc:
                result.skip(found.location, self.name, str(exc))
        return result
