"""PyPI versions: PEP 440 through ``packaging.version`` (the reference implementation)."""

from __future__ import annotations

from functools import lru_cache

from packaging.version import InvalidVersion as PackagingInvalidVersion
from packaging.version import Version

from shipflow.scan.versions.base import InvalidVersion


@lru_cache(maxsize=65536)
def parse(version: str) -> Version:
    try:
        return Version(version)
    except PackagingInvalidVersion as exc:
        raise InvalidVersion(f"not a PEP 440 version: {version!r}") from exc


def compare(a: str, b: str) -> int:
    va, vb = parse(a), parse(b)
    return (va > vb) - (va < vb)
