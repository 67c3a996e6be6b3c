"""``read_capped`` allocates what the file holds, not its limit (found by the fuzz tier: every
SBOM read reserved 512 MiB, every OSV list file 1 GiB, whatever their size)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from shipflow.fsutil import read_capped


def test_a_small_file_under_a_large_limit_costs_its_size(tmp_path: Path) -> None:
    path = tmp_path / "small.json"
    path.write_bytes(b"{}" * 30)
    tracemalloc.start()
    try:
        assert read_capped(path, 1 << 30, what="doc") == b"{}" * 30
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024
