"""Atomic writes and capped reads."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from shipflow.errors import InfrastructureError, UsageError
from shipflow.fsutil import atomic_write, read_capped


def test_atomic_write_replaces_whole_and_sets_the_mode_first(tmp_path: Path) -> None:
    target = tmp_path / "key"
    target.write_text("old")
    atomic_write(target, b"new secret", mode=0o600)
    assert target.read_bytes() == b"new secret"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(InfrastructureError) as failed:
        atomic_write(target, "new")
    assert failed.value.exit_code == 3 and "No space left" in failed.value.message
    assert failed.value.hint is not None and "disk is full" in failed.value.hint
    monkeypatch.undo()
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_write_into_a_missing_directory_is_infrastructure(tmp_path: Path) -> None:
    with pytest.raises(InfrastructureError, match="cannot write"):
        atomic_write(tmp_path / "nope" / "x", "data")


def test_read_capped_reads_small_files_and_refuses_big_ones(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.write_bytes(b"x" * 10)
    assert read_capped(small, 10) == b"x" * 10
    with pytest.raises(UsageError, match="more than the limit"):
        read_capped(small, 9, what="key")


def test_read_capped_refuses_devices_directories_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a regular file"):
        read_capped(Path("/dev/zero"), 1024, what="key")
    with pytest.raises(UsageError, match="is a directory"):
        read_capped(tmp_path, 1024)
    with pytest.raises(UsageError, match="no such file"):
        read_capped(tmp_path / "missing", 1024)
