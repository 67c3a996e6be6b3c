"""RPM versions: ``[epoch:]version[-release]`` ordered as rpm orders them.

Written from rpm's ``rpmvercmp`` rules (checked against rpm's own test vectors and the real
``rpm`` of this machine in the tests):

* a version string is compared segment by segment; a segment is a run of ASCII digits or a
  run of ASCII letters, everything else separates segments (so ``2.0`` equals ``2_0``);
* numeric segments compare as numbers (leading zeros dropped), alphabetic ones as strings,
  and a numeric segment is newer than an alphabetic one;
* ``~`` sorts before everything, the end of the string included (``1.0~rc1 < 1.0``);
* ``^`` sorts after the end of the string but before anything else (``1.0 < 1.0^git1 <
  1.0.1``);
* when all segments are equal, the string with something left over is newer.

Full versions compare the epoch first (missing means 0, so ``0:1.2-3`` equals ``1.2-3``),
then the version, then the release, a missing release comparing as an empty one (so ``1.0``
sorts before ``1.0-5``), as rpm's ``rpmverCmp`` (Lua ``rpm.ver``) does.
"""

from __future__ import annotations

from functools import lru_cache

from shipflow.scan.versions.base import InvalidVersion


def _is_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9"


def _is_alpha(char: str) -> bool:
    return char.isascii() and char.isalpha()


def vercmp(a: str, b: str) -> int:
    """rpm's ``rpmvercmp`` of two version (or release) strings: -1, 0 or 1."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not _is_alnum(a[i]) and a[i] not in "~^":
            i += 1
        while j < len(b) and not _is_alnum(b[j]) and b[j] not in "~^":
            j += 1
        one = a[i] if i < len(a) else ""
        two = b[j] if j < len(b) else ""
        if one == "~" or two == "~":  # tilde: before everything, the end included
            if one != "~":
                return 1
            if two != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if one == "^" or two == "^":  # caret: after the end, before anything else
            if not one:
                return -1
            if not two:
                return 1
            if one != "^":
                return 1
            if two != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not (one and two):
            break
        numeric = _is_digit(one)
        same_kind = _is_digit if numeric else _is_alpha
        start_a, start_b = i, j
        while i < len(a) and same_kind(a[i]):
            i += 1
        while j < len(b) and same_kind(b[j]):
            j += 1
        segment_a, segment_b = a[start_a:i], b[start_b:j]
        if not segment_b:
            return 1 if numeric else -1  # numeric segments are newer than alphabetic ones
        if numeric:
            segment_a, segment_b = segment_a.lstrip("0"), segment_b.lstrip("0")
            if len(segment_a) != len(segment_b):
                return 1 if len(segment_a) > len(segment_b) else -1
        if segment_a != segment_b:
            return 1 if segment_a > segment_b else -1
    rest_a, rest_b = i < len(a), j < len(b)
    if not rest_a and not rest_b:
        return 0
    return 1 if rest_a else -1


@lru_cache(maxsize=65536)
def parse(version: str) -> tuple[int, str, str | None]:
    """``[epoch:]version[-release]`` -> (epoch, version, release or None)."""
    text = version.strip()
    if not text or any(c.isspace() for c in text):
        raise InvalidVersion(f"invalid RPM version {version!r}")
    epoch = 0
    head, colon, rest = text.partition(":")
    if colon:
        if not head.isdigit() or len(head) > 10:
            raise InvalidVersion(f"invalid epoch in RPM version {version!r}")
        epoch, text = int(head), rest
    upstream, hyphen, release = text.rpartition("-")
    if not hyphen:
        upstream, release = text, ""
    if not upstream:
        raise InvalidVersion(f"RPM version {version!r} has no version part")
    return epoch, upstream, release or None


def compare(a: str, b: str) -> int:
    epoch_a, version_a, release_a = parse(a)
    epoch_b, version_b, release_b = parse(b)
    if epoch_a != epoch_b:
        return -1 if epoch_a < epoch_b else 1
    return vercmp(version_a, version_b) or vercmp(release_a or "", release_b or "")
