"""Semantic Versioning 2.0.0 precedence, shared by npm and Go.

Hand-written (about forty lines) because the npm and Go rules differ only in what they
accept around the version, and the PyPI ``semver`` package is not a dependency of shipflow.
"""

from __future__ import annotations

import re
from functools import lru_cache

from shipflow.scan.versions.base import InvalidVersion

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

# A prerelease identifier as a sort key: numeric ones sort below alphanumeric ones.
Identifier = tuple[int, int, str]
Key = tuple[int, int, int, int, tuple[Identifier, ...]]


@lru_cache(maxsize=65536)
def key(version: str) -> Key:
    """A sort key; build metadata is ignored, a release sorts above its prereleases."""
    match = _SEMVER.match(version)
    if not match:
        raise InvalidVersion(f"not a semantic version: {version!r}")
    major, minor, patch, pre, _build = match.groups()
    if pre is None:
        return int(major), int(minor), int(patch), 1, ()
    identifiers: list[Identifier] = []
    for part in pre.split("."):
        identifiers.append((0, int(part), "") if part.isdigit() else (1, 0, part))
    return int(major), int(minor), int(patch), 0, tuple(identifiers)


def compare_keys(a: Key, b: Key) -> int:
    return (a > b) - (a < b)
