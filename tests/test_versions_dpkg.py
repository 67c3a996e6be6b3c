"""Debian version ordering: dpkg's own cases, checked against the real ``dpkg --compare-versions``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from fixtures.procs import require_binary
from shipflow.scan.versions import InvalidVersion, dpkg

CASES = json.loads((Path(__file__).parent / "data" / "versions" / "dpkg-cases.json").read_text())
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


@pytest.mark.interop
def test_agrees_with_real_dpkg() -> None:
    binary = require_binary("dpkg")
    pairs = [(a.strip(), op, b.strip()) for a, op, b in CASES["cases"] if "\t" not in a]
    disagreements = []
    for a, op, b in pairs:
        real = subprocess.run(
            [binary, "--compare-versions", a, _DPKG_OP[op], b], check=False, capture_output=True
        )
        ours = dpkg.compare(a, b) == _SIGN[op]
        if (real.returncode == 0) != ours:
            disagreements.append((a, op, b))
    assert disagreements == []
    assert len(pairs) > 20
