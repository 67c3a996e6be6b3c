""" "Not read" warnings from cataloging to every output: the scan report in all four formats
(the JSON against its schema, the SARIF against the official 2.1.0 schema), the SBOMs
(validated by spdx-tools and the CycloneDX validator) and back from them, and the same
treatment by the catalogers that existed before (dpkg, apk, npm, python)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import jsonschema
import pytest

from shipflow.errors import UnsafeContentError
from shipflow.sbom import SbomFormat, catalog_directory, render
from shipflow.sbom.model import Inventory
from shipflow.scan import AdvisoryDB, OutputFormat, import_paths, scan_inventory
from shipflow.scan import render as render_report
from shipflow.scan._sbom_input import read_sbom
from shipflow.scan.reports.json_report import SCHEMA_FILE
from support.paths import DATA_DIR
from support.sbom import validate_cyclonedx, validate_spdx

SARIF_SCHEMA = json.loads((DATA_DIR / "scan" / "sarif-schema-2.1.0.json").read_text())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A source tree with one good lock file (dev dependencies in it) and two broken ones."""
    root = tmp_path / "project"
    (root / "web").mkdir(parents=True)
    for name in ("package.json", "yarn.lock"):
        (root / "web" / name).write_bytes((DATA_DIR / "lockfiles" / "yarn-v1" / name).read_bytes())
    (root / "api").mkdir()
    (root / "api" / "Pipfile.lock").write_text('{"default": {"requests": ')
    (root / "pnpm-lock.yaml").write_text("lockfileVersion: '9.0'\npackages: [unclosed\n")
    return root


@pytest.fixture
def inventory(project: Path) -> Inventory:
    return catalog_directory(project)


def test_inventory_lists_what_was_not_read(inventory: Inventory) -> None:
    assert len(inventory.packages) == 82 and sum(p.dev for p in inventory.packages) == 3
    assert [(n.location.path, n.cataloger) for n in inventory.sorted_not_read()] == [
        ("api/Pipfile.lock", "pipfile-lock"),
        ("pnpm-lock.yaml", "pnpm-lock"),
    ]
    assert all(n.reason.startswith("not valid") for n in inventory.not_read)


def test_every_report_format_says_so(inventory: Inventory, tmp_path: Path) -> None:
    import_paths([DATA_DIR / "osv" / "records"], tmp_path / "adv.db")
    with contextlib.closing(AdvisoryDB.open(tmp_path / "adv.db")) as db:
        report = scan_inventory(inventory, db)
    assert [n.location.path for n in report.not_read] == ["api/Pipfile.lock", "pnpm-lock.yaml"]

    data = json.loads(render_report(report, OutputFormat.JSON))
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["notRead"][0] == {
        "path": "api/Pipfile.lock",
        "layer": None,
        "cataloger": "pipfile-lock",
        "reason": inventory.sorted_not_read()[0].reason,
    }

    sarif = json.loads(render_report(report, OutputFormat.SARIF))
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    [invocation] = sarif["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is True
    notes = invocation["toolExecutionNotifications"]
    assert [n["level"] for n in notes] == ["warning", "warning"]
    assert notes[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "pnpm-lock.yaml"

    markdown = render_report(report, OutputFormat.MARKDOWN)
    assert "**Not read** (2)" in markdown and "| `api/Pipfile.lock` | — | pipfile-lock |" in markdown
    table = render_report(report, OutputFormat.TABLE)
    assert "not read: pnpm-lock.yaml [pnpm-lock]: not valid YAML" in table


def test_sarif_of_a_clean_scan_has_no_notifications(tmp_path: Path) -> None:
    import_paths([DATA_DIR / "osv" / "records"], tmp_path / "adv.db")
    with contextlib.closing(AdvisoryDB.open(tmp_path / "adv.db")) as db:
        report = scan_inventory(Inventory(subject="x"), db)
    sarif = json.loads(render_report(report, OutputFormat.SARIF))
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    assert sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"] == []


def test_spdx_annotations_and_dev_relationships_round_trip(inventory: Inventory, tmp_path: Path) -> None:
    text = render(inventory, SbomFormat.SPDX_JSON)
    document = validate_spdx(text, tmp_path)
    root = document["packages"][0]  # type: ignore[index]
    comments = [a["comment"] for a in root["annotations"]]
    assert len(comments) == 2 and all(c.startswith("shipflow:not-read {") for c in comments)
    dev = [r for r in document["relationships"] if r["relationshipType"] == "DEV_DEPENDENCY_OF"]  # type: ignore[union-attr, index]
    assert len(dev) == 3
    path = tmp_path / "sbom.spdx.json"
    path.write_text(text)
    back = read_sbom(path).inventory
    assert back.sorted_not_read() == inventory.sorted_not_read()


def test_cyclonedx_properties_and_scope_round_trip(inventory: Inventory, tmp_path: Path) -> None:
    text = render(inventory, SbomFormat.CYCLONEDX_JSON)
    document = validate_cyclonedx(text)
    properties = {p["name"]: p["value"] for p in document["metadata"]["properties"]}  # type: ignore[index]
    assert properties["shipflow:not-read:0:path"] == "api/Pipfile.lock"
    assert properties["shipflow:not-read:1:cataloger"] == "pnpm-lock"
    excluded = {c["name"] for c in document["components"] if c.get("scope") == "excluded"}  # type: ignore[union-attr]
    assert excluded == {"mkdirp", "semver", "minimist"}
    path = tmp_path / "sbom.cdx.json"
    path.write_text(text)
    back = read_sbom(path).inventory
    assert back.sorted_not_read() == inventory.sorted_not_read()
    assert {p.name for p in back.packages if p.dev} == excluded


@pytest.mark.parametrize(
    ("path", "content", "cataloger", "reason"),
    [
        ("var/lib/dpkg/status", b"\x00\x01\x02 binary garbage \xff\xfe\n\x00", "dpkg", "no stanza"),
        ("lib/apk/db/installed", b"garbage without records\n", "apk", "no record"),
        (
            "app/node_modules/left-pad/package.json",
            b'{"name": "left-pad", "version": ',
            "npm",
            "not valid JSON",
        ),
        ("app/node_modules/left-pad/package.json", b'{"name": "left-pad"}', "npm", 'no "name" and "version"'),
        (
            "usr/lib/python3/dist-packages/x-1.0.dist-info/METADATA",
            b"Summary: no name\n",
            "python",
            "no Name",
        ),
    ],
)
def test_existing_catalogers_report_unreadable_records(
    tmp_path: Path, path: str, content: bytes, cataloger: str, reason: str
) -> None:
    (tmp_path / path).parent.mkdir(parents=True)
    (tmp_path / path).write_bytes(content)
    inventory = catalog_directory(tmp_path)
    assert inventory.packages == []
    [item] = inventory.not_read
    assert (item.location.path, item.cataloger) == (path, cataloger) and reason in item.reason


def test_a_lock_file_over_the_size_cap_is_a_clean_error(tmp_path: Path) -> None:
    with (tmp_path / "yarn.lock").open("wb") as handle:
        handle.truncate(65 * 1024**2)  # sparse: over the 64 MiB cap for a package file
    with pytest.raises(UnsafeContentError, match="byte limit"):
        catalog_directory(tmp_path)
