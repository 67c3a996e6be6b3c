"""The advisory database: import from files, directories and zips; upsert by modified;
atomic on failure; status; identity; missing or corrupt database errors."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from shipflow.errors import ConfigError, InfrastructureError
from shipflow.scan.db import AdvisoryDB, default_db_path, import_paths
from support.paths import DATA_DIR

OSV = DATA_DIR / "osv"


def _record(advisory_id: str, modified: str, fixed: str = "1.0.1", **extra: object) -> dict[str, object]:
    return {
        "id": advisory_id,
        "modified": modified,
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "Some_Package"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
        **extra,
    }


def test_import_directory_of_json_and_yaml(tmp_path: Path) -> None:
    result = import_paths([OSV / "records", OSV / "derived"], tmp_path / "a.db")
    assert result.added == 8 and result.updated == 0
    info = result.info
    assert info.advisories == 8
    assert info.per_ecosystem == {
        "npm": 3, "PyPI": 2, "Go": 1, "Alpine:v3.10": 1, "Debian:11": 1, "Debian:12": 1,
    }  # fmt: skip
    assert info.identity.startswith("sha256:") and len(info.identity) == 71
    assert info.newest_modified == "2023-10-03T00:00:00Z"
    assert len(info.sources) == 2


def test_import_zip_as_osv_dev_publishes(tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in (OSV / "records").glob("*.json"):
            zf.write(path, path.name)
    result = import_paths([archive], tmp_path / "z.db")
    assert result.added == 4
    db = AdvisoryDB.open(tmp_path / "z.db")
    hits = db.lookup("npm", "lodash")
    assert {h.advisory.id for h in hits} == {"GHSA-p6mc-m468-83gw", "GHSA-35jh-r3h4-6jhm"}
    db.close()


def test_upsert_keeps_newest_modified_and_identity_follows(tmp_path: Path) -> None:
    db_path = tmp_path / "u.db"
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.json").write_text(json.dumps(_record("X-1", "2024-01-01T00:00:00Z")))
    first = import_paths([src], db_path)
    (src / "a.json").write_text(json.dumps(_record("X-1", "2023-01-01T00:00:00Z", fixed="9.9")))
    older = import_paths([src], db_path)
    assert older.unchanged == 1 and older.info.identity == first.info.identity
    (src / "a.json").write_text(json.dumps(_record("X-1", "2025-01-01T00:00:00Z", fixed="2.0")))
    newer = import_paths([src], db_path)
    assert newer.updated == 1 and newer.info.identity != first.info.identity
    db = AdvisoryDB.open(db_path)
    [hit] = db.lookup("PyPI", "some-package")  # PEP 503 normalised
    assert hit.entry["ranges"][0]["events"][1] == {"fixed": "2.0"}
    db.close()
    (src / "a.json").write_text(
        json.dumps(_record("X-1", "2026-01-01T00:00:00Z", withdrawn="2026-01-01T00:00:00Z"))
    )
    assert import_paths([src], db_path).withdrawn == 1
    assert AdvisoryDB.open(db_path).info.advisories == 0


def test_failed_import_leaves_database_untouched(tmp_path: Path) -> None:
    db_path = tmp_path / "t.db"
    before = import_paths([OSV / "records"], db_path).info
    bad = tmp_path / "bad"
    shutil.copytree(OSV / "derived", bad)
    (bad / "zz-broken.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"zz-broken\.json"):
        import_paths([bad], db_path)
    after = AdvisoryDB.open(db_path).info
    assert (after.identity, after.advisories) == (before.identity, before.advisories)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".advisories-")] == []


def test_not_an_osv_record_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"hello": "world"}))
    with pytest.raises(ConfigError, match="OSV record"):
        import_paths([tmp_path / "x.json"], tmp_path / "n.db")
    assert not (tmp_path / "n.db").exists()


def test_missing_database_is_an_infrastructure_error_with_hint(tmp_path: Path) -> None:
    with pytest.raises(InfrastructureError) as caught:
        AdvisoryDB.open(tmp_path / "nope.db")
    assert caught.value.exit_code == 3
    assert "shipflow db import" in (caught.value.hint or "")


def test_corrupt_database_is_an_infrastructure_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InfrastructureError, match=r"unreadable|not a shipflow"):
        AdvisoryDB.open(path)


def test_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SHIPFLOW_DB", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_db_path() == tmp_path / "shipflow" / "advisories.db"
    monkeypatch.setenv("SHIPFLOW_DB", str(tmp_path / "x.db"))
    assert default_db_path() == tmp_path / "x.db"
