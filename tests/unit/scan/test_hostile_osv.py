"""OSV input (issue 11 items 3 and 4): records are checked against the OSV schema's shape at
import (a bad one is skipped and reported, never breaking the database or a later scan), a
malformed range already stored by an older shipflow is reported by the matcher instead of
crashing it, and record files and zips are bounded in size and depth."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shipflow.errors import ConfigError, UsageError
from shipflow.sbom.model import Inventory, Package
from shipflow.scan import AdvisoryDB, ScanOptions, import_paths, scan_inventory
from shipflow.scan import _osv_source as osv_source
from shipflow.scan._osv_source import record_problem
from shipflow.scan._ranges import evaluate, parse_entry
from shipflow.scan.versions import scheme_for

OSV = Path(__file__).resolve().parents[2] / "data" / "osv"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
LODASH = Package("lodash", "4.17.15", "npm", "pkg:npm/lodash@4.17.15")


def _record(advisory_id: str, events: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": advisory_id,
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": "lodash"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
        **extra,
    }


def test_a_record_with_events_as_a_string_is_skipped_and_reported(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "bad.json").write_text(json.dumps(_record("BAD-1", "introduced")))
    (src / "good.json").write_text(json.dumps(_record("GOOD-1", [{"introduced": "0"}, {"fixed": "4.17.20"}])))
    result = import_paths([src], tmp_path / "db")
    assert (result.added, result.skipped, result.rejected) == (1, 1, 1)
    [problem] = result.problems
    assert "bad.json: BAD-1 is not a valid OSV record" in problem
    assert "affected[0].ranges[0].events must be a non-empty list" in problem
    db = AdvisoryDB.open(tmp_path / "db")
    try:
        report = scan_inventory(Inventory("t", None, packages=[LODASH]), db, ScanOptions(now=NOW))
    finally:
        db.close()
    assert [f.advisory_id for f in report.findings] == ["GOOD-1"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": ""}, "id must not be empty"),
        ({"modified": "yesterday"}, "modified must be an RFC 3339 timestamp"),
        ({"modified": None}, "modified must be a string"),
        ({"aliases": "CVE-1"}, "aliases must be a list"),
        ({"aliases": [1]}, r"aliases\[0\] must be a string"),
        ({"severity": [{"type": "CVSS_V3"}]}, r"severity\[0\]\.score must be a string"),
        ({"affected": {"package": {}}}, "affected must be a list"),
        ({"affected": [{"package": {"ecosystem": "npm"}}]}, r"affected\[0\]\.package\.name must be a string"),
        ({"affected": [{"versions": ["1", 2]}]}, r"affected\[0\]\.versions\[1\] must be a string"),
        (
            {"affected": [{"ranges": [{"type": "NUMERIC", "events": [{"introduced": "0"}]}]}]},
            "type must be one of",
        ),
        (
            {"affected": [{"ranges": [{"type": "GIT", "events": [{"introduced": "0"}]}]}]},
            r"repo must be a string",
        ),
        (
            {"affected": [{"ranges": [{"type": "SEMVER", "events": [{"fixed": "1"}]}]}]},
            "no 'introduced' event",
        ),
        (
            {"affected": [{"ranges": [{"type": "SEMVER", "events": [{"introduced": 0}]}]}]},
            "introduced must be a string",
        ),
        (
            {"affected": [{"ranges": [{"type": "SEMVER", "events": [{"introduced": "0", "fixed": "1"}]}]}]},
            "exactly one of",
        ),
        ({"references": [{"url": 5}]}, r"references\[0\]\.url must be a string"),
    ],
)
def test_record_shape_problems_are_named(change: dict[str, Any], reason: str) -> None:
    record = {**_record("X-1", [{"introduced": "0"}]), **change}
    problem = record_problem(record)
    assert problem is not None and re.search(reason, problem), problem


def test_the_fixture_records_have_the_schema_shape() -> None:
    from shipflow.scan._osv_source import read_records

    records = [item.record for path in (OSV / "records", OSV / "derived") for item in read_records(path)]
    assert len(records) == 8
    assert [record_problem(r) for r in records] == [None] * 8


def test_an_old_database_with_a_malformed_range_does_not_break_a_scan(tmp_path: Path) -> None:
    """A record imported before validation existed: the entry is stored as it came."""
    db_path = tmp_path / "old.db"
    import_paths([OSV / "records"], db_path)
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "UPDATE affected SET entry = ? WHERE advisory_id = 'GHSA-p6mc-m468-83gw' AND name = 'lodash'",
            (json.dumps({"ranges": [{"type": "ECOSYSTEM", "events": "introduced"}]}),),
        )
        conn.execute(
            "UPDATE affected SET entry = ? WHERE advisory_id = 'GHSA-35jh-r3h4-6jhm' AND name = 'lodash'",
            ("{not json",),
        )
    db = AdvisoryDB.open(db_path)
    try:
        report = scan_inventory(Inventory("t", None, packages=[LODASH]), db, ScanOptions(now=NOW))
    finally:
        db.close()
    assert report.findings == []  # neither entry can be evaluated ...
    notes = "\n".join(report.notes)
    assert "GHSA-p6mc-m468-83gw: malformed range skipped ('events' is a str" in notes  # ... and it says so
    assert "GHSA-35jh-r3h4-6jhm: the affected entry is missing" in notes


@pytest.mark.parametrize(
    "entry",
    [
        {"ranges": [{"type": "ECOSYSTEM", "events": "introduced"}]},
        {"ranges": [{"type": "ECOSYSTEM", "events": ["introduced"]}]},
        {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": 1}]}]},
        {"ranges": "ECOSYSTEM"},
        {"ranges": [7]},
        {"versions": "4.17.15"},
        [],
        None,
    ],
)
def test_evaluate_never_raises_on_a_malformed_entry(entry: Any) -> None:
    verdict = evaluate("4.17.15", parse_entry(entry, label="X-1"), scheme_for("npm"))
    assert not verdict.affected
    assert verdict.problem is not None and verdict.problem.startswith("X-1: ")


def test_deeply_nested_record_is_one_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ConfigError, match=r"deep\.json is nested more than 128 levels deep") as caught:
        import_paths([path], tmp_path / "db")
    assert caught.value.exit_code == 2
    yaml_path = tmp_path / "deep.yaml"
    yaml_path.write_text("id: X\nmodified: '2024-01-01T00:00:00Z'\nx: " + "[" * 100_000)
    with pytest.raises(ConfigError, match=r"deep\.yaml is nested more than"):
        import_paths([yaml_path], tmp_path / "db")
    assert not (tmp_path / "db").exists()


def test_record_files_are_capped(tmp_path: Path) -> None:
    fifo = tmp_path / "a.json"
    os.mkfifo(fifo)  # before the fix: blocked forever sniffing it for a zip
    with pytest.raises(ConfigError, match="not a regular file"):
        import_paths([fifo], tmp_path / "db")
    big = tmp_path / "big.yaml"
    with open(big, "wb") as handle:
        handle.truncate(osv_source.MAX_YAML_RECORD_BYTES + 1)
    with pytest.raises(UsageError, match="more than the limit"):
        import_paths([big], tmp_path / "db")


def test_zip_members_and_totals_are_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for index in range(3):
            zf.writestr(
                f"R-{index}.json", json.dumps(_record(f"R-{index}", [{"introduced": "0"}])) + " " * 5000
            )
    monkeypatch.setattr(osv_source, "MAX_RECORD_BYTES", 4000)
    with pytest.raises(ConfigError, match=r"all\.zip!R-0\.json is \d+ bytes, too large"):
        import_paths([archive], tmp_path / "db")
    monkeypatch.setattr(osv_source, "MAX_RECORD_BYTES", 1 << 20)
    monkeypatch.setattr(osv_source, "MAX_ARCHIVE_BYTES", 12_000)
    with pytest.raises(ConfigError, match="expands to more than 12000 bytes"):
        import_paths([archive], tmp_path / "db")


def test_a_zip_member_lying_about_its_size_is_caught(tmp_path: Path) -> None:
    """A zip whose directory claims a small size for a member that inflates larger."""
    archive = tmp_path / "lie.zip"
    content = json.dumps(_record("L-1", [{"introduced": "0"}])).encode() + b" " * 100_000
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("L-1.json", content)
    data = bytearray(archive.read_bytes())
    real = len(content).to_bytes(4, "little")
    assert data.count(real) == 2  # the local header and the central directory entry
    archive.write_bytes(bytes(data).replace(real, (100).to_bytes(4, "little")))
    with pytest.raises(ConfigError, match=r"cannot read .*lie\.zip!L-1\.json"):
        import_paths([archive], tmp_path / "db")


def test_a_gzip_named_zip_says_what_it_is(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "all.zip"
    path.write_bytes(gzip.compress(b'{"id": "X"}'))
    with pytest.raises(ConfigError, match=r"this is gzip data, not a zip archive"):
        import_paths([path], tmp_path / "db")


def test_yaml_timestamps_are_stored_as_rfc3339(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "id: Y-1\nmodified: 2024-02-03T04:05:06Z\naffected:\n  - package: {ecosystem: npm, name: lodash}\n"
        "    ranges: [{type: ECOSYSTEM, events: [{introduced: '0'}]}]\n"
    )
    result = import_paths([path], tmp_path / "db")
    assert result.added == 1 and result.info.newest_modified == "2024-02-03T04:05:06Z"
