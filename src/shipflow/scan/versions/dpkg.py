"""Debian package versions: ``[epoch:]upstream[-revision]`` as dpkg orders them.

Written from Debian Policy §5.6.12 rather than taken from ``univers`` so the comparator and its
parse errors are ours to test against the real ``dpkg --compare-versions``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from shipflow.scan.versions.base import InvalidVersion

_EPOCH = re.compile(r"^[0-9]+$")
_UPSTREAM = re.compile(r"^[0-9A-Za-z.+~:-]+$")
_REVISION = re.compile(r"^[0-9A-Za-z.+~]*$")


@lru_cache(maxsize=65536)
def parse(version: str) -> tuple[int, str, str]:
    """Split into (epoch, upstream, revision); raise InvalidVersion like dpkg's parseversion."""
    text = version.strip()
    if not text or any(c.isspace() for c in text):
        raise InvalidVersion(f"invalid Debian version {version!r}")
    epoch = 0
    if ":" in text:
        epoch_text, text = text.split(":", 1)
        if not _EPOCH.match(epoch_text) or len(epoch_text) > 9:
            raise InvalidVersion(f"invalid epoch in Debian version {version!r}")
        epoch = int(epoch_text)
    upstream, hyphen, revision = text.rpartition("-")
    if not hyphen:
        upstream, revision = text, ""
    elif not revision:
        raise InvalidVersion(f"empty revision in Debian version {version!r}")
    if not upstream or not _UPSTREAM.match(upstream) or not _REVISION.match(revision):
        raise InvalidVersion(f"invalid Debian version {version!r}")
    return epoch, upstream, revision


def _order(char: str) -> int:
    # '~' sorts before everything, even the end of the string; letters before other symbols.
    if char == "~":
        return -1
    if char.isdigit():
        return 0
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_part(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def compare(a: str, b: str) -> int:
    ea, ua, ra = parse(a)
    eb, ub, rb = parse(b)
    if ea != eb:
        return -1 if ea < eb else 1
    result = _compare_part(ua, ub) or _compare_part(ra, rb)
    return (result > 0) - (result < 0)
