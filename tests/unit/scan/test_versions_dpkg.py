"""Debian version ordering: dpkg's own cases, checked against the real ``dpkg --compare-versions``."""

from __future__ import annotations

import json

import pytest

from shipflow.scan.versions import InvalidVersion, dpkg
from support.paths import DATA_DIR

CASES = json.loads((DATA_DIR / "versions" / "dpkg-cases.json").read_text())
_SIGN = {"<": -1, "=": 0, ">": 1}
_DPKG_OP = {"<": "lt", "=": "eq", ">": "gt"}


@pytest.mark.parametrize(("a", "op", "b"), CASES["cases"])
def test_dpkg_cases(a: str, op: str, b: str) -> None:
    assert dpkg.compare(a, b) == _SIGN[op]
    assert dpkg.compare(b, a) == -_SIGN[op]


@pytest.mark.parametrize("bad", CASES["invalid"])
def test_dpkg_rejects_what_dpkg_rejects(bad: str) -> None:
    with pytest.raises(InvalidVersion):
        dpkg.parse(bad)
