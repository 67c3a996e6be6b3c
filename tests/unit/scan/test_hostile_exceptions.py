"""Exception files and SBOM input (issue 11 items 3-5; issue 7 item 7): Trivy's
``.trivyignore.yaml`` read beside ``.trivyignore`` with its expiry, paths and purls; ignore
files, VEX and SBOM files bounded in size and depth with one-line errors naming the file."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from shipflow.errors import ConfigError, UsageError
from shipflow.sbom.target import detect_target
from shipflow.scan import IgnoreRules, load_ignore_file, load_openvex, read_sbom
from shipflow.scan.model import Finding, PackageRef
from shipflow.scan.run import DEFAULT_IGNORE_FILES, discover_ignore_files
from shipflow.scan.severity import Severity

DEEP = b"[" * 100_000 + b"]" * 100_000


def _finding(
    advisory: str = "GHSA-xxxx", aliases: tuple[str, ...] = ("CVE-2022-40897",), **package: str
) -> Finding:
    ref = PackageRef(
        name=package.get("name", "setuptools"),
        version=package.get("version", "58.1.0"),
        type="pypi",
        purl=package.get("purl", "pkg:pypi/setuptools@58.1.0"),
        ecosystem="PyPI",
        locations=(
            package.get(
                "location", "/usr/local/lib/python3.9/site-packages/setuptools-58.1.0.dist-info/METADATA"
            ),
        ),
    )
    return Finding(advisory, aliases, ref, Severity.HIGH)


TRIVY_YAML = """\
vulnerabilities:
  - id: CVE-2022-40897
    paths:
      - "usr/local/lib/python3.9/site-packages/setuptools-58.1.0.dist-info/METADATA"
    statement: Accept the risk
  - id: CVE-2023-0001
    purls:
      - "pkg:npm/lodash"
    expired_at: 2026-03-01
  - id: CVE-2023-0002
    paths: ["**/node_modules/**"]
misconfigurations:
  - id: AVD-DS-0002
    paths: ["docs/Dockerfile"]
    statement: Accept the risk
secrets:
  - id: aws-access-key-id
    paths: ["foo/bar/aws.secret"]
licenses:
  - id: GPL-3.0
    paths: ["usr/share/gcc/python/libstdcxx/v6/printers.py"]
