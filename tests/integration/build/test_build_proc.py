"""The builder subprocess runner: a timeout kills the whole process group; output is bounded."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shipflow.build import _proc
from shipflow.errors import InfrastructureError


def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    started = time.monotonic()
    with pytest.raises(_proc.ProcTimeout, match=r"did not finish within 0\.5 s"):
        _proc.run(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], timeout=0.5)
    assert time.monotonic() - started < 15
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # a killed child of ours is a zombie until reaped by its parent (the shell, also killed)
        if Path(f"/proc/{child}/stat").exists() and Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the background child {child} survived the timeout")


def test_output_is_bounded_and_kept_from_the_end() -> None:
    result = _proc.run(["sh", "-c", "yes line | head -n 200000; echo LAST >&2"], timeout=60, keep=4096)
    assert result.ok
    assert len(result.stdout) <= 4096 and result.stdout.endswith("line\n")
    assert result.stderr.strip() == "LAST"
    assert result.tail() == "LAST"


def test_missing_program_is_an_infrastructure_error() -> None:
    with pytest.raises(InfrastructureError, match="is not installed"):
        _proc.run(["shipflow-no-such-program"], timeout=5)


def test_tail_redacts_secrets() -> None:
    result = _proc.run(
        ["sh", "-c", "echo 'pushing to https://user:hunter22@registry.example/x' >&2; exit 3"], timeout=5
    )
    assert result.returncode == 3
    assert "hunter22" not in result.tail()
