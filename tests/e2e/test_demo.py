"""`make demo`'s script, run as the README's first command runs it: it succeeds, shows each
stage (the gates, the healthy canary, the refused production promotion without an approval,
the broken release rolled back automatically), and leaves nothing behind — no temporary
directory, no service process. A second run works too (the test runs it twice)."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

from support.paths import TESTS_DIR

SCRIPT = TESTS_DIR.parent / "scripts" / "demo.sh"


def _leftovers() -> tuple[set[str], str]:
    dirs = set(glob.glob("/tmp/shipflow-demo.*"))
    procs = subprocess.run(
        ["pgrep", "-af", "shipflow-demo"], capture_output=True, text=True, check=False
    ).stdout
    return dirs, procs.strip()


def test_the_demo_runs_twice_and_cleans_up() -> None:
    before_dirs, _ = _leftovers()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for _ in range(2):
        result = subprocess.run(
            ["bash", str(SCRIPT)], capture_output=True, text=True, timeout=900, env=env, check=False
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-4000:]
        assert "dev → staging: promoted" in output
        assert "canary passed" in output
        assert "approvals gate failed: 0 of 1 approval(s)" in output  # production refused first
        assert "canary → production: promoted" in output
        assert "rolled back: tripped: 3 consecutive failed checks" in output
        assert "demo finished in" in output
        dirs, procs = _leftovers()
        assert dirs == before_dirs, f"the demo left {dirs - before_dirs}"
        assert not procs, f"the demo left processes running:\n{procs}"