"""


@pytest.fixture
def trivy_yaml(tmp_path: Path) -> Path:
    path = tmp_path / ".trivyignore.yaml"
    path.write_text(TRIVY_YAML)
    return path


def test_trivyignore_yaml_entries(trivy_yaml: Path) -> None:
    entries = load_ignore_file(trivy_yaml)
    assert [(e.id, e.kind) for e in entries] == [
        ("CVE-2022-40897", "trivyignore"),
        ("CVE-2023-0001", "trivyignore"),
        ("CVE-2023-0002", "trivyignore"),
    ]  # misconfigurations, secrets and licenses suppress no vulnerability
    first = entries[0]
    assert first.reason == "Accept the risk" and first.source == str(trivy_yaml)
    assert entries[1].reason == "listed in .trivyignore.yaml"


def test_trivyignore_yaml_paths_are_globs_over_where_the_package_was_found(trivy_yaml: Path) -> None:
    rules = IgnoreRules(load_ignore_file(trivy_yaml))
    today = date(2026, 1, 1)
    assert rules.decide(_finding(), today).active is not None
    elsewhere = _finding(location="/opt/app/setuptools-58.1.0.dist-info/METADATA")
    assert rules.decide(elsewhere, today).active is None
    node = _finding(
        "GHSA-n",
        ("CVE-2023-0002",),
        name="x",
        purl="pkg:npm/x@1",
        location="/app/node_modules/x/package.json",
    )
    assert rules.decide(node, today).active is not None
    assert rules.decide(_finding("GHSA-n", ("CVE-2023-0002",), location="/app/x.json"), today).active is None


def test_trivyignore_yaml_purls_and_expiry_as_trivy_reads_them(trivy_yaml: Path) -> None:
    rules = IgnoreRules(load_ignore_file(trivy_yaml))
    lodash = _finding("GHSA-l", ("CVE-2023-0001",), name="lodash", purl="pkg:npm/lodash@4.17.15")
    other = _finding("GHSA-l", ("CVE-2023-0001",), name="underscore", purl="pkg:npm/underscore@1.0.0")
    assert rules.decide(lodash, date(2026, 2, 28)).active is not None
    assert rules.decide(other, date(2026, 2, 28)).active is None
    # Trivy drops an entry once expired_at (midnight UTC at the start of that day) is past:
    # on 2026-03-01 itself it no longer ignores, and the report says it expired.
    on_the_day = rules.decide(lodash, date(2026, 3, 1))
    assert on_the_day.active is None and [e.id for e in on_the_day.expired] == ["CVE-2023-0001"]
    assert on_the_day.expired[0].expires == date(2026, 2, 28)


def test_trivyignore_yaml_timestamp_expiry(tmp_path: Path) -> None:
    path = tmp_path / ".trivyignore.yaml"
    path.write_text("vulnerabilities:\n  - id: CVE-1\n    expired_at: '2026-03-01T12:00:00Z'\n")
    [entry] = load_ignore_file(path)
    assert entry.expires == date(2026, 3, 1)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("vulnerabilites:\n  - id: CVE-1\n", "unknown section"),
        ("vulnerabilities:\n  - id: CVE-1\n    reason: x\n", "unknown keys"),
        ("vulnerabilities:\n  - paths: [a]\n", "needs an 'id'"),
        ("vulnerabilities:\n  - id: CVE-1\n    expired_at: soon\n", "expired_at must be a date"),
        ("vulnerabilities:\n  - id: CVE-1\n    purls: ['not a purl']\n", "is not a package URL"),
        ("vulnerabilities:\n  - id: CVE-1\n    paths: a/b\n", "'paths' must be a list"),
        ("vulnerabilities: {id: CVE-1}\n", "must be a list of entries"),
        ("vulnerabilities:\n  - id: CVE-1\n  statement: [\n", r"not valid YAML: line \d+, column \d+"),
        ("- " * 3000 + "x\n", "nested more than"),
    ],
)
def test_bad_trivyignore_yaml_is_a_usage_error_naming_the_file(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / ".trivyignore.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as caught:
        load_ignore_file(path)
    assert caught.value.exit_code == 2 and str(path) in caught.value.message
    assert "\n" not in caught.value.message


def test_trivy_format_recognised_in_any_yaml_file_and_shipflow_format_kept(tmp_path: Path) -> None:
    trivy = tmp_path / "exceptions.yml"
    trivy.write_text("vulnerabilities:\n  - id: CVE-9\n")
    assert [e.kind for e in load_ignore_file(trivy)] == ["trivyignore"]
    own = tmp_path / ".shipflowignore.yaml"
    own.write_text("ignore:\n  - id: CVE-9\n    reason: fine\n")
    assert [e.kind for e in load_ignore_file(own)] == ["ignore-file"]


def test_trivyignore_yaml_is_read_beside_trivyignore(tmp_path: Path) -> None:
    assert ".trivyignore.yaml" in DEFAULT_IGNORE_FILES
    work, target = tmp_path / "work", tmp_path / "src"
    work.mkdir()
    target.mkdir()
    (work / ".trivyignore").write_text("CVE-1\n")
    (target / ".trivyignore.yaml").write_text("vulnerabilities:\n  - id: CVE-2\n")
    found = discover_ignore_files(detect_target(str(target)), cwd=work)
    assert found == [(work / ".trivyignore").resolve(), (target / ".trivyignore.yaml").resolve()]


@pytest.mark.parametrize("name", [".shipflowignore.yaml", ".trivyignore", ".trivyignore.yaml"])
def test_ignore_files_are_capped(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with open(path, "wb") as handle:
        handle.truncate(1 << 30)
    with pytest.raises(UsageError, match="more than the limit"):
        load_ignore_file(path)
    with pytest.raises(UsageError, match="not a regular file"):
        load_ignore_file(Path("/dev/zero"))


def test_vex_is_bounded_and_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deep.openvex.json"
    path.write_bytes(DEEP)
    with pytest.raises(ConfigError, match=r"VEX document .*deep\.openvex\.json is nested more than 128"):
        load_openvex(path)
    with pytest.raises(UsageError, match="not a regular file"):
        load_openvex(Path("/dev/urandom"))
    odd = tmp_path / "odd.json"
    odd.write_text(
        json.dumps(
            {
                "statements": [
                    {
                        "vulnerability": "CVE-1",
                        "products": ["pkg:npm/x@1"],
                        "status": "not_affected",
                        "justification": {"not": "a string"},
                        "impact_statement": 7,
                    }
                ]
            }
        )
    )
    [statement] = load_openvex(odd)
    assert statement.justification is None and statement.impact_statement is None


def test_sbom_input_is_bounded_and_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "deep.spdx.json"
    path.write_bytes(b'{"spdxVersion": "SPDX-2.3", "packages": ' + DEEP + b"}")
    with pytest.raises(ConfigError, match=r"SBOM .*deep\.spdx\.json is nested more than 128"):
        read_sbom(path)
    with pytest.raises(UsageError, match="not a regular file"):
        read_sbom(Path("/dev/zero"))
    nested = tmp_path / "nested.cdx.json"
    component: dict[str, object] = {"purl": "pkg:npm/leaf@1.0.0"}
    for index in range(60):  # 120 levels of JSON: within the limit, and walked without recursion trouble
        component = {"name": f"c{index}", "components": [component]}
    nested.write_text(json.dumps({"bomFormat": "CycloneDX", "components": [component]}))
    assert [p.name for p in read_sbom(nested).inventory.packages] == ["leaf"]
