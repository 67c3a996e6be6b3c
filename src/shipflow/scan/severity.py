"""Severity of an OSV record: from its CVSS vectors, else from the record's own rating."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from functools import lru_cache
from typing import Any

from shipflow.errors import UsageError


class Severity(IntEnum):
    UNKNOWN = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        """A severity name as users and databases write it ("moderate" is MEDIUM)."""
        name = text.strip().upper()
        name = _ALIASES.get(name, name)
        try:
            return cls[name]
        except KeyError:
            choices = ", ".join(s.name for s in cls)
            raise UsageError(f"unknown severity {text!r}", hint=f"use one of {choices}") from None

    @classmethod
    def from_score(cls, score: float) -> Severity:
        # CVSS v3/v4 qualitative rating scale; 0.0 ("None") carries no risk worth gating on.
        if score >= 9.0:
            return cls.CRITICAL
        if score >= 7.0:
            return cls.HIGH
        if score >= 4.0:
            return cls.MEDIUM
        if score > 0.0:
            return cls.LOW
        return cls.UNKNOWN


_ALIASES = {"MODERATE": "MEDIUM", "IMPORTANT": "HIGH", "NEGLIGIBLE": "LOW", "UNIMPORTANT": "LOW"}
# Debian's tracker urgencies ("not yet assigned", "end-of-life") carry no rating.
_RATINGS = {"LOW", "MEDIUM", "MODERATE", "HIGH", "IMPORTANT", "CRITICAL", "NEGLIGIBLE", "UNIMPORTANT"}


@lru_cache(maxsize=4096)  # feeds repeat the same few thousand vectors
def _score(kind: str, vector: str) -> float | None:
    # cvss is imported here: only an import rates records (a scan reads the stored severity).
    from cvss import CVSS3, CVSS4
    from cvss.exceptions import CVSSError

    try:
        if kind == "CVSS_V4":
            return float(CVSS4(vector).base_score)
        if kind == "CVSS_V3":
            return float(CVSS3(vector).scores()[0])
    except (CVSSError, ValueError, KeyError, IndexError):
        pass
    # Some feeds put a bare number where the vector belongs.
    try:
        value = float(vector)
    except ValueError:
        return None
    return value if 0.0 <= value <= 10.0 else None


def _rating(value: Any) -> Severity | None:
    if isinstance(value, str) and value.strip().upper() in _RATINGS:
        return Severity.parse(value)
    return None


def rate(record: Mapping[str, Any]) -> tuple[Severity, float | None, str | None]:
    """(severity, CVSS base score or None, the vector it came from or None)."""
    entries = [e for e in record.get("severity") or () if isinstance(e, Mapping)]
    for affected in record.get("affected") or ():
        entries.extend(e for e in affected.get("severity") or () if isinstance(e, Mapping))
    for kind in ("CVSS_V4", "CVSS_V3"):
        for entry in entries:
            if entry.get("type") == kind and isinstance(entry.get("score"), str):
                score = _score(kind, entry["score"])
                if score is not None:
                    return Severity.from_score(score), score, entry["score"]
    ratings = [record.get("database_specific") or {}]
    for affected in record.get("affected") or ():
        ratings.append(affected.get("ecosystem_specific") or {})
        ratings.append(affected.get("database_specific") or {})
    for bag in ratings:
        if not isinstance(bag, Mapping):
            continue
        for key in ("severity", "urgency"):
            found = _rating(bag.get(key))
            if found is not None:
                return found, None, None
    return Severity.UNKNOWN, None, None
