"""End to end through the ``shipflow`` CLI: import real OSV records, scan a source tree whose
package-lock.json the real npm made, gate (exit 1), accept with an ignore entry (exit 0),
expired entry fails again; SBOM input; usage (2) and infrastructure (3) exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import InProcessCli as _InProcess
from support.paths import DATA_DIR

DATA = DATA_DIR
PROJECT = DATA / "osv" / "project"


def _shipflow(*args: str, cwd: Path, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIPFLOW_DB": str(db)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(
        [sys.executable, "-m", "shipflow.cli.main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def shipflow(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> _InProcess:
    return _InProcess(monkeypatch, capsys)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(PROJECT, tmp_path / "project")
    return tmp_path


def test_import_scan_gate_ignore_and_expiry(workdir: Path) -> None:
    db = workdir / "advisories.db"
    imported = _shipflow("db", "import", str(DATA / "osv" / "records"), cwd=workdir, db=db)
    assert imported.returncode == 0, imported.stderr
    assert "6 added" in imported.stderr

    status = _shipflow("db", "status", "--json", cwd=workdir, db=db)
    info = json.loads(status.stdout)
    assert info["advisories"] == 6 and info["perEcosystem"]["npm"] == 3
    assert info["identity"].startswith("sha256:")

    project = workdir / "project"
    failed = _shipflow(
        "scan", str(project), "--fail-on", "CRITICAL,HIGH", "--format", "json", cwd=workdir, db=db
    )
    assert failed.returncode == 1, failed.stderr
    report = json.loads(failed.stdout)
    found = {(f["id"], f["package"]["name"], f["package"]["version"]) for f in report["findings"]}
    assert found == {
        ("GHSA-p6mc-m468-83gw", "lodash", "4.17.15"),
        ("GHSA-35jh-r3h4-6jhm", "lodash", "4.17.15"),
        ("GHSA-vh95-rmgr-6w4m", "minimist", "1.2.0"),
        ("PYSEC-2021-108", "urllib3", "1.26.4"),
        ("PYSEC-2021-66", "jinja2", "2.11.2"),
    }
    assert report["db"]["identity"] == info["identity"]
    assert "gate failed" in failed.stderr

    # Accept both HIGH lodash findings (one by CVE alias) in the project's ignore file.
    (project / ".shipflowignore.yaml").write_text(
        "ignore:\n"
        "  - id: CVE-2020-8203\n    reason: not reachable\n    expires: 2999-01-01\n"
        "  - id: GHSA-35jh-r3h4-6jhm\n    reason: template() unused\n    package: lodash\n"
    )
    passed = _shipflow(
        "scan", str(project), "--fail-on", "CRITICAL,HIGH", "--format", "json", cwd=workdir, db=db
    )
    assert passed.returncode == 0, passed.stderr
    data = json.loads(passed.stdout)
    assert {s["id"]: s["suppression"]["reason"] for s in data["suppressed"]} == {
        "GHSA-p6mc-m468-83gw": "not reachable",
        "GHSA-35jh-r3h4-6jhm": "template() unused",
    }

    # An exception nobody renewed: the finding is back and the gate fails again.
    (project / ".shipflowignore.yaml").write_text(
        "ignore:\n"
        "  - id: CVE-2020-8203\n    reason: not reachable\n    expires: 2020-01-01\n"
        "  - id: GHSA-35jh-r3h4-6jhm\n    reason: template() unused\n"
    )
    expired = _shipflow("scan", str(project), "--severity-threshold", "HIGH", cwd=workdir, db=db)
    assert expired.returncode == 1
    assert "expired on 2020-01-01" in expired.stderr
    assert "GHSA-p6mc-m468-83gw" in expired.stdout

    sarif = workdir / "out.sarif"
    written = _shipflow("scan", str(project), "--format", "sarif", "-o", str(sarif), cwd=workdir, db=db)
    assert written.returncode == 0 and json.loads(sarif.read_text())["version"] == "2.1.0"


def test_scan_an_sbom_file(workdir: Path, shipflow: _InProcess) -> None:
    db = workdir / "advisories.db"
    assert shipflow("db", "import", str(DATA / "osv" / "records"), cwd=workdir, db=db).returncode == 0
    sbom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {"component": {"type": "container", "name": "app", "version": "sha256:" + "c" * 64}},
        "components": [
            {"type": "library", "name": "lodash", "version": "4.17.15", "purl": "pkg:npm/lodash@4.17.15"},
            {"type": "library", "name": "x", "version": "1", "purl": "pkg:maven/org.x/x@1"},
        ],
    }
    path = workdir / "bom.cdx.json"
    path.write_text(json.dumps(sbom))
    result = shipflow("scan", str(path), "--format", "json", "--fail-on", "HIGH", cwd=workdir, db=db)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["subjectDigest"] == "sha256:" + "c" * 64
    assert {f["id"] for f in report["findings"]} == {"GHSA-p6mc-m468-83gw", "GHSA-35jh-r3h4-6jhm"}


def test_exit_codes_for_usage_and_infrastructure_errors(workdir: Path, shipflow: _InProcess) -> None:
    db = workdir / "advisories.db"
    missing = shipflow("scan", str(workdir / "project"), cwd=workdir, db=db)
    assert missing.returncode == 3
    assert "shipflow db import" in missing.stderr
    assert "Traceback" not in missing.stderr

    assert shipflow("db", "import", str(DATA / "osv" / "records"), cwd=workdir, db=db).returncode == 0
    bad_severity = shipflow("scan", str(workdir / "project"), "--fail-on", "SEVERE", cwd=workdir, db=db)
    assert bad_severity.returncode == 2 and "unknown severity" in bad_severity.stderr

    (workdir / "project" / ".shipflowignore.yaml").write_text("ignore:\n  - id: CVE-1\n")
    bad_ignore = shipflow("scan", str(workdir / "project"), cwd=workdir, db=db)
    assert bad_ignore.returncode == 2 and "reason" in bad_ignore.stderr

    corrupt = workdir / "corrupt.db"
    corrupt.write_bytes(b"garbage" * 500)
    broken = shipflow("db", "status", cwd=workdir, db=corrupt)
    assert broken.returncode == 3 and "Traceback" not in broken.stderr


def test_vex_through_the_cli(workdir: Path, shipflow: _InProcess) -> None:
    db = workdir / "advisories.db"
    assert shipflow("db", "import", str(DATA / "osv" / "records"), cwd=workdir, db=db).returncode == 0
    vex = workdir / "app.openvex.json"
    vex.write_text(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "@id": "https://example.com/vex/cli",
                "author": "tests",
                "timestamp": "2026-01-01T00:00:00Z",
                "version": 1,
                "statements": [
                    {
                        "vulnerability": {"name": "CVE-2021-23337"},
                        "products": [{"@id": "pkg:npm/lodash@4.17.15"}],
                        "status": "not_affected",
                        "justification": "vulnerable_code_not_in_execute_path",
                        "impact_statement": "templates are never compiled from input",
                    }
                ],
            }
        )
    )
    result = shipflow(
        "scan", str(workdir / "project"), "--vex", str(vex), "--format", "json", cwd=workdir, db=db
    )
    assert result.returncode == 0, result.stderr
    [suppressed] = json.loads(result.stdout)["suppressed"]
    assert suppressed["id"] == "GHSA-35jh-r3h4-6jhm"
    assert suppressed["suppression"]["kind"] == "vex"
    assert suppressed["suppression"]["reason"] == (
        "vulnerable_code_not_in_execute_path: templates are never compiled from input"
    )


def test_engine_trivy_is_wired(workdir: Path, shipflow: _InProcess) -> None:
    """trivy is not installed here: a stand-in on PATH prints a document in trivy's JSON shape
    (see tests/unit/scan/test_engines.py), which proves the command line, mapping and gate are joined."""
    from support.engine_reports import TRIVY

    bindir = workdir / "bin"
    bindir.mkdir()
    (workdir / "trivy.json").write_text(json.dumps(TRIVY))
    stub = bindir / "trivy"
    stub.write_text(f'#!/bin/sh\necho "$@" > {workdir / "trivy.args"}\ncat {workdir / "trivy.json"}\n')
    stub.chmod(0o755)
    path = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"
    project = str(workdir / "project")
    none_db = workdir / "none.db"
    result = shipflow(
        "scan",
        project,
        "--engine",
        "trivy",
        "--fail-on",
        "HIGH",
        "--format",
        "json",
        cwd=workdir,
        db=none_db,
        path=path,
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["engine"] == "trivy" and report["db"] is None
    assert {f["id"] for f in report["findings"]} == {"CVE-2021-23337", "CVE-2020-7598"}
    assert (workdir / "trivy.args").read_text().split()[:2] == ["fs", "--format"]

    missing = shipflow("scan", project, "--engine", "grype", cwd=workdir, db=none_db, path=str(bindir))
    assert missing.returncode == 2 and "not on PATH" in missing.stderr


def test_option_parsing() -> None:
    from datetime import timedelta

    from shipflow.cli.scan_cmds import parse_age, parse_levels
    from shipflow.errors import UsageError
    from shipflow.scan import Severity

    assert parse_age("7d") == timedelta(days=7)
    assert parse_age("12h") == timedelta(hours=12)
    assert parse_age("30") == timedelta(days=30)
    assert parse_age("off") is None
    with pytest.raises(UsageError):
        parse_age("a week")
    # A list means exactly those levels; one level means that level and above (grype's reading).
    assert parse_levels("critical, high", None) == frozenset({Severity.CRITICAL, Severity.HIGH})
    assert parse_levels("HIGH", None) == frozenset({Severity.CRITICAL, Severity.HIGH})
    assert parse_levels("low,critical", None) == frozenset({Severity.LOW, Severity.CRITICAL})
    assert parse_levels(None, "moderate") == frozenset({Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL})
    assert parse_levels(None, None) is None
    for bad in [("HIGH", "HIGH"), ("", None), ("HIGH,,LOW", None), ("urgent", None)]:
        with pytest.raises(UsageError):
            parse_levels(*bad)


def test_step_summary_and_stale_db_warning(
    workdir: Path, shipflow: _InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from shipflow.cli import scan_cmds

    db = workdir / "advisories.db"
    assert shipflow("db", "import", str(DATA / "osv" / "records"), cwd=workdir, db=db).returncode == 0
    summary = workdir / "summary.md"
    a_month_later = datetime.now(UTC) + timedelta(days=30)
    real_options = scan_cmds.ScanOptions
    monkeypatch.setattr(scan_cmds, "ScanOptions", lambda **kw: real_options(**kw, now=a_month_later))
    result = shipflow(
        "scan", str(workdir / "project"), cwd=workdir, db=db, env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert result.returncode == 0
    assert "days old" in result.stderr
    text = summary.read_text()
    assert "### Vulnerability scan" in text and "GHSA-p6mc-m468-83gw" in text
