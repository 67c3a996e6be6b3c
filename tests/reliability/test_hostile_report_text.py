"""Text from outside in ``scan --format table`` reports is printed as it is, never read as rich
markup: ``[b]`` stays ``[b]`` (it used to vanish) and ``[/x]`` no longer raises
``MarkupError`` (it used to crash ``--format table -o FILE``, the file console of
``scan/reports/table.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shipflow.sbom.model import Location, NotRead
from shipflow.scan.model import Finding, PackageRef, ScanReport
from shipflow.scan.reports.table import report_to_text
from shipflow.scan.severity import Severity
from support.cli import InProcessCli
from support.paths import DATA_DIR

HOSTILE = "[b]bold[/b] [/x] [red]red[/red] :smile:"


def _report() -> ScanReport:
    package = PackageRef(
        name="[b]evil[/x]", version="1.0[/x]", type="npm", purl="pkg:npm/evil@1.0", ecosystem="npm"
    )
    finding = Finding(
        advisory_id="GHSA-[b]x[/x]",
        aliases=("CVE-[/x]",),
        package=package,
        severity=Severity.HIGH,
        summary=HOSTILE,
        fixed_versions=("2.0[/x]",),
    )
    return ScanReport(
        subject="/srv/[b]app[/x]",
        subject_digest=None,
        engine="shipflow",
        db=None,
        started_at="2026-12-01T00:00:00Z",
        finished_at="2026-12-01T00:00:01Z",
        packages_scanned=1,
        findings=[finding],
        notes=["note with [/x] and [b]"],
        not_read=[NotRead(Location("/app/[b]yarn.lock[/x]"), "yarn-lock", "not valid YAML [/x]")],
    )


def test_table_text_prints_markup_and_emoji_codes_as_typed() -> None:
    text = report_to_text(_report(), width=400)
    for typed in (
        "/srv/[b]app[/x]",
        "[b]evil[/x]",
        "1.0[/x]",
        "2.0[/x]",
        "GHSA-[b]x[/x]",
        "CVE-[/x]",
        HOSTILE,
        "note: note with [/x] and [b]",
        "not read: /app/[b]yarn.lock[/x] [yarn-lock]: not valid YAML [/x]",
    ):
        assert typed in text, f"{typed!r} was not printed as typed:\n{text}"
    assert "😄" not in text


def test_scan_format_table_to_a_file_keeps_markup_in_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``shipflow scan DIR --format table -o FILE`` of a real project in a directory whose name
    holds ``[b]`` and ``[/x]``: exit 0 and the path in the file, as typed."""
    shipflow = InProcessCli(monkeypatch, capsys)
    db = tmp_path / "advisories.db"
    imported = shipflow("db", "import", str(DATA_DIR / "osv" / "records"), cwd=tmp_path, db=db)
    assert imported.returncode == 0, imported.stderr
    project = tmp_path / "[b]proj[" / "x]"
    shutil.copytree(DATA_DIR / "osv" / "project", project)
    out = tmp_path / "report.txt"
    scanned = shipflow("scan", str(project), "--format", "table", "-o", str(out), cwd=tmp_path, db=db)
    assert scanned.returncode == 0, scanned.stderr
    text = out.read_text()
    assert str(project) in text, text
    assert "lodash" in text and "Traceback" not in scanned.stderr
