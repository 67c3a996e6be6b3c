"""shipflow's RPM version comparator agrees with the real rpm (Debian's rpm 4.18): every vector
of rpm's own tests/rpmvercmp.at against ``rpm.vercmp``, and full epoch:version-release
orderings against ``rpm.ver`` objects (rpm's rpmverCmp), both through rpm's embedded Lua."""

from __future__ import annotations

import itertools
import subprocess

from fixtures.procs import require_binary
from shipflow.scan.versions import rpm
from support.paths import DATA_DIR

VECTORS = [
    line.split() for line in (DATA_DIR / "versions" / "rpmvercmp.txt").read_text().splitlines() if line
]
EVRS = [
    "1.0",
    "1.0-1",
    "1.0-5",
    "0:1.0-5",
    "1:0.9-1",
    "2:0.1-1",
    "1.0~rc1-1",
    "1.0^git1-1",
    "1.0.1-1.el9",
    "1.0.1-1.el9_1",
    "1.0.1-10.el9",
    "3.0.7-27.el9",
    "1:3.0.7-24.el9",
    "1.9.5p2-10.el9_6.1",
    "1.9.5p2-9.el9",
    "2.1-1.module+el8.6.0+1234+abcdef12",
    "2.1-1.module+el8.5.0+999+12345678",
]


def _lua(statements: list[str]) -> list[str]:
    """Run Lua lines in rpm, one printed result per line."""
    binary = require_binary("rpm")
    script = " ".join(statements)
    result = subprocess.run(
        [binary, "--eval", f"%{{lua: {script}}}"], capture_output=True, text=True, timeout=120, check=True
    )
    return [line for line in result.stdout.splitlines() if line]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_rpmvercmp_agrees_with_real_rpm_on_rpms_own_vectors() -> None:
    real = _lua([f"print(rpm.vercmp({_quote(a)}, {_quote(b)}) .. '\\n')" for a, b, _ in VECTORS])
    assert len(real) == len(VECTORS) > 90
    for (a, b, expected), answer in zip(VECTORS, real, strict=True):
        assert int(answer) == int(expected) == rpm.vercmp(a, b), (a, b)


def test_epoch_version_release_order_agrees_with_rpm_ver() -> None:
    pairs = list(itertools.product(EVRS, repeat=2))
    statements = [
        f"do local a, b = rpm.ver({_quote(x)}), rpm.ver({_quote(y)}) "
        "print((a < b and '-1' or (a == b and '0' or '1')) .. '\\n') end"
        for x, y in pairs
    ]
    real = _lua(statements)
    disagreements = [(x, y, r) for (x, y), r in zip(pairs, real, strict=True) if rpm.compare(x, y) != int(r)]
    assert disagreements == []
    assert len(pairs) == len(EVRS) ** 2
