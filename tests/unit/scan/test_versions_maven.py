"""Maven version order (OSV's Maven ranges): the vectors of Maven's own ComparableVersionTest
(tests/data/versions), the versions Java advisories name, and hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipflow.scan.versions import InvalidVersion, maven, scheme_for
from support.paths import DATA_DIR

VECTORS = json.loads((DATA_DIR / "versions" / "maven-comparableversion.json").read_text())
# Maven's ".X is -X" rule (MNG-7644), which Maven 3.8.7 here applies, postdates these three
# pairs of the upstream test; the real Maven orders them as below (see the interop test).
REAL_MAVEN = {("2-1", "2.0.a"): 1, ("2-1", "2.0.0.a"): 1, ("2.0.a", "2.0.0.a"): 0}


@pytest.mark.parametrize(("a", "b"), VECTORS["equal"])
def test_equal_versions(a: str, b: str) -> None:
    assert maven.compare(a, b) == 0 and maven.compare(b, a) == 0


@pytest.mark.parametrize(("low", "high"), VECTORS["less"])
def test_ordered_versions(low: str, high: str) -> None:
    expected = REAL_MAVEN.get((low, high), -1)
    assert maven.compare(low, high) == expected
    assert maven.compare(high, low) == -expected


def test_vector_file_is_complete() -> None:
    assert len(VECTORS["equal"]) > 400 and len(VECTORS["less"]) > 500


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("2.14.1", "2.15.0"),  # log4j-core: Log4Shell fixed in 2.15.0
        ("2.15.0-rc1", "2.15.0"),
        ("2.0-beta9", "2.0"),
        ("5.3.17", "5.3.18"),  # spring-beans (Spring4Shell)
        ("5.3.18", "5.3.20.RELEASE"),
        ("31.1-android", "31.1-jre"),  # guava flavours are qualifiers
        ("1.0.0.M1", "1.0.0.RC1"),
        ("1.0.0.CR1", "1.0.0.Final"),
        ("9.4.43.v20210629", "9.4.44.v20210927"),
        ("1.0-SNAPSHOT", "1.0"),
        ("2.12.7", "2.12.7.1"),
    ],
)
def test_versions_java_advisories_name(low: str, high: str) -> None:
    assert maven.compare(low, high) == -1
    assert scheme_for("Maven").name == "maven"  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["", "   ", "1" * 201, "a1" * 150])
def test_invalid_and_oversized_versions(bad: str) -> None:
    with pytest.raises(InvalidVersion):
        maven.compare(bad, "1.0")


def test_deep_alternation_within_the_cap_does_not_recurse_too_far() -> None:
    version = "a1" * 100  # 200 characters: 200 nested lists
    assert maven.compare(version, version) == 0


def test_log4shell_found_in_a_jar_by_its_maven_ranges(tmp_path: Path) -> None:
    """A public GHSA record (trimmed, CC-BY-4.0, tests/data/osv/maven) against jars of the
    affected, a backport-fixed and a fixed log4j-core, nested in an application's war."""
    import contextlib
    import io
    import zipfile

    from shipflow.sbom import catalog_directory
    from shipflow.scan import AdvisoryDB, import_paths, scan_inventory

    def jar(version: str) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(
                "META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties",
                f"groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion={version}\n",
            )
        return buffer.getvalue()

    war = io.BytesIO()
    with zipfile.ZipFile(war, "w") as archive:
        for version in ("2.14.1", "2.12.2", "2.15.0"):
            archive.writestr(f"WEB-INF/lib/log4j-core-{version}.jar", jar(version))
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "shop.war").write_bytes(war.getvalue())
    import_paths([DATA_DIR / "osv" / "maven"], tmp_path / "adv.db")
    with contextlib.closing(AdvisoryDB.open(tmp_path / "adv.db")) as db:
        report = scan_inventory(catalog_directory(tmp_path / "app"), db)
    assert [(f.advisory_id, f.package.version, f.fixed_versions) for f in report.findings] == [
        ("GHSA-jfh8-c2jp-5v3q", "2.14.1", ("2.15.0",))
    ]
    assert report.findings[0].package.locations == ("shop.war!/WEB-INF/lib/log4j-core-2.14.1.jar",)
