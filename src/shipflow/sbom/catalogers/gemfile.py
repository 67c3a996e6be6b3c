"""``Gemfile.lock`` (Bundler): sections ``GEM``, ``GIT``, ``PATH``, ``PLATFORMS``,
``DEPENDENCIES``, ``BUNDLED WITH``…; each source section has ``specs:`` with one resolved gem
per line at four spaces (``name (version)`` or ``name (version-platform)``) and its
dependency constraints at six.

Gems of ``GEM`` sections come from a gem server (rubygems.org or a mirror) and are
cataloged, with the platform as the purl's ``platform`` qualifier. ``GIT`` and ``PATH``
gems are not releases advisories could name, and are skipped. The lock file does not say
which Bundler groups a gem belongs to (the Gemfile does), so none is marked dev.
"""

from __future__ import annotations

import logging
import posixpath
import re

from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.lockfiles import in_dependency_dir
from shipflow.sbom.catalogers.packages import gem_package
from shipflow.sbom.catalogers.parsing import Unreadable, text
from shipflow.sbom.model import Distro, Location, Package
from shipflow.sbom.source import FileSource

log = logging.getLogger(__name__)

# Bundler's own rule: the version stops at the first "-"; what follows is the platform.
_SPEC = re.compile(r"^ {4}(?! )(?P<name>[^ ()]+) \((?P<version>[^-)]+)(?:-(?P<platform>[^)]+))?\)!?$")
_SECTION = re.compile(r"^[A-Z][A-Z ]*$")


def parse_gemfile_lock(data: bytes, location: Location) -> list[Package]:
    packages: list[Package] = []
    section: str | None = None
    in_specs = False
    sections_seen = 0
    for line in text(data).splitlines():
        if not line.strip():
            continue
        if _SECTION.match(line):
            section, in_specs = line.strip(), False
            sections_seen += 1
            continue
        if line == "  specs:":
            in_specs = True
            continue
        if not in_specs or section not in ("GEM", "GIT", "PATH", "PLUGIN SOURCE"):
            continue
        match = _SPEC.match(line)
        if match is None:
            continue  # a dependency constraint (six spaces) or a section attribute
        if section != "GEM":
            log.debug("%s: %s from a %s section; skipped", location.path, match["name"], section)
            continue
        packages.append(gem_package(match["name"], match["version"], location, match["platform"]))
    if not sections_seen and data.strip():
        raise Unreadable("no GEM/GIT/PATH/PLATFORMS sections: not a Gemfile.lock")
    return packages


class GemfileLockCataloger:
    name = "gemfile-lock"
    wanted_names = frozenset({"Gemfile.lock", "gems.locked"})

    def wants(self, path: str) -> bool:
        return posixpath.basename(path) in ("Gemfile.lock", "gems.locked") and not in_dependency_dir(path)

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        for found in source.find(self.wants):
            try:
                result.packages.extend(parse_gemfile_lock(found.data, found.location))
            except Unreadable as exc:
                result.skip(found.location, self.name, str(exc))
        return result
