"""Lock files of npm and Python projects (source trees, and the project copied into an image).

* ``package-lock.json`` (and ``npm-shrinkwrap.json``): v1 nests ``dependencies``; v2/v3 list
  ``packages`` keyed by install path (``node_modules/a/node_modules/b``). The root entry
  (``""``), workspace links and non-registry versions (git, file, URL) are skipped. npm marks
  dev-only packages ``dev: true`` (``devOptional`` ones are installed in production when the
  platform allows, so they are not dev).
* ``requirements*.txt``: only exact pins (``name==1.2.3``, ``===``) name a version; the other
  requirements (ranges, URLs) have no version to match advisories against, so they are
  skipped and named in one "not read" warning per file. ``-r``/``-c``/option lines are
  ignored: included files are cataloged on their own when they follow the naming.
* ``poetry.lock`` and ``uv.lock``: TOML ``[[package]]`` tables; the project itself (uv
  ``editable``/``virtual`` source) is skipped. Poetry marks groups per package (``groups =
  ["dev"]``; older locks ``category = "dev"``); uv records the project's
  ``dev-dependencies``, and what only they pull in is dev.

A dev-only package is listed (and marked) when the catalogers run with ``include_dev``
(source trees) and left out otherwise (images, where the production install left it out).
"""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Iterator
from typing import Any

from shipflow.sbom._purls import normalise_pypi_name
from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.packages import npm_package, pypi_package
from shipflow.sbom.catalogers.parsing import (
    Unreadable,
    dev_only,
    load_json_object,
    load_toml,
    mapping,
    text,
)
from shipflow.sbom.model import Distro, Location, Package
from shipflow.sbom.source import FileSource

log = logging.getLogger(__name__)

NPM_LOCKS = frozenset({"package-lock.json", "npm-shrinkwrap.json"})
_REQUIREMENTS = re.compile(r"^requirements[^/]*\.txt$")
# A registry version; git/file/URL/alias specs contain ':' or '/'.
_PLAIN_VERSION = re.compile(r"^[^:/\s]+$")
# Unpinned requirements named in a warning; the rest are counted.
_NAMED_UNPINNED = 5


def in_dependency_dir(path: str) -> bool:
    """Inside an installed-dependency tree (``node_modules``, PHP/Go ``vendor``, the Go module
    cache): a lock file there belongs to a dependency's own development, not to the project."""
    parts = path.split("/")
    if "node_modules" in parts[:-1] or "vendor" in parts[:-1]:
        return True
    return "/pkg/mod/" in f"/{path}"


def parse_package_lock(doc: dict[str, Any], location: Location, *, include_dev: bool) -> list[Package]:
    """The packages of a parsed package-lock.json; raises Unreadable for a shape npm never
    writes."""
    packages = doc.get("packages")
    if isinstance(packages, dict):  # lockfileVersion 2 and 3
        return list(_v2_packages(packages, location, include_dev))
    version = doc.get("lockfileVersion", 1)
    if version not in (1, None):
        raise Unreadable(f"lockfileVersion {version!r} without a 'packages' object")
    return list(_v1_dependencies(doc.get("dependencies"), location, include_dev))


def _v2_packages(packages: dict[str, Any], location: Location, include_dev: bool) -> Iterator[Package]:
    for install_path, entry in packages.items():
        if "node_modules/" not in install_path or not isinstance(entry, dict) or entry.get("link"):
            continue  # the root project, workspace members and links are not dependencies
        name = entry.get("name")
        if not isinstance(name, str):
            _, sep, tail = install_path.rpartition("node_modules/")
            name = tail if sep else None
        version = entry.get("version")
        dev = entry.get("dev") is True
        if dev and not include_dev:
            continue
        if isinstance(name, str) and isinstance(version, str) and _PLAIN_VERSION.match(version):
            yield npm_package(name, version, location, dev=dev)


def _v1_dependencies(deps: Any, location: Location, include_dev: bool) -> Iterator[Package]:
    todo = [deps]
    while todo:  # iteratively: a hostile lock file can nest without end
        current = todo.pop()
        if not isinstance(current, dict):
            continue
        for name, entry in current.items():
            if not isinstance(entry, dict):
                continue
            dev = entry.get("dev") is True
            version = entry.get("version")
            if (include_dev or not dev) and isinstance(version, str) and _PLAIN_VERSION.match(version):
                yield npm_package(name, version, location, dev=dev)
            todo.append(entry.get("dependencies"))


