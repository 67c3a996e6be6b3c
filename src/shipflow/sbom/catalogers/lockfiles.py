"""Source-tree catalogers: dependency lock files (what CI's filesystem scan reads).

* ``package-lock.json`` (and ``npm-shrinkwrap.json``): v1 nests ``dependencies``; v2/v3 list
  ``packages`` keyed by install path (``node_modules/a/node_modules/b``). The root entry
  (``""``), workspace links and non-registry versions (git, file, URL) are skipped.
* ``requirements*.txt``: only exact pins (``name==1.2.3``, ``===``) name a version; unpinned
  or ranged requirements are skipped (no version to match advisories against) and logged.
  ``-r``/``-c``/option lines are ignored: included files are cataloged on their own when they
  follow the ``requirements*.txt`` naming.
* ``poetry.lock`` and ``uv.lock``: TOML ``[[package]]`` tables; the project itself
  (uv ``editable``/``virtual`` source) is skipped.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
import tomllib
from collections.abc import Iterator
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from shipflow.sbom.catalogers.packages import npm_package, pypi_package
from shipflow.sbom.model import Distro, Location, Package
from shipflow.sbom.source import FileSource

log = logging.getLogger(__name__)

NPM_LOCKS = frozenset({"package-lock.json", "npm-shrinkwrap.json"})
_REQUIREMENTS = re.compile(r"^requirements[^/]*\.txt$")
# A registry version; git/file/URL/alias specs contain ':' or '/'.
_PLAIN_VERSION = re.compile(r"^[^:/\s]+$")


def _in_node_modules(path: str) -> bool:
    return "node_modules/" in path or path.startswith("node_modules")


def parse_package_lock(doc: dict[str, Any], location: Location) -> Iterator[Package]:
    packages = doc.get("packages")
    if isinstance(packages, dict):  # lockfileVersion 2 and 3
        for install_path, entry in packages.items():
            if "node_modules/" not in install_path or not isinstance(entry, dict) or entry.get("link"):
                continue  # the root project, workspace members and links are not dependencies
            name = entry.get("name")
            if not isinstance(name, str):
                _, sep, tail = install_path.rpartition("node_modules/")
                name = tail if sep else None
            version = entry.get("version")
            if isinstance(name, str) and isinstance(version, str) and _PLAIN_VERSION.match(version):
                yield npm_package(name, version, location)
        return
    yield from _v1_dependencies(doc.get("dependencies"), location)  # lockfileVersion 1


def _v1_dependencies(deps: Any, location: Location) -> Iterator[Package]:
    if not isinstance(deps, dict):
        return
    for name, entry in deps.items():
        if not isinstance(entry, dict):
            continue
        version = entry.get("version")
        if isinstance(version, str) and _PLAIN_VERSION.match(version):
            yield npm_package(name, version, location)
        yield from _v1_dependencies(entry.get("dependencies"), location)


class NpmLockCataloger:
    name = "npm-lock"

    def wants(self, path: str) -> bool:
        return posixpath.basename(path) in NPM_LOCKS and not _in_node_modules(path)

    def catalog(self, source: FileSource, distro: Distro | None) -> list[Package]:
        found_packages: list[Package] = []
        for found in source.find(self.wants):
            try:
                doc = json.loads(found.data)
            except (ValueError, UnicodeDecodeError):
                log.warning("%s is not valid JSON; skipped", found.location.path)
                continue
            if isinstance(doc, dict):
                found_packages.extend(parse_package_lock(doc, found.location))
        return found_packages


def _logical_lines(text: str) -> Iterator[str]:
    """Lines with ``\\`` continuations joined and comments removed."""
    pending = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0] if " #" in raw else raw
        if line.lstrip().startswith("#"):
            line = ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield (pending + line).strip()
        pending = ""
    if pending.strip():
        yield pending.strip()


def parse_requirements(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """``(pinned (name, version) pairs, unpinned requirement lines)``."""
    pinned: list[tuple[str, str]] = []
    unpinned: list[str] = []
    for line in _logical_lines(text):
        if not line or line.startswith("-"):
            continue
        requirement_text = line.split(" --", 1)[0].strip()  # per-line options such as --hash
        try:
            requirement = Requirement(requirement_text)
        except InvalidRequirement:
            unpinned.append(line)
            continue
        specifiers = list(requirement.specifier)
        if (
            len(specifiers) == 1
            and specifiers[0].operator in ("==", "===")
            and "*" not in specifiers[0].version
            and requirement.url is None
        ):
            pinned.append((requirement.name, specifiers[0].version))
        else:
            unpinned.append(line)
    return pinned, unpinned


class RequirementsCataloger:
    name = "requirements"

    def wants(self, path: str) -> bool:
        return _REQUIREMENTS.match(posixpath.basename(path)) is not None

    def catalog(self, source: FileSource, distro: Distro | None) -> list[Package]:
        packages: list[Package] = []
        for found in source.find(self.wants):
            pinned, unpinned = parse_requirements(found.data.decode("utf-8", "replace"))
            for line in unpinned:
                log.info("%s: not pinned with ==, skipped: %s", found.location.path, line)
            packages.extend(pypi_package(name, version, found.location) for name, version in pinned)
        return packages


def _toml(data: bytes, where: str) -> dict[str, Any] | None:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        log.warning("%s is not valid TOML (%s); skipped", where, exc)
        return None


class PythonLockCataloger:
    """``poetry.lock`` and ``uv.lock``: both list ``[[package]]`` with name and version."""

    name = "python-lock"

    def wants(self, path: str) -> bool:
        return posixpath.basename(path) in ("poetry.lock", "uv.lock")

    def catalog(self, source: FileSource, distro: Distro | None) -> list[Package]:
        packages: list[Package] = []
        for found in source.find(self.wants):
            doc = _toml(found.data, found.location.path)
            entries = doc.get("package") if doc else None
            if not isinstance(entries, list):
                continue
            for entry in entries:
                if not isinstance(entry, dict):
                    continue
                name, version = entry.get("name"), entry.get("version")
                origin = entry.get("source")
                if isinstance(origin, dict) and ("editable" in origin or "virtual" in origin):
                    continue  # the project being locked, not a dependency
                if isinstance(name, str) and isinstance(version, str) and name and version:
                    packages.append(pypi_package(name, version, found.location))
        return packages
