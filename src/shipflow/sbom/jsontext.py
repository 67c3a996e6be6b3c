"""JSON text of documents (SBOMs, reports) as ``json.dumps(doc, indent=2)`` writes it, faster.

With ``indent``, the standard library encodes in pure Python, one generator per container: an
SPDX document of a 790-package image took 45-80 ms that way against 16-26 ms for the same
document without indentation (measured here, benchmarks/RESULTS.md), a third of a whole
`shipflow sbom`. :func:`dumps_indented` writes the same text with one recursive function
that appends strings, and the standard library's own C string encoder. It handles the types
JSON documents here are made of (``dict`` with ``str`` keys, ``list``, ``tuple``, ``str``,
``int``, ``float``, ``bool``, ``None``, exactly those types); for anything else (subclasses,
other key types, cycles) it hands the whole document to ``json.dumps``, so the result is
always exactly what ``json.dumps`` gives. tests/unit/sbom/test_jsontext.py compares the two
on the corpus's documents and on generated ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any

__all__ = ["dumps_indented"]

_INDENT = "  "


class _Unsupported(Exception):
    """A value this encoder leaves to ``json.dumps``."""


def dumps_indented(document: Any, *, ensure_ascii: bool = True) -> str:
    """``json.dumps(document, indent=2, ensure_ascii=ensure_ascii)``."""
    encode_string = encode_basestring_ascii if ensure_ascii else encode_basestring
    out: list[str] = []
    try:
        _encode(document, out, "\n", encode_string)
    except (_Unsupported, RecursionError):
        return json.dumps(document, indent=2, ensure_ascii=ensure_ascii)
    return "".join(out)


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == float("inf"):
        return "Infinity"
    if value == -float("inf"):
        return "-Infinity"
    return float.__repr__(value)


def _scalar(value: Any, encode_string: Callable[[str], str]) -> str | None:
    """The JSON text of a scalar; None for a container (or an unsupported value)."""
    kind = type(value)
    if kind is str:
        return encode_string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return _float(value)
    return None


def _encode(value: Any, out: list[str], newline: str, encode_string: Callable[[str], str]) -> None:
    kind = type(value)
    if kind is dict:
        if not value:
            out.append("{}")
            return
        inner = newline + _INDENT
        opening = "{" + inner
        for key, item in value.items():
            if type(key) is not str:
                raise _Unsupported
            # Strings first: most values are (a call per value is most of the cost).
            if type(item) is str:
                out.append(opening + encode_string(key) + ": " + encode_string(item))
            else:
                out.append(opening + encode_string(key) + ": ")
                _encode(item, out, inner, encode_string)
            opening = "," + inner
        out.append(newline + "}")
    elif kind is list or kind is tuple:
        if not value:
            out.append("[]")
            return
        inner = newline + _INDENT
        opening = "[" + inner
        for item in value:
            if type(item) is str:
                out.append(opening + encode_string(item))
            else:
                out.append(opening)
                _encode(item, out, inner, encode_string)
            opening = "," + inner
        out.append(newline + "]")
    else:
        text = _scalar(value, encode_string)
        if text is None:
            raise _Unsupported
        out.append(text)