class NpmLockCataloger:
    name = "npm-lock"
    wanted_names = NPM_LOCKS

    def __init__(self, *, include_dev: bool = True) -> None:
        self.include_dev = include_dev

    def wants(self, path: str) -> bool:
        return posixpath.basename(path) in NPM_LOCKS and not in_dependency_dir(path)

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        for found in source.find(self.wants):
            try:
                doc = load_json_object(found.data)
                result.packages.extend(parse_package_lock(doc, found.location, include_dev=self.include_dev))
            except Unreadable as exc:
                result.skip(found.location, self.name, str(exc))
        return result


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
    # Imported here: packaging.requirements costs 30-40 ms of start-up (python -X importtime),
    # and only a requirements file needs it.
    from packaging.requirements import InvalidRequirement, Requirement

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


def unpinned_reason(unpinned: list[str]) -> str:
    named = ", ".join(repr(line[:60]) for line in unpinned[:_NAMED_UNPINNED])
    more = f" and {len(unpinned) - _NAMED_UNPINNED} more" if len(unpinned) > _NAMED_UNPINNED else ""
    return f"{len(unpinned)} requirement(s) not pinned with == (no version to match): {named}{more}"


class RequirementsCataloger:
    name = "requirements"

    def wants(self, path: str) -> bool:
        return _REQUIREMENTS.match(posixpath.basename(path)) is not None

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        for found in source.find(self.wants):
            try:
                pinned, unpinned = parse_requirements(text(found.data))
            except Unreadable as exc:
                result.skip(found.location, self.name, str(exc))
                continue
            if unpinned:
                result.skip(found.location, self.name, unpinned_reason(unpinned))
            result.packages.extend(pypi_package(name, version, found.location) for name, version in pinned)
        return result


def _is_project(entry: dict[str, Any]) -> bool:
    origin = entry.get("source")
    return isinstance(origin, dict) and ("editable" in origin or "virtual" in origin)


def _poetry_dev(entry: dict[str, Any]) -> bool:
    groups = entry.get("groups")
    if isinstance(groups, list) and groups:
        return "main" not in groups
    return entry.get("category") == "dev"


def _uv_key(dep: Any) -> tuple[str, str | None] | None:
    if not isinstance(dep, dict) or not isinstance(dep.get("name"), str):
        return None
    version = dep.get("version")
    return normalise_pypi_name(dep["name"]), version if isinstance(version, str) else None


def _uv_dev(entries: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(name, version) of packages only the projects' dev-dependencies pull in."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_name.setdefault(normalise_pypi_name(str(entry.get("name"))), []).append(entry)

    def resolve(key: tuple[str, str | None]) -> Iterator[tuple[str, str]]:
        name, version = key
        for entry in by_name.get(name, ()):
            if version is None or entry.get("version") == version:
                yield name, str(entry.get("version"))

    def edges(node: tuple[str, str]) -> Iterator[tuple[str, str]]:
        for entry in by_name.get(node[0], ()):
            if str(entry.get("version")) != node[1]:
                continue
            deps = list(entry.get("dependencies") or ())
            for extra_deps in mapping(entry.get("optional-dependencies")).values():
                deps.extend(extra_deps if isinstance(extra_deps, list) else ())
            for dep in deps:
                key = _uv_key(dep)
                if key is not None:
                    yield from resolve(key)

    prod_roots: list[tuple[str, str]] = []
    dev_roots: list[tuple[str, str]] = []
    for entry in entries:
        if not _is_project(entry):
            continue
        prod_roots.append((normalise_pypi_name(str(entry.get("name"))), str(entry.get("version"))))
        for group in mapping(entry.get("dev-dependencies")).values():
            for dep in group if isinstance(group, list) else ():
                key = _uv_key(dep)
                if key is not None:
                    dev_roots.extend(resolve(key))
    return dev_only(prod_roots, dev_roots, edges)


class PythonLockCataloger:
    """``poetry.lock`` and ``uv.lock``: both list ``[[package]]`` with name and version."""

    name = "python-lock"
    wanted_names = frozenset({"poetry.lock", "uv.lock"})

    def __init__(self, *, include_dev: bool = True) -> None:
        self.include_dev = include_dev

    def wants(self, path: str) -> bool:
        return posixpath.basename(path) in ("poetry.lock", "uv.lock")

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        for found in source.find(self.wants):
            try:
                doc = load_toml(found.data)
            except Unreadable as exc:
                result.skip(found.location, self.name, str(exc))
                continue
            entries = doc.get("package", [])
            if not isinstance(entries, list):
                result.skip(found.location, self.name, "'package' is not an array of tables")
                continue
            tables = [e for e in entries if isinstance(e, dict)]
            is_uv = posixpath.basename(found.path) == "uv.lock"
            uv_dev = _uv_dev(tables) if is_uv else set()
            for entry in tables:
                name, version = entry.get("name"), entry.get("version")
                if _is_project(entry):
                    continue  # the project being locked, not a dependency
                if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
                    continue
                dev = (normalise_pypi_name(name), version) in uv_dev if is_uv else _poetry_dev(entry)
                if dev and not self.include_dev:
                    continue
                result.packages.append(pypi_package(name, version, found.location, dev=dev))
        return result
