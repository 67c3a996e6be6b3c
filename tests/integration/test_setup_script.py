"""scripts/setup.sh, the set-up inside `make demo` and `make test` (and .ci/run's steps 1-3).

Real runs of the script: on this machine everything is installed, so a run only looks, and is
quick and idempotent; run as an unprivileged user where something needs root and there is no
sudo, it stops with the command to run. (The install paths themselves are what .ci/run does on
a fresh machine; they cannot be re-run here without removing packages other work uses.)
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "scripts" / "setup.sh"


def run(
    *args: str, env: dict[str, str] | None = None, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    argv = ["bash", str(SETUP), *args]
    if user is not None:
        argv = ["runuser", "-u", user, "--", "env", *(f"{k}={v}" for k, v in (env or {}).items()), *argv]
        env = None
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})} if env else None
    )


def test_everything_present_is_quick_and_idempotent() -> None:
    venv = Path(sys.executable).parent.parent  # the venv running these tests: never reinstalled here
    stamp = venv / ".installed"
    if not stamp.exists() or (ROOT / "pyproject.toml").stat().st_mtime > stamp.stat().st_mtime:
        pytest.fail(f"{venv} is older than pyproject.toml: run `bash scripts/setup.sh venv` first")
    for profile in ("demo", "test"):
        started = time.monotonic()
        result = run(profile, env={"VENV": str(venv)})
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Debian packages: all" in result.stdout and "present" in result.stdout
        assert "Python venv:" in result.stdout and "up to date" in result.stdout
        assert ("Go peers: all present" in result.stdout) == (profile == "test")
        assert "installing" not in result.stdout
        if profile == "demo":  # (peers may wait for another install-peers run holding its lock)
            assert elapsed < 30, f"a warm set-up took {elapsed:.1f} s"  # generous: measured < 2 s


def test_usage() -> None:
    result = run("everything")
    assert result.returncode == 2 and "usage: bash scripts/setup.sh demo|test|apt|peers|venv" in result.stderr


@pytest.fixture
def readable_copy() -> Iterator[Path]:
    """The scripts in a directory an unprivileged user can read (pytest's tmp dirs are 0700)."""
    root = Path(tempfile.mkdtemp(prefix="shipflow-setup-test-"))
    try:
        (root / "scripts").mkdir()
        for name in ("setup.sh", "install-peers.sh"):
            shutil.copy(ROOT / "scripts" / name, root / "scripts" / name)
        (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_without_root_or_sudo_it_names_the_command(readable_copy: Path) -> None:
    pwd.getpwnam("nobody")
    peers = readable_copy / "root-owned-peers"
    peers.mkdir(mode=0o755)  # owned by root: nobody cannot take the lock in it
    bindir = readable_copy / "bin"  # a PATH without sudo
    bindir.mkdir(mode=0o755)
    for tool in ("bash", "env", "id", "dirname", "awk", "mktemp", "cat", "grep", "rm", "date"):
        found = shutil.which(tool)
        assert found is not None
        (bindir / tool).symlink_to(found)
    env = {"PATH": str(bindir), "SHIPFLOW_PEERS_BIN": str(peers), "HOME": str(readable_copy)}
    result = subprocess.run(
        [
            "runuser",
            "-u",
            "nobody",
            "--",
            str(bindir / "env"),
            *(f"{k}={v}" for k, v in env.items()),
            str(bindir / "bash"),
            str(readable_copy / "scripts" / "setup.sh"),
            "peers",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "needs root and sudo is not installed" in result.stderr
    assert "Run as root: bash scripts/install-peers.sh" in result.stderr
    assert not (peers / ".lock").exists()


def test_a_missing_python_is_named(readable_copy: Path) -> None:
    result = subprocess.run(
        ["bash", str(readable_copy / "scripts" / "setup.sh"), "venv"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "VENV": str(readable_copy / "venv"), "PYTHON": "python3.0-does-not-exist"},
    )
    assert result.returncode == 3
    assert "python3.0-does-not-exist is missing: install Python >= 3.11" in result.stderr
