"""Package URL comparison for ignore entries and VEX products."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from packageurl import PackageURL


@lru_cache(maxsize=16384)
def _parse(purl: str) -> PackageURL | None:
    from packageurl import PackageURL  # only where ignore or VEX entries name packages

    try:
        return PackageURL.from_string(purl)
    except ValueError:
        return None


def purl_matches(pattern: str, purl: str) -> bool:
    """Whether ``purl`` is the package ``pattern`` names.

    Type, namespace and name must be equal (case-insensitively, as most purl types define
    them); the version only when the pattern has one. Qualifiers (arch, distro) are ignored:
    an exception for ``pkg:npm/lodash@4.17.15`` holds wherever that package was found.
    """
    want, have = _parse(pattern), _parse(purl)
    if want is None or have is None:
        return pattern == purl
    if (want.type, (want.namespace or "").lower(), want.name.lower()) != (
        have.type,
        (have.namespace or "").lower(),
        have.name.lower(),
    ):
        return False
    return want.version is None or unquote(want.version) == unquote(have.version or "")
