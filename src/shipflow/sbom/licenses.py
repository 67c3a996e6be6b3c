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

from license_expression import get_spdx_licensing  # type: ignore[import-untyped]

_REF_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


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
