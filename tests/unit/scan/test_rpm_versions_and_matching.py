"""RPM on the scanning side: rpm's own version-comparison vectors (tests/data/versions, from
rpm's tests/rpmvercmp.at), epoch:version-release ordering, the OSV ecosystems of RPM-based
distributions, and matching by source package and release; then the language ecosystems the
new lock files bring (crates.io, Packagist, RubyGems, Maven) and the real lock files scanned."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from shipflow.sbom import catalog_directory
from shipflow.sbom.model import Distro, Inventory, Location, Package
from shipflow.scan import AdvisoryDB, import_paths, scan_inventory
from shipflow.scan._ecosystems import os_ecosystems, query_for
from shipflow.scan.versions import InvalidVersion, rpm, scheme_for
from support.paths import DATA_DIR

VECTORS = [
    line.split() for line in (DATA_DIR / "versions" / "rpmvercmp.txt").read_text().splitlines() if line
]


@pytest.mark.parametrize(("a", "b", "expected"), VECTORS)
def test_rpmvercmp_matches_rpms_own_vectors(a: str, b: str, expected: str) -> None:
    assert rpm.vercmp(a, b) == int(expected)


def test_vector_file_covers_tilde_and_caret() -> None:
    assert len(VECTORS) >= 90
    assert any("~" in a for a, _, _ in VECTORS) and any("^" in a for a, _, _ in VECTORS)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1:1.0-1", "2.0-1", 1),  # the epoch wins
        ("0:1.2-3.el9", "1.2-3.el9", 0),  # epoch 0 is no epoch
        ("1.2-3.el9", "1.2-3.el9_1", -1),
        ("3.0.7-27.el9", "1:3.0.7-24.el9", -1),
        ("1.9.5p2-10.el9_6.1", "1.9.5p2-9.el9", 1),
        ("1.0", "1.0-5", -1),  # a missing release compares as an empty one (rpm.ver agrees)
        ("1.0-1", "1.0-1", 0),
        ("2.1-1.module+el8.6.0+1234+abcdef12", "2.1-1.module+el8.5.0+999+12345678", 1),
    ],
)
def test_epoch_version_release(a: str, b: str, expected: int) -> None:
    assert rpm.compare(a, b) == expected
    assert rpm.compare(b, a) == -expected


@pytest.mark.parametrize("bad", ["", "a b", "x:1.0-1", "1:", "-1", "12345678901:1.0"])
def test_invalid_rpm_versions(bad: str) -> None:
    with pytest.raises(InvalidVersion):
        rpm.compare(bad, "1.0-1")


@pytest.mark.parametrize(
    ("distro", "ecosystems"),
    [
        (
            Distro("rhel", "9.4"),
            (
                "Red Hat:enterprise_linux:9::baseos",
                "Red Hat:enterprise_linux:9::appstream",
                "Red Hat:enterprise_linux:9::crb",
            ),
        ),
        (
            Distro("centos", "7"),
            (
                "Red Hat:enterprise_linux:7::server",
                "Red Hat:enterprise_linux:7::workstation",
                "Red Hat:enterprise_linux:7::client",
                "Red Hat:enterprise_linux:7::computenode",
            ),
        ),
        (Distro("rocky", "9.3"), ("Rocky Linux:9",)),
        (Distro("almalinux", "8.10"), ("AlmaLinux:8",)),
        (
            Distro("sles", "15.5", "SUSE Linux Enterprise Server 15 SP5"),
            ("SUSE:SUSE Linux Enterprise Server 15 SP5",),
        ),
        (Distro("opensuse-leap", "15.5", "openSUSE Leap 15.5"), ("openSUSE:openSUSE Leap 15.5",)),
        (Distro("photon", "5.0"), ("Photon OS:5.0",)),
        (Distro("fedora", "39"), ()),
        (Distro("amzn", "2023"), ()),
    ],
)
def test_rpm_distributions_map_to_osv_ecosystems(distro: Distro, ecosystems: tuple[str, ...]) -> None:
    assert os_ecosystems(distro) == ecosystems
    for ecosystem in ecosystems:
        assert scheme_for(ecosystem).name == "rpm"  # type: ignore[union-attr]


def _rpm_package(name: str, version: str, source: str, source_version: str, distro: Distro) -> Package:
    return Package(
        name=name,
        version=version,
        type="rpm",
        purl=f"pkg:rpm/{distro.id}/{name}@{version}",
        source_name=source,
        source_version=source_version,
        locations=(Location("/var/lib/rpm/rpmdb.sqlite"),),
        distro=distro,
    )


RECORDS = [
    {  # shaped like AlmaLinux's ALSA records; names and versions are this test's own
        "id": "ALSA-2099:0001",
        "modified": "2099-01-01T00:00:00Z",
        "summary": "Important: NetworkTools security update",
        "affected": [
            {
                "package": {"ecosystem": "AlmaLinux:9", "name": "NetworkTools"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.1-8.el9"}]}],
            },
            {
                "package": {"ecosystem": "AlmaLinux:8", "name": "NetworkTools"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.1-8.el8"}]}],
            },
        ],
    },
    {  # shaped like Red Hat's records: one entry per product stream
        "id": "RHSA-2099:0002",
        "modified": "2099-01-01T00:00:00Z",
        "summary": "Moderate: NetworkTools update",
        "affected": [
            {
                "package": {"ecosystem": "Red Hat:enterprise_linux:9::appstream", "name": "NetworkTools"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.1-9.el9"}]}],
            },
            {
                "package": {"ecosystem": "Red Hat:enterprise_linux:9::baseos", "name": "NetworkTools"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.1-9.el9"}]}],
            },
        ],
    },
]


@pytest.fixture
def db(tmp_path: Path) -> contextlib.closing[AdvisoryDB]:
    records = tmp_path / "records"
    records.mkdir()
    for record in RECORDS:
        (records / f"{record['id']}.json").write_text(json.dumps(record))
    import_paths([records], tmp_path / "adv.db")
    return contextlib.closing(AdvisoryDB.open(tmp_path / "adv.db"))


def test_matching_by_source_package_release_and_epoch(db: contextlib.closing[AdvisoryDB]) -> None:
    alma9, alma8, rhel9 = Distro("almalinux", "9.3"), Distro("almalinux", "8.9"), Distro("rhel", "9.4")
    packages = [
        # binary subpackage of the affected source package, before the fix: affected
        _rpm_package("NetworkTools-libs", "1:3.1-7.el9", "NetworkTools", "1:3.1-7.el9", alma9),
        # at the fixed version: not affected
        _rpm_package("NetworkTools", "1:3.1-8.el9", "NetworkTools", "1:3.1-8.el9", alma9),
    ]
    with db as advisories:
        report = scan_inventory(Inventory(subject="alma9", distro=alma9, packages=packages), advisories)
        found = {(f.advisory_id, f.package.name, f.fixed_versions) for f in report.findings}
        assert found == {("ALSA-2099:0001", "NetworkTools-libs", ("1:3.1-8.el9",))}
        # Without the epoch the installed version would be below every fixed one: the epoch counts.
        no_epoch = _rpm_package("NetworkTools", "3.1-99.el8", "NetworkTools", "3.1-99.el8", alma8)
        report = scan_inventory(Inventory(subject="alma8", distro=alma8, packages=[no_epoch]), advisories)
        assert [f.advisory_id for f in report.findings] == ["ALSA-2099:0001"]
        # The name is case-sensitive for RPM, and RHEL looks in the release's product streams.
        rhel = _rpm_package("NetworkTools", "1:3.1-8.el9", "NetworkTools", "1:3.1-8.el9", rhel9)
        report = scan_inventory(Inventory(subject="rhel9", distro=rhel9, packages=[rhel]), advisories)
        [finding] = report.findings
        assert finding.advisory_id == "RHSA-2099:0002"
        assert finding.package.ecosystem.startswith("Red Hat:enterprise_linux:9::")


def test_rpm_packages_of_a_distribution_osv_does_not_cover_are_noted(
    db: contextlib.closing[AdvisoryDB],
) -> None:
    fedora = Distro("fedora", "39")
    package = _rpm_package("NetworkTools", "3.1-1.fc39", "NetworkTools", "3.1-1.fc39", fedora)
    assert query_for(package, fedora) is None
    with db as advisories:
        report = scan_inventory(Inventory(subject="f", distro=fedora, packages=[package]), advisories)
    assert report.findings == []
    assert any("distribution release OSV has advisories for" in n for n in report.notes)


@pytest.mark.parametrize(
    ("kind", "name", "ecosystem", "query_name"),
    [
        ("cargo", "regex", "crates.io", "regex"),
        ("composer", "acme/logger", "Packagist", "acme/logger"),
        ("gem", "rexml", "RubyGems", "rexml"),
        ("maven", "org.yaml:snakeyaml", "Maven", "org.yaml:snakeyaml"),
        ("golang", "stdlib", "Go", "stdlib"),
    ],
)
def test_language_ecosystems_of_the_new_package_types(
    kind: str, name: str, ecosystem: str, query_name: str
) -> None:
    package = Package(name=name, version="1.0.0", type=kind, purl=f"pkg:{kind}/{name}@1.0.0")  # type: ignore[arg-type]
    query = query_for(package, None)
    assert query is not None and query.ecosystems == (ecosystem,) and query.name == query_name


def test_real_lock_files_find_the_same_advisories(tmp_path: Path) -> None:
    """lodash 4.17.15 and (dev) minimist 0.0.8 are in every JavaScript lock file of the fixture
    project; the Go 1.16 module pulls golang.org/x/text from 2017. Public OSV records (CC-BY-4.0,
    tests/data/osv) must be found the same way whichever tool wrote the lock file."""
    import_paths([DATA_DIR / "osv" / "records"], tmp_path / "adv.db")
    expected_js = {
        ("GHSA-35jh-r3h4-6jhm", "lodash"),
        ("GHSA-p6mc-m468-83gw", "lodash"),
        ("GHSA-vh95-rmgr-6w4m", "minimist"),
    }
    with contextlib.closing(AdvisoryDB.open(tmp_path / "adv.db")) as db:
        for project in ("npm", "yarn-v1", "yarn-berry-v3", "yarn-berry-v4", "pnpm-v7", "pnpm-v8", "pnpm-v9"):
            report = scan_inventory(catalog_directory(DATA_DIR / "lockfiles" / project), db)
            assert {(f.advisory_id, f.package.name) for f in report.findings} == expected_js, project
        report = scan_inventory(catalog_directory(DATA_DIR / "lockfiles" / "gomod-1.16"), db)
        assert [(f.advisory_id, f.package.name) for f in report.findings] == [
            ("GO-2022-1059", "golang.org/x/text")
        ]
