"""``shipflow scan`` and ``shipflow sbom`` as a user runs them on a source tree with a lock file
shipflow recognises but cannot read: the warning on stderr and in every report format, exit 0
without ``--strict`` and exit 2 with it (after the report is written), and the SBOM's
annotation, which a scan of the SBOM carries on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.paths import DATA_DIR


def _shipflow(*args: str, cwd: Path, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIPFLOW_DB": str(db)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(
        [sys.executable, "-m", "shipflow.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(DATA_DIR / "lockfiles" / "yarn-berry-v4", project)
    (project / "services" / "api").mkdir(parents=True)
    (project / "services" / "api" / "Cargo.lock").write_text("[[package]\nname = 'serde'\n")
    imported = _shipflow(
        "db", "import", str(DATA_DIR / "osv" / "records"), cwd=tmp_path, db=tmp_path / "adv.db"
    )
    assert imported.returncode == 0, imported.stderr
    return tmp_path


def test_scan_reports_not_read_and_strict_exits_2(workdir: Path) -> None:
    db = workdir / "adv.db"
    plain = _shipflow("scan", "project", cwd=workdir, db=db)
    assert plain.returncode == 0, plain.stderr
    assert "not read: services/api/Cargo.lock [cargo-lock]: not valid TOML" in plain.stderr
    assert "lodash" in plain.stdout and "4.17.15" in plain.stdout  # from yarn.lock, found all the same

    report = workdir / "report.json"
    strict = _shipflow(
        "scan", "project", "--strict", "--format", "json", "-o", str(report), cwd=workdir, db=db
    )
    assert strict.returncode == 2, strict.stderr
    assert "1 recognised file(s) could not be read" in strict.stderr and "hint:" in strict.stderr
    data = json.loads(report.read_text())  # the report is written before the exit
    assert [(n["path"], n["cataloger"]) for n in data["notRead"]] == [
        ("services/api/Cargo.lock", "cargo-lock")
    ]

    sarif = workdir / "report.sarif"
    _shipflow("scan", "project", "--format", "sarif", "-o", str(sarif), cwd=workdir, db=db)
    notes = json.loads(sarif.read_text())["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert (
        notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "services/api/Cargo.lock"
    )

    summary = workdir / "summary.md"
    env_run = subprocess.run(
        [sys.executable, "-m", "shipflow.cli.main", "scan", "project"],
        cwd=workdir,
        env={**os.environ, "SHIPFLOW_DB": str(db), "GITHUB_STEP_SUMMARY": str(summary)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert env_run.returncode == 0 and "**Not read** (1)" in summary.read_text()

    clean = workdir / "clean"
    shutil.copytree(DATA_DIR / "lockfiles" / "yarn-berry-v4", clean)
    assert _shipflow("scan", "clean", "--strict", cwd=workdir, db=db).returncode == 0


def test_strict_and_a_failing_gate_exit_1_first(workdir: Path) -> None:
    result = _shipflow("scan", "project", "--strict", "--fail-on", "HIGH", cwd=workdir, db=workdir / "adv.db")
    assert result.returncode == 1, result.stderr  # the vulnerability gate is the stronger verdict


def test_sbom_of_the_tree_says_what_was_not_read(workdir: Path) -> None:
    out = workdir / "sbom.spdx.json"
    result = _shipflow("sbom", "project", "-o", str(out), cwd=workdir, db=workdir / "adv.db")
    assert result.returncode == 0, result.stderr
    assert "not read: services/api/Cargo.lock [cargo-lock]" in result.stderr
    root = json.loads(out.read_text())["packages"][0]
    assert root["annotations"][0]["comment"].startswith("shipflow:not-read ")
    # Scanning the SBOM carries the warning on, so --strict still fails.
    rescan = _shipflow("scan", str(out), "--strict", cwd=workdir, db=workdir / "adv.db")
    assert rescan.returncode == 2 and "services/api/Cargo.lock" in rescan.stderr
