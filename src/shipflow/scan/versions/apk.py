"""Alpine package versions (``1.2.3_rc1-r4``) ordered as apk-tools orders them.

Hand-written because ``univers``' Alpine version rejects forms apk itself accepts and its own
test vectors use (leading zeros such as ``006`` or ``02.08.01b``). The grammar is
digits ('.' digits)* [letter] ('_' suffix [digits])* ['-r' digits]. Versions are split into
tokens and compared token by token:

* a dotted component with leading zeros sorts below one without (``1.02 < 1.2``);
* pre-release suffixes (alpha, beta, pre, rc) sort below the bare version, post-release ones
  (cvs, svn, git, hg, p) above it;
* otherwise, when one version goes on where the other ends, the longer one is newer;
* the rest of a version that leaves the grammar is one "invalid" token, so invalid versions
  still order by their valid prefix (apk-tools' own vectors rely on this).
"""

from __future__ import annotations

from enum import IntEnum
from functools import lru_cache

from shipflow.scan.versions.base import InvalidVersion

_PRE_SUFFIXES = ("alpha", "beta", "pre", "rc")
_POST_SUFFIXES = ("cvs", "svn", "git", "hg", "p")


class _Kind(IntEnum):
    # Grammar order: when versions differ in kind at a position, the earlier kind is "more".
    INVALID = 0
    DIGIT = 1
    LETTER = 2
    SUFFIX = 3
    REVISION = 4
    END = 5


Token = tuple[_Kind, tuple[int, int]]


def _digits(text: str, pos: int) -> tuple[int, int]:
    start = pos
    while pos < len(text) and text[pos].isdigit():
        pos += 1
    return (int(text[start:pos]) if pos > start else 0), pos


def _suffix(text: str, pos: int) -> tuple[int, int] | None:
    for index, name in enumerate(_PRE_SUFFIXES):
        if text.startswith(name, pos):
            return index - len(_PRE_SUFFIXES), pos + len(name)
    for index, name in enumerate(_POST_SUFFIXES):
        if text.startswith(name, pos):
            return index, pos + len(name)
    return None


@lru_cache(maxsize=65536)
def tokens(version: str) -> tuple[Token, ...]:
    """Split a version into comparable tokens, ending with END (or INVALID)."""
    if not version or not version[0].isdigit():
        return ((_Kind.INVALID, (0, 0)),)
    out: list[Token] = []
    value, pos = _digits(version, 0)
    out.append((_Kind.DIGIT, (value, 0)))
    stage = _Kind.DIGIT
    while pos < len(version):
        char = version[pos]
        if stage == _Kind.DIGIT and char == "." and pos + 1 < len(version) and version[pos + 1].isdigit():
            pos += 1
            zeros = 0
            while pos < len(version) and version[pos] == "0":
                zeros, pos = zeros + 1, pos + 1
            if zeros:
                out.append((_Kind.DIGIT, (-zeros, 0)))
                if pos >= len(version):
                    break
            value, pos = _digits(version, pos)
            out.append((_Kind.DIGIT, (value, 0)))
        elif stage == _Kind.DIGIT and char.islower():
            out.append((_Kind.LETTER, (ord(char), 0)))
            stage, pos = _Kind.LETTER, pos + 1
        elif stage <= _Kind.SUFFIX and char == "_" and (found := _suffix(version, pos + 1)):
            rank, pos = found
            number, pos = _digits(version, pos)
            out.append((_Kind.SUFFIX, (rank, number)))
            stage = _Kind.SUFFIX
        elif stage <= _Kind.SUFFIX and version.startswith("-r", pos) and pos + 2 < len(version):
            number, end = _digits(version, pos + 2)
            if end == pos + 2:
                out.append((_Kind.INVALID, (0, 0)))
                return tuple(out)
            out.append((_Kind.REVISION, (number, 0)))
            stage, pos = _Kind.REVISION, end
        else:
            out.append((_Kind.INVALID, (0, 0)))
            return tuple(out)
    out.append((_Kind.END, (0, 0)))
    return tuple(out)


def is_valid(version: str) -> bool:
    return tokens(version)[-1][0] == _Kind.END


def compare(a: str, b: str) -> int:
    if not a or not b:
        raise InvalidVersion("empty Alpine version")
    for (a_kind, a_value), (b_kind, b_value) in zip(tokens(a), tokens(b), strict=False):
        if a_kind == b_kind:
            if a_value != b_value:
                return -1 if a_value < b_value else 1
            if a_kind in (_Kind.END, _Kind.INVALID):
                return 0
            continue
        if a_kind == _Kind.SUFFIX and a_value[0] < 0:
            return -1
        if b_kind == _Kind.SUFFIX and b_value[0] < 0:
            return 1
        return -1 if a_kind > b_kind else 1
    return 0
