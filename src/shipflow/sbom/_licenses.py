"""Licence strings as found in package metadata -> SPDX license expressions.

Package databases hold free text ("MIT", "GPL2+", "Apache License 2.0", "MIT BSD"). What the
SPDX licence list (via ``license-expression``) accepts becomes a normalised expression; the
rest becomes a ``LicenseRef-`` that carries the original text, so nothing is lost and the
document stays valid.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

_REF_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")

# SPDX identifiers that ``license-expression`` normalises to themselves, written exactly so:
# the licences most packages declare (npm, PyPI, Go, crates, Debian). A licence string that is
# one of them, or several of them joined by one operator (``MIT OR Apache-2.0``), is already
# its own normalised expression, and is answered without the library. Building the library's
# SPDX index costs 0.1-0.2 s per process (importing license_expression, loading its 1 MB
# licence index, building the matcher; cProfile of `shipflow sbom`, benchmarks/RESULTS.md),
# which was most of an SBOM of a small image. Any other string goes to the library as before.
# tests/unit/sbom/test_licenses.py checks every entry, and such combinations, against it.
COMMON_SPDX_IDS = frozenset(
    [
        "0BSD",
        "AFL-3.0",
        "AGPL-3.0-only",
        "AGPL-3.0-or-later",
        "Apache-1.1",
        "Apache-2.0",
        "Artistic-1.0",
        "Artistic-1.0-Perl",
        "Artistic-2.0",
        "Beerware",
        "BlueOak-1.0.0",
        "BSD-1-Clause",
        "BSD-2-Clause",
        "BSD-2-Clause-Patent",
        "BSD-3-Clause",
        "BSD-3-Clause-Clear",
        "BSD-4-Clause",
        "BSL-1.0",
        "bzip2-1.0.6",
        "CC-BY-3.0",
        "CC-BY-4.0",
        "CC-BY-SA-3.0",
        "CC-BY-SA-4.0",
        "CC0-1.0",
        "CDDL-1.0",
        "CDDL-1.1",
        "curl",
        "EPL-1.0",
        "EPL-2.0",
        "EUPL-1.1",
        "EUPL-1.2",
        "FTL",
        "GFDL-1.2-only",
        "GFDL-1.2-or-later",
        "GFDL-1.3-only",
        "GFDL-1.3-or-later",
        "GPL-1.0-only",
        "GPL-1.0-or-later",
        "GPL-2.0-only",
        "GPL-2.0-or-later",
        "GPL-3.0-only",
        "GPL-3.0-or-later",
        "HPND",
        "ICU",
        "IJG",
        "ISC",
        "LGPL-2.0-only",
        "LGPL-2.0-or-later",
        "LGPL-2.1-only",
        "LGPL-2.1-or-later",
        "LGPL-3.0-only",
        "LGPL-3.0-or-later",
        "Libpng",
        "libpng-2.0",
        "MIT",
        "MIT-0",
        "MIT-CMU",
        "MPL-1.1",
        "MPL-2.0",
        "MS-PL",
        "NCSA",
        "OFL-1.1",
        "OLDAP-2.8",
        "OpenSSL",
        "PHP-3.01",
        "PostgreSQL",
        "PSF-2.0",
        "Python-2.0",
        "Ruby",
        "Sleepycat",
        "Unicode-3.0",
        "Unicode-DFS-2016",
        "Unlicense",
        "UPL-1.0",
        "Vim",
        "W3C",
        "WTFPL",
        "X11",
        "Zlib",
        "ZPL-2.1",
    ]
)


def _common_expression(text: str) -> str | None:
    """``text`` if it is a common SPDX id, or distinct ones joined by one of `` OR ``/`` AND ``."""
    if text in COMMON_SPDX_IDS:
        return text
    for operator in (" OR ", " AND "):
        if operator in text:
            members = text.split(operator)
            if len(set(members)) == len(members) and all(m in COMMON_SPDX_IDS for m in members):
                return text
            return None
    return None


@dataclass(frozen=True, slots=True)
class LicenseRef:
    id: str  # LicenseRef-…
    text: str  # the original string


@dataclass(frozen=True, slots=True)
class ResolvedLicense:
    expression: str | None  # an SPDX expression, or None for "no licence information"
    refs: tuple[LicenseRef, ...] = ()
    spdx_ids: tuple[str, ...] = ()  # the parts that are valid SPDX expressions


@lru_cache(maxsize=4096)
def spdx_expression(text: str) -> str | None:
    """The normalised SPDX expression for ``text``, or None if it is not one."""
    common = _common_expression(text.strip())
    if common is not None:
        return common
    from license_expression import get_spdx_licensing  # type: ignore[import-untyped]

    info = get_spdx_licensing().validate(text.strip())
    if info.errors or not info.normalized_expression:
        return None
    return str(info.normalized_expression)


def license_ref(text: str) -> LicenseRef:
    """A stable LicenseRef id for free text (readable prefix + hash, so equal text = equal id)."""
    readable = _REF_UNSAFE.sub("-", text.strip()).strip("-")[:40] or "unknown"
    suffix = hashlib.sha256(text.encode()).hexdigest()[:8]
    return LicenseRef(id=f"LicenseRef-{readable}-{suffix}", text=text)


def resolve(licenses: tuple[str, ...]) -> ResolvedLicense:
    """Several licence strings of one package are all declared: joined with AND."""
    parts: list[str] = []
    refs: list[LicenseRef] = []
    valid: list[str] = []
    for text in licenses:
        if not text.strip():
            continue
        expression = spdx_expression(text)
        if expression is not None:
            valid.append(expression)
            parts.append(f"({expression})" if " " in expression else expression)
        else:
            ref = license_ref(text)
            refs.append(ref)
            parts.append(ref.id)
    if not parts:
        return ResolvedLicense(None)
    expression = parts[0].removeprefix("(").removesuffix(")") if len(parts) == 1 else " AND ".join(parts)
    return ResolvedLicense(expression, tuple(refs), tuple(valid))
