"""scan_inventory on real OSV records: per-ecosystem matching, release awareness, severity,
fixed versions, ignore files (with expiry), .trivyignore, OpenVEX, --ignore-unfixed, the gate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shipflow.errors import ConfigError, UsageError
from shipflow.sbom.model import Distro, Inventory, Package
from shipflow.scan import (
    AdvisoryDB,
    IgnoreRules,
    ScanOptions,
    Severity,
    VexIndex,
    evaluate_gate,
    import_paths,
    load_ignore_file,
    load_openvex,
    scan_inventory,
)
from support.paths import DATA_DIR

OSV = DATA_DIR / "osv"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[AdvisoryDB]:
    import_paths([OSV / "records", OSV / "derived"], tmp_path / "adv.db")
    handle = AdvisoryDB.open(tmp_path / "adv.db")
    yield handle
    handle.close()


def _inventory(*packages: Package, distro: Distro | None = None) -> Inventory:
    return Inventory(
        subject="test", subject_digest="sha256:" + "a" * 64, distro=distro, packages=list(packages)
    )


LODASH = Package("lodash", "4.17.15", "npm", "pkg:npm/lodash@4.17.15")
MINIMIST = Package("minimist", "1.2.0", "npm", "pkg:npm/minimist@1.2.0")
URLLIB3 = Package("urllib3", "1.26.4", "pypi", "pkg:pypi/urllib3@1.26.4")
JINJA = Package("Jinja2", "2.11.2", "pypi", "pkg:pypi/jinja2@2.11.2")
XTEXT = Package("golang.org/x/text", "v0.3.7", "golang", "pkg:golang/golang.org/x/text@v0.3.7")


def _ids(report_findings: object) -> set[tuple[str, str]]:
    return {(f.advisory_id, f.package.name) for f in report_findings}  # type: ignore[attr-defined]


def test_language_packages_match_with_fixed_versions_and_severity(db: AdvisoryDB) -> None:
    report = scan_inventory(_inventory(LODASH, MINIMIST, URLLIB3, JINJA, XTEXT), db, ScanOptions(now=NOW))
    by_id = {f.advisory_id: f for f in report.findings}
    assert set(by_id) == {
        "GHSA-p6mc-m468-83gw", "GHSA-35jh-r3h4-6jhm", "GHSA-vh95-rmgr-6w4m",
        "PYSEC-2021-108", "PYSEC-2021-66", "GO-2022-1059",
    }  # fmt: skip
    assert by_id["GHSA-p6mc-m468-83gw"].fixed_versions == ("4.17.20",)
    assert by_id["GHSA-p6mc-m468-83gw"].severity is Severity.HIGH  # CVSS 7.4
    assert by_id["GHSA-p6mc-m468-83gw"].cvss_score == 7.4
    assert by_id["GHSA-35jh-r3h4-6jhm"].fixed_versions == ("4.17.21",)
    assert by_id["GHSA-35jh-r3h4-6jhm"].severity is Severity.HIGH  # CVSS 7.2
    # minimist 1.2.0 is in the second introduced/fixed pair, fixed in 1.2.3, CVSS 5.6.
    assert by_id["GHSA-vh95-rmgr-6w4m"].fixed_versions == ("1.2.3",)
    assert by_id["GHSA-vh95-rmgr-6w4m"].severity is Severity.MEDIUM
    assert by_id["PYSEC-2021-108"].fixed_versions == ("1.26.5",)
    assert by_id["PYSEC-2021-66"].fixed_versions == ("2.11.3",)
    # No CVSS vector and no rating in these records: UNKNOWN, not a guess.
    assert by_id["PYSEC-2021-66"].severity is Severity.UNKNOWN
    assert by_id["GO-2022-1059"].fixed_versions == ("0.3.8",)
    assert report.findings[0].severity is Severity.HIGH  # sorted, highest first
    assert report.db is not None and report.db.identity == db.info.identity
    assert report.subject_digest == "sha256:" + "a" * 64


def test_fixed_versions_do_not_match(db: AdvisoryDB) -> None:
    safe = [
        Package("lodash", "4.17.21", "npm", "pkg:npm/lodash@4.17.21"),
        Package("minimist", "0.2.1", "npm", "pkg:npm/minimist@0.2.1"),
        Package("urllib3", "1.26.5", "pypi", "pkg:pypi/urllib3@1.26.5"),
        Package("golang.org/x/text", "v0.3.8", "golang", "pkg:golang/golang.org/x/text@v0.3.8"),
    ]
    assert scan_inventory(_inventory(*safe), db, ScanOptions(now=NOW)).findings == []


def test_os_packages_match_by_source_package_and_release(db: AdvisoryDB) -> None:
    libc = Package(
        "libc6", "2.36-9+deb12u1", "deb", "pkg:deb/debian/libc6@2.36-9+deb12u1?distro=debian-12",
        source_name="glibc",
    )  # fmt: skip
    bookworm = scan_inventory(_inventory(libc, distro=Distro("debian", "12.1")), db, ScanOptions(now=NOW))
    [finding] = bookworm.findings
    assert (finding.advisory_id, finding.fixed_versions) == ("DSA-5514-1", ("2.36-9+deb12u3",))
    assert finding.package.ecosystem == "Debian:12"
    patched = Package(
        "libc6", "2.36-9+deb12u3", "deb", "pkg:deb/debian/libc6@2.36-9+deb12u3", source_name="glibc"
    )
    assert scan_inventory(_inventory(patched, distro=Distro("debian", "12")), db).findings == []

    busybox = Package("busybox", "1.30.1-r1", "apk", "pkg:apk/alpine/busybox@1.30.1-r1")
    on_310 = scan_inventory(_inventory(busybox, distro=Distro("alpine", "3.10.2")), db, ScanOptions(now=NOW))
    assert _ids(on_310.findings) == {("ALPINE-CVE-2019-5747", "busybox")}
    # The same package on another Alpine branch is not judged by v3.10's advisory.
    on_311 = scan_inventory(_inventory(busybox, distro=Distro("alpine", "3.11.0")), db, ScanOptions(now=NOW))
    assert on_311.findings == []
    # Without a distribution release an OS package cannot be matched; the report says so.
    unknown = scan_inventory(_inventory(busybox), db, ScanOptions(now=NOW))
    assert unknown.findings == [] and any("distribution release" in n for n in unknown.notes)


def test_shipflowignore_suppresses_until_it_expires(db: AdvisoryDB, tmp_path: Path) -> None:
    ignore = tmp_path / ".shipflowignore.yaml"
    ignore.write_text(
        "ignore:\n"
        "  - id: CVE-2020-8203\n"
        "    reason: zipObjectDeep is never called with user input\n"
        "    expires: 2026-12-31\n"
        "    package: lodash\n"
        "  - id: GHSA-35jh-r3h4-6jhm\n"
        "    reason: template() unused\n"
        "    purl: pkg:npm/lodash@4.17.15\n"
    )
    rules = IgnoreRules(load_ignore_file(ignore))
    active = scan_inventory(_inventory(LODASH), db, ScanOptions(ignore=rules, now=NOW))
    assert active.findings == []
    reasons = {s.finding.advisory_id: s.suppression for s in active.suppressed}
    assert reasons["GHSA-p6mc-m468-83gw"].reason.startswith("zipObjectDeep")
    assert reasons["GHSA-p6mc-m468-83gw"].expires == "2026-12-31"
    later = scan_inventory(_inventory(LODASH), db, ScanOptions(ignore=rules, now=NOW + timedelta(days=365)))
    assert _ids(later.findings) == {("GHSA-p6mc-m468-83gw", "lodash")}
    assert any("expired on 2026-12-31" in n for n in later.notes)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("ignore:\n  - id: CVE-1\n", "reason"),
        ("ignore:\n  - reason: x\n", "id"),
        ("ignore:\n  - id: CVE-1\n    reason: x\n    expires: someday\n", "expires"),
        ("ignore:\n  - id: CVE-1\n    reason: x\n    colour: red\n", "unknown keys"),
        ("ignore: 3\n", "list"),
        ("ignore: [\n", r"not valid YAML: line 2, column 1"),
    ],
)
def test_bad_ignore_files_are_usage_errors(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / ".shipflowignore.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as caught:
        load_ignore_file(path)
    assert caught.value.exit_code == 2


def test_trivyignore(db: AdvisoryDB, tmp_path: Path) -> None:
    path = tmp_path / ".trivyignore"
    path.write_text(
        "# accepted\nCVE-2020-7598  # minimist is only used by our build\nCVE-2021-23337 exp:2026-01-01\n"
    )
    report = scan_inventory(
        _inventory(LODASH, MINIMIST), db, ScanOptions(ignore=IgnoreRules(load_ignore_file(path)), now=NOW)
    )
    assert _ids(report.findings) == {("GHSA-p6mc-m468-83gw", "lodash"), ("GHSA-35jh-r3h4-6jhm", "lodash")}
    [suppressed] = report.suppressed
    assert suppressed.suppression.kind == "trivyignore"
    assert suppressed.suppression.reason == "minimist is only used by our build"
    assert any("CVE-2021-23337" in n and "expired" in n for n in report.notes)


def test_openvex_not_affected_suppresses_and_later_affected_takes_it_back(
    db: AdvisoryDB, tmp_path: Path
) -> None:
    document = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/1",
        "author": "shipflow tests",
        "timestamp": "2026-01-01T00:00:00Z",
        "version": 1,
        "statements": [
            {
                "vulnerability": {"name": "CVE-2020-8203"},
                "products": [{"@id": "pkg:npm/lodash@4.17.15"}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
            },
            {
                "vulnerability": {"name": "GHSA-vh95-rmgr-6w4m"},
                "products": [
                    {
                        "@id": "pkg:oci/app@sha256%3A" + "a" * 64,
                        "subcomponents": [{"@id": "pkg:npm/minimist"}],
                    }
                ],
                "status": "not_affected",
                "justification": "inline_mitigations_already_exist",
                "timestamp": "2026-01-02T00:00:00Z",
            },
            {
                "vulnerability": {"name": "CVE-2020-7598"},
                "products": [{"@id": "pkg:npm/minimist@1.2.0"}],
                "status": "affected",
                "timestamp": "2026-01-03T00:00:00Z",
            },
            {
                "vulnerability": {"name": "CVE-2021-23337"},
                "products": [{"@id": "pkg:npm/lodash@4.17.21"}],
                "status": "not_affected",
                "justification": "component_not_present",
            },
        ],
    }
    path = tmp_path / "app.openvex.json"
    path.write_text(json.dumps(document))
    vex = VexIndex(load_openvex(path))
    report = scan_inventory(_inventory(LODASH, MINIMIST), db, ScanOptions(vex=vex, now=NOW))
    # lodash CVE-2020-8203 suppressed by alias; minimist suppression revoked by the later
    # "affected"; CVE-2021-23337 names another lodash version, so it still counts.
    assert _ids(report.findings) == {("GHSA-35jh-r3h4-6jhm", "lodash"), ("GHSA-vh95-rmgr-6w4m", "minimist")}
    [suppressed] = report.suppressed
    assert suppressed.suppression.kind == "vex"
    assert suppressed.suppression.reason == "vulnerable_code_not_in_execute_path"


def test_bad_vex_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"statements": [{"vulnerability": {"name": "X"}, "status": "maybe"}]}))
    with pytest.raises(ConfigError, match="unknown status"):
        load_openvex(path)


def test_ignore_unfixed(db: AdvisoryDB, tmp_path: Path) -> None:
    src = tmp_path / "unfixed"
    src.mkdir()
    (src / "u.json").write_text(
        json.dumps(
            {
                "id": "DEBIAN-CVE-2099-0001",
                "modified": "2026-01-01T00:00:00Z",
                "affected": [
                    {
                        "package": {"ecosystem": "Debian:12", "name": "glibc"},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                        "ecosystem_specific": {"urgency": "low"},
                    }
                ],
            }
        )
    )
    import_paths([src], Path(db.path))
    fresh = AdvisoryDB.open(Path(db.path))
    libc = Package(
        "libc6", "2.36-9+deb12u3", "deb", "pkg:deb/debian/libc6@2.36-9+deb12u3", source_name="glibc"
    )
    inventory = _inventory(libc, distro=Distro("debian", "12"))
    plain = scan_inventory(inventory, fresh, ScanOptions(now=NOW))
    assert [(f.advisory_id, f.severity, f.fixed_versions) for f in plain.findings] == [
        ("DEBIAN-CVE-2099-0001", Severity.LOW, ())
    ]
    dropped = scan_inventory(inventory, fresh, ScanOptions(ignore_unfixed=True, now=NOW))
    assert dropped.findings == [] and dropped.suppressed[0].suppression.kind == "unfixed"
    fresh.close()


def test_gate_thresholds(db: AdvisoryDB) -> None:
    report = scan_inventory(_inventory(LODASH, MINIMIST, JINJA), db, ScanOptions(now=NOW))
    high = evaluate_gate(report, Severity.HIGH)
    assert not high.passed and {f.advisory_id for f in high.failing} == {
        "GHSA-p6mc-m468-83gw", "GHSA-35jh-r3h4-6jhm",
    }  # fmt: skip
    assert high.db_identity == db.info.identity
    assert evaluate_gate(report, {Severity.CRITICAL}).passed
    assert not evaluate_gate(report, {Severity.CRITICAL, Severity.MEDIUM}).passed
    assert Severity.UNKNOWN not in evaluate_gate(report, Severity.LOW).fail_on
    assert not evaluate_gate(report, Severity.UNKNOWN).passed  # PYSEC-2021-66 is UNKNOWN
    with pytest.raises(UsageError):
        Severity.parse("SEVERE")


def test_stale_database_is_noted(db: AdvisoryDB) -> None:
    report = scan_inventory(_inventory(LODASH), db, ScanOptions(now=datetime.now(UTC) + timedelta(days=30)))
    assert any("days old" in n for n in report.notes)
    fresh = scan_inventory(_inventory(LODASH), db, ScanOptions(max_db_age=timedelta(days=60)))
    assert not any("days old" in n for n in fresh.notes)
