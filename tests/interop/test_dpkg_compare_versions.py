"""shipflow's dpkg version comparator agrees with the real dpkg --compare-versions on the committed
cases.
"""

from __future__ import annotations

import json
import subprocess

from fixtures.procs import require_binary
from shipflow.scan.versions import dpkg
from support.paths import DATA_DIR

CASES = json.loads((DATA_DIR / "versions" / "dpkg-cases.json").read_text())
_SIGN = {"<": -1, "=": 0, ">": 1}
_DPKG_OP = {"<": "lt", "=": "eq", ">": "gt"}


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
