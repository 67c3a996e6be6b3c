"""Which column type changes are widenings the old version survives.

A type change is COMPATIBLE only when every value the old version writes still fits, unchanged,
and reads come back as the same kind of value for its database driver. The rules (anything not
listed is BREAKING):

==========================  ==========================================================
from → to                   compatible when
==========================  ==========================================================
smallint/integer/bigint     the new type is at least as wide (int2 → int4 → int8)
varchar(n)                  → varchar(m) with m ≥ n, → varchar, → text
varchar, text               → varchar or text (both unbounded)
numeric(p, s)               → numeric(q, s) with q ≥ p (same scale), → numeric
numeric                     → numeric (unbounded stays unbounded)
real                        → double precision
timestamp(p), timestamptz(p), time(p), timetz(p)
                            → the same type with precision ≥ p (no precision = 6)
bit varying(n)              → bit varying(m) with m ≥ n, → bit varying
==========================  ==========================================================

Arrays follow the rules of their element type. Deliberately breaking: a change of scale
(``numeric(10,2)`` → ``numeric(12,4)``: the values the old version reads get more decimals),
``char(n)`` changes (blank padding), ``integer`` → ``numeric`` (a driver returns a Decimal
instead of an int), ``timestamp`` ↔ ``timestamptz`` (the meaning of stored values changes),
``text`` → ``varchar(n)`` and every other narrowing.

Type modifiers are decoded as PostgreSQL stores them (``atttypmod``): varchar/bpchar
``n + 4``, numeric ``((p << 16) | s) + 4`` (scale as an 11-bit signed field since 15), the
time types the precision itself, bit types the length itself; ``-1`` means none.
"""

from __future__ import annotations

__all__ = ["decode_numeric", "decode_varchar", "is_widening"]

_VARHDRSZ = 4
_INTEGERS = {"int2": 1, "int4": 2, "int8": 3}
_CHARACTER = frozenset({"varchar", "text"})
_PRECISION_TYPES = frozenset({"timestamp", "timestamptz", "time", "timetz"})
_DEFAULT_TIME_PRECISION = 6


def decode_varchar(typmod: int) -> int | None:
    """The length limit of varchar(n)/char(n), None when unbounded."""
    return typmod - _VARHDRSZ if typmod >= _VARHDRSZ else None


def decode_numeric(typmod: int) -> tuple[int, int] | None:
    """(precision, scale) of numeric(p, s), None when unconstrained."""
    if typmod < _VARHDRSZ:
        return None
    value = typmod - _VARHDRSZ
    precision = (value >> 16) & 0xFFFF
    scale = ((value & 0x7FF) ^ 1024) - 1024
    return precision, scale


def _length(base: str, typmod: int) -> int | None:
    if base == "text":
        return None
    return decode_varchar(typmod)


def is_widening(old_base: str, old_typmod: int, new_base: str, new_typmod: int) -> bool:
    """Whether changing a column from ``old_base(old_typmod)`` to ``new_base(new_typmod)`` keeps
    every value the old version writes and reads (see the module's table)."""
    if old_base in _INTEGERS and new_base in _INTEGERS:
        return _INTEGERS[new_base] >= _INTEGERS[old_base]
    if old_base in _CHARACTER and new_base in _CHARACTER:
        new_len = _length(new_base, new_typmod)
        if new_len is None:
            return True
        old_len = _length(old_base, old_typmod)
        return old_len is not None and new_len >= old_len
    if old_base == "numeric" and new_base == "numeric":
        new = decode_numeric(new_typmod)
        if new is None:
            return True
        old = decode_numeric(old_typmod)
        return old is not None and new[1] == old[1] and new[0] >= old[0]
    if old_base == "float4" and new_base == "float8":
        return True
    if old_base == new_base and old_base in _PRECISION_TYPES:
        old_p = old_typmod if old_typmod >= 0 else _DEFAULT_TIME_PRECISION
        new_p = new_typmod if new_typmod >= 0 else _DEFAULT_TIME_PRECISION
        return new_p >= old_p
    if old_base == "varbit" and new_base == "varbit":
        if new_typmod < 0:
            return True
        return old_typmod >= 0 and new_typmod >= old_typmod
    return False
