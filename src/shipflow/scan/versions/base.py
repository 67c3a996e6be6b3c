"""The version-scheme interface and the ecosystem → scheme table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cmp_to_key, lru_cache
from typing import Any


class InvalidVersion(ValueError):
    """A version string that the ecosystem's own tooling would reject."""


@dataclass(frozen=True, slots=True)
class VersionScheme:
    """One ecosystem's ordering. ``compare`` returns <0, 0, >0 like C's strcmp."""

    name: str
    compare: Callable[[str, str], int]

    def sort_key(self) -> Callable[[str], Any]:
        return cmp_to_key(self.compare)


@lru_cache(maxsize=256)
def scheme_for(ecosystem: str) -> VersionScheme | None:
    """The scheme for an OSV ecosystem ("npm", "PyPI", "Go", "Alpine:v3.19", "Debian:12"…).

    ``None`` for ecosystems shipflow does not order; their records still match through
    explicit ``versions`` lists.
    """
    base = ecosystem.split(":", 1)[0]
    # Imported lazily so that importing one scheme does not pull in all of them.
    if base == "npm":
        from shipflow.scan.versions import npm

        return VersionScheme("npm", npm.compare)
    if base == "PyPI":
        from shipflow.scan.versions import pep440

        return VersionScheme("pep440", pep440.compare)
    if base == "Go":
        from shipflow.scan.versions import golang

        return VersionScheme("go", golang.compare)
    if base == "Alpine":
        from shipflow.scan.versions import apk

        return VersionScheme("apk", apk.compare)
    if base in ("Debian", "Ubuntu"):
        from shipflow.scan.versions import dpkg

        return VersionScheme("dpkg", dpkg.compare)
    return None
