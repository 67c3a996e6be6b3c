"""shipflow sbom through the CLI on directories and hostile images: a real npm project, a
decompression bomb refused cleanly, and which targets count as directories.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard

from support.paths import DATA_DIR
from support.sbom import npm_install, pip_install_target, validate_spdx, write_layout

DATA = DATA_DIR / "sbom"


@pytest.fixture(scope="module")
def npm_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return npm_install(tmp_path_factory.mktemp("npm") / "project")


@pytest.fixture(scope="module")
def site_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pip_install_target(tmp_path_factory.mktemp("pip") / "site-packages")


# -- CLI on directories and hostile images -----------------------------------------------------


def _shipflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipflow.cli.main", *args], capture_output=True, text=True, check=False
    )


def test_cli_sbom_of_a_directory(npm_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "project.spdx.json"
    result = _shipflow("sbom", str(npm_project), "-o", str(out))
    assert result.returncode == 0, result.stderr
    # the summary, as plain aligned lines to a pipe: 5 npm packages
    assert [line.split() for line in result.stderr.splitlines()[1:4]] == [
        ["type", "packages"],
        ["npm", "5"],
        ["total", "5"],
    ], result.stderr
    doc = validate_spdx(out.read_text(), tmp_path)
    names = sorted(p["name"] for p in doc["packages"][1:])  # type: ignore[index]
    assert names == ["@babel/helper-validator-identifier", "lodash", "minimist", "minimist", "mkdirp"]


def test_cli_refuses_a_bomb_cleanly(tmp_path: Path) -> None:
    header = tarfile.TarInfo("usr/share/zeros")
    header.size = 64 * 1024**2
    raw = header.tobuf(tarfile.USTAR_FORMAT) + bytes(header.size) + bytes(1024)
    blob = zstandard.ZstdCompressor().compress(raw)
    write_layout(tmp_path / "layout", [(blob, "application/vnd.oci.image.layer.v1.tar+zstd")])
    out = tmp_path / "sbom.json"
    result = _shipflow("sbom", f"oci:{tmp_path / 'layout'}:latest", "-o", str(out), "--max-size", "16")
    assert result.returncode == 1, result.stderr
    assert "decompression bomb" in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_cli_target_kind(tmp_path: Path) -> None:
    from shipflow.errors import UsageError
    from shipflow.sbom.target import TargetKind, detect_target

    assert detect_target(str(tmp_path)).kind is TargetKind.DIRECTORY
    assert detect_target(f"oci:{tmp_path}:latest").kind is TargetKind.IMAGE
    assert detect_target("127.0.0.1:5000/app:1.0").kind is TargetKind.IMAGE
    (tmp_path / "sbom.json").write_text("{}")
    assert detect_target(str(tmp_path / "sbom.json")).kind is TargetKind.SBOM_FILE
    for missing in ("./missing-dir", "/missing/dir", str(tmp_path / "missing")):
        with pytest.raises(UsageError, match="no such file or directory"):
            detect_target(missing)
    with pytest.raises(UsageError, match="is a file"):
        detect_target(str(tmp_path / "sbom.json"), sbom_files=False)
    result = _shipflow("sbom", str(tmp_path / "missing"))
    assert result.returncode == 2 and "no such file or directory" in result.stderr
    assert "Traceback" not in result.stderr
