"""``Pipfile.lock`` (pipenv): JSON with ``default`` (the application's packages) and ``develop``
(``[dev-packages]``) maps of name to ``{"version": "==1.2.3", "hashes": […], …}``.

Entries without a ``version`` come from a git repository, a local path or a URL (``git``,
``path``, ``file`` keys): they are not index releases advisories could name, and are skipped.
A package in both sections is a production one.
"""

from __future__ import annotations

import logging
import posixpath

from shipflow.sbom._purls import normalise_pypi_name
from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.lockfiles import in_dependency_dir
from shipflow.sbom.catalogers.packages import pypi_package
from shipflow.sbom.catalogers.parsing import Unreadable, load_json_object, mapping
from shipflow.sbom.model import Distro, Location, Package
from shipflow.sbom.source import FileSource

log = logging.getLogger(__name__)


def parse_pipfile_lock(data: bytes, location: Location, *, include_dev: bool) -> list[Package]:
    doc = load_json_object(data)
    if "default" not in doc and "develop" not in doc:
        raise Unreadable("neither a 'default' nor a 'develop' section")
    found: dict[str, Package] = {}
    for section, dev in (("default", False), ("develop", True)):
        if dev and not include_dev:
            continue
        for name, entry in mapping(doc.get(section)).items():
            version = mapping(entry).get("version")
            if not isinstance(version, str) or not version.startswith("=="):
                log.debug("%s: %s has no ==version (git, path or URL); skipped", location.path, name)
                continue
            key = normalise_pypi_name(name)
            if key in found:
                continue  # already listed by "default"
            found[key] = pypi_package(name, version.lstrip("="), location, dev=dev)
    return list(found.values())


class PipfileLockCataloger:
    name = "pipfile-lock"
    wanted_names = frozenset({"Pipfile.lock"})

    def __init__(self, *, include_dev: bool = True) -> None:
        self.include_dev = include_dev

    def wants(self, path: str) -> bool:
        return posixpath.basename(path) == "Pipfile.lock" and not in_dependency_dir(path)

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        for found in source.find(self.wants):
            try:
                result.packages.extend(
                    parse_pipfile_lock(found.data, found.location, include_dev=self.include_dev)
                )
            except Unreadable as exc:
                result.skip(found.location, self.name, str(exc))
        return result
