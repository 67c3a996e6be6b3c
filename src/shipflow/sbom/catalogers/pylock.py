"""``pylock.toml`` and ``pylock.NAME.toml`` (PEP 751, the standard Python lock file).

``[[packages]]`` tables hold ``name`` and ``version`` (required for packages from an index;
absent for ``vcs``, ``directory`` and ``archive`` sources, which are skipped). A
``lock-version`` whose major is not 1 must not be read (PEP 751 says so).

Dependency groups: a lock file lists the groups it can install (``dependency-groups``) and
those installed by default (``default-groups``), and a package that belongs only to other
groups says so in its ``marker`` (``"dev" in dependency_groups``). A package whose marker
cannot be true when only the default groups are installed is a dev dependency. The marker is
evaluated in three-valued logic: the group terms are known, every other term (platform,
Python version, extras) is unknown, so a package is dev only when its marker is false
whatever those turn out to be.
"""

from __future__ import annotations

import logging
import posixpath
import re
from typing import Any

from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.lockfiles import in_dependency_dir
from shipflow.sbom.catalogers.packages import pypi_package
from shipflow.sbom.catalogers.parsing import Unreadable, load_toml
from shipflow.sbom.model import Distro, Location, Package
from shipflow.sbom.source import FileSource

log = logging.getLogger(__name__)

_FILE_NAME = re.compile(r"^pylock\.(?:[^.]+\.)?toml$")
_TOKEN = re.compile(
    r"""\s*(?:(?P<open>\()|(?P<close>\))|(?P<string>'[^']*'|"[^"]*")|(?P<word>[A-Za-z_.]+|===|[<>=!~]=?))"""
)
MAX_MARKER_LENGTH = 10_000

# Three-valued truth: True, False, or None (unknown).
Truth = bool | None


def _tokens(marker: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    while pos < len(marker):
        if marker[pos:].strip() == "":
            break
        match = _TOKEN.match(marker, pos)
        if match is None:
            raise ValueError(f"unexpected text in marker at {pos}: {marker[pos : pos + 20]!r}")
        tokens.append(match.group().strip())
        pos = match.end()
    return tokens


class _MarkerEvaluator:
    """A recursive-descent evaluator of PEP 508 markers over the group terms only."""

    def __init__(self, tokens: list[str], groups: frozenset[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.groups = groups

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise ValueError("marker ends early")
        self.pos += 1
        return token

    def evaluate(self) -> Truth:
        value = self._or()
        if self._peek() is not None:
            raise ValueError(f"unexpected {self._peek()!r} in marker")
        return value

    def _or(self) -> Truth:
        value = self._and()
        while self._peek() == "or":
            self._take()
            right = self._and()
            value = True if value is True or right is True else (None if None in (value, right) else False)
        return value

    def _and(self) -> Truth:
        value = self._atom()
        while self._peek() == "and":
            self._take()
            right = self._atom()
            value = False if value is False or right is False else (None if None in (value, right) else True)
        return value

    def _atom(self) -> Truth:
        if self._peek() == "(":
            self._take()
            value = self._or()
            if self._take() != ")":
                raise ValueError("unbalanced parenthesis in marker")
            return value
        left = self._take()
        op = self._take()
        if op == "not":
            op = "not " + self._take()
        right = self._take()
        if op in ("in", "not in") and right == "dependency_groups" and left[:1] in "'\"":
            member = left[1:-1] in self.groups
            return member if op == "in" else not member
        return None  # an environment, extras or version term: unknown here


def dev_by_marker(marker: str, default_groups: frozenset[str]) -> bool:
    """Whether ``marker`` is false whenever only ``default_groups`` are installed."""
    if "dependency_groups" not in marker or len(marker) > MAX_MARKER_LENGTH:
        return False
    try:
        return _MarkerEvaluator(_tokens(marker), default_groups).evaluate() is False
    except (ValueError, RecursionError) as exc:
        log.debug("marker %r not understood (%s); not treated as dev", marker[:200], exc)
        return False


def parse_pylock(doc: dict[str, Any], location: Location, *, include_dev: bool) -> list[Package]:
    lock_version = doc.get("lock-version")
    if not isinstance(lock_version, str) or not lock_version.split(".", 1)[0].isdigit():
        raise Unreadable(f"no valid lock-version (found {lock_version!r})")
    if lock_version.split(".", 1)[0] != "1":
        raise Unreadable(f"lock-version {lock_version} is not 1.x (PEP 751: must not be read)")
    entries = doc.get("packages", [])
    if not isinstance(entries, list):
        raise Unreadable("'packages' is not an array of tables")
    defaults = doc.get("default-groups", [])
    default_groups = (
        frozenset(g for g in defaults if isinstance(g, str)) if isinstance(defaults, list) else frozenset()
    )
    packages: list[Package] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name, version = entry.get("name"), entry.get("version")
        if not isinstance(name, str) or not name:
            continue
        if not isinstance(version, str) or not version:
            log.debug("%s: %s has no version (vcs, directory or archive); skipped", location.path, name)
            continue
        marker = entry.get("marker")
        dev = isinstance(marker, str) and dev_by_marker(marker, default_groups)
        if dev and not include_dev:
            continue
        packages.append(pypi_package(name, version, location, dev=dev))
    return packages


class PylockCataloger:
    name = "pylock"

    def __init__(self, *, include_dev: bool = True) -> None:
        self.include_dev = include_dev

    def wants(self, path: str) -> bool:
        return _FILE_NAME.match(posixpath.basename(path)) is not None and not in_dependency_dir(path)

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        for found in source.find(self.wants):
            try:
                doc = load_toml(found.data)
                result.packages.extend(parse_pylock(doc, found.location, include_dev=self.include_dev))
            except Unreadable as exc:
                result.skip(found.location, self.name, str(exc))
        return result
