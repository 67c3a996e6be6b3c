"""Running Syft, Grype and Trivy offline on the same images and advisories as shipflow, and
putting their answers side by side (tests/interop/, benchmarks/peers.py).

* :func:`build_peer_databases`: one set of OSV records -> shipflow's advisory DB, a Grype DB
  (``peerdb-grype`` + ``grype db import``) and a Trivy DB (``peerdb-trivy``), see tools/peerdb.
* :func:`syft_packages` / :func:`shipflow_packages`: (type, name, version) sets in Syft's type
  names.
* :func:`grype_findings` / :func:`trivy_findings` / :func:`shipflow_findings`: findings as
  (package, version, ids), and :func:`group_findings` to line them up across tools: findings of
  one package whose ids overlap (an advisory and its aliases) are one group.

The peers never go online: update checks off, no DB download (``OFFLINE_ENV`` and Trivy's
``--skip-db-update --offline-scan``), and each has its own cache directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data"
OSV = DATA / "osv"

# The advisories loaded into all three scanners (sources and licences in tests/data/osv/).
PEER_RECORDS: tuple[Path, ...] = (
    OSV / "records",
    OSV / "aliases",
    OSV / "derived",
    OSV / "peers" / "derived",
    OSV / "peers" / "synthetic",
)

# No update checks, no DB downloads, no telemetry: the peers run offline.
OFFLINE_ENV: dict[str, str] = {
    "SYFT_CHECK_FOR_APP_UPDATE": "false",
    "GRYPE_CHECK_FOR_APP_UPDATE": "false",
    "GRYPE_DB_AUTO_UPDATE": "false",
    "GRYPE_DB_VALIDATE_AGE": "false",
    "GRYPE_DB_REQUIRE_UPDATE_CHECK": "false",
    "TRIVY_SKIP_DB_UPDATE": "true",
    "TRIVY_SKIP_JAVA_DB_UPDATE": "true",
    "TRIVY_OFFLINE_SCAN": "true",
    "TRIVY_DISABLE_TELEMETRY": "true",
    "TRIVY_NO_PROGRESS": "true",
}
TRIVY_OFFLINE_FLAGS = ("--skip-db-update", "--skip-java-db-update", "--offline-scan")
PEER_TIMEOUT_SECONDS = 900

# shipflow's package types as Syft names them.
SHIPFLOW_TO_SYFT_TYPE: dict[str, str] = {
    "deb": "deb",
    "apk": "apk",
    "npm": "npm",
    "pypi": "python",
    "golang": "go-module",
    "rpm": "rpm",
    "cargo": "rust-crate",
    "gem": "gem",
    "composer": "php-composer",
    "maven": "java-archive",
}


class PeerError(RuntimeError):
    """A peer failed; the message carries its command and the end of its stderr."""


def peer_env(*, grype_cache: Path | None = None, trivy_cache: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OFFLINE_ENV)
    if grype_cache is not None:
        env["GRYPE_DB_CACHE_DIR"] = str(grype_cache)
    if trivy_cache is not None:
        env["TRIVY_CACHE_DIR"] = str(trivy_cache)
    return env


def run_peer(command: Sequence[str], env: Mapping[str, str], *, timeout: float = PEER_TIMEOUT_SECONDS) -> str:
    """Run a peer to completion (own process group, killed on timeout); its stdout."""
    try:
        result = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            env=dict(env),
            timeout=timeout,
            check=False,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        raise PeerError(f"{' '.join(command)} took longer than {timeout} s") from exc
    if result.returncode != 0:
        raise PeerError(f"{' '.join(command)} exited with {result.returncode}:\n{result.stderr[-3000:]}")
    return result.stdout


# -- advisory databases ----------------------------------------------------------------------


@dataclass(frozen=True)
class PeerDatabases:
    """One set of OSV records loaded into all three scanners."""

    records: tuple[Path, ...]
    shipflow_db: Path
    grype_cache: Path  # GRYPE_DB_CACHE_DIR holding the imported DB
    trivy_cache: Path  # TRIVY_CACHE_DIR holding db/trivy.db and db/metadata.json

    def env(self) -> dict[str, str]:
        return peer_env(grype_cache=self.grype_cache, trivy_cache=self.trivy_cache)


def build_peer_databases(
    workdir: Path,
    *,
    grype: str,
    peerdb_grype: str,
    peerdb_trivy: str,
    records: Iterable[Path] = PEER_RECORDS,
) -> PeerDatabases:
    from shipflow.scan import import_paths

    records = tuple(records)
    workdir.mkdir(parents=True, exist_ok=True)
    dbs = PeerDatabases(
        records=records,
        shipflow_db=workdir / "shipflow" / "advisories.db",
        grype_cache=workdir / "grype-cache",
        trivy_cache=workdir / "trivy-cache",
    )
    import_paths(records, dbs.shipflow_db)
    env = dbs.env()
    build = workdir / "grype-build"
    run_peer([peerdb_grype, "-out", str(build), *map(str, records)], env)
    run_peer([grype, "db", "import", str(build / "vulnerability.db")], env)
    run_peer([peerdb_trivy, "-out", str(dbs.trivy_cache / "db"), *map(str, records)], env)
    return dbs


# -- inventories -----------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class PackageKey:
    """A package as both SBOMs can name it: Syft's type name, the name, the version."""

    type: str
    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.type}:{self.name}@{self.version}"


def _name(type_: str, name: str) -> str:
    """Names as both SBOMs can be compared: Python names normalised (PEP 503; Syft keeps
    METADATA's spelling), Java archives by artifactId (Syft's name; shipflow's is
    groupId:artifactId, the group being the purl namespace in both)."""
    if type_ == "python":
        return re.sub(r"[-_.]+", "-", name).lower()
    if type_ == "java-archive":
        return name.rsplit(":", 1)[-1]
    return name


def _version(type_: str, name: str, version: str) -> str:
    """Go's standard library: Syft writes the toolchain version (go1.26.8), shipflow the module
    form OSV matches (v1.26.8)."""
    if type_ == "go-module" and name == "stdlib":
        return version.removeprefix("go").removeprefix("v")
    return version


def package_key(type_: str, name: str, version: str) -> PackageKey:
    key_name = _name(type_, name)
    return PackageKey(type_, key_name, _version(type_, key_name, version))


def syft_document(syft: str, layout: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """``syft scan oci-dir:LAYOUT -o json`` (one image per layout, no ``:tag`` suffix)."""
    document = json.loads(run_peer([syft, "scan", f"oci-dir:{layout}", "-o", "json", "-q"], env))
    assert isinstance(document, dict)
    return document


def syft_packages(document: Mapping[str, Any]) -> set[PackageKey]:
    return {package_key(a["type"], a["name"], a["version"]) for a in document.get("artifacts") or ()}


def shipflow_packages(layout: Path, tag: str) -> tuple[set[PackageKey], set[str]]:
    """(packages in Syft's type names, shipflow types Syft has no name for)."""
    from shipflow.oci.layout import LayoutStore
    from shipflow.sbom import catalog_image

    inventory = catalog_image(LayoutStore(layout), tag)
    keys, unmapped = set(), set()
    for package in inventory.packages:
        syft_type = SHIPFLOW_TO_SYFT_TYPE.get(package.type)
        if syft_type is None:
            unmapped.add(package.type)
            continue
        keys.add(package_key(syft_type, package.name, package.version))
    return keys, unmapped


# -- findings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerFinding:
    """One reported (package, advisory) of one tool: every id the tool gives for it."""

    tool: str
    package: str
    version: str
    ids: frozenset[str]
    fixed: tuple[str, ...] = ()


def peer_finding_from_grype(output: str) -> list[PeerFinding]:
    """Findings from ``grype … -o json`` output."""
    document = json.loads(output)
    out = []
    for match in document.get("matches") or ():
        vuln, artifact = match["vulnerability"], match["artifact"]
        ids = {vuln["id"], *(r["id"] for r in match.get("relatedVulnerabilities") or ())}
        out.append(
            PeerFinding(
                "grype",
                artifact["name"].lower(),
                artifact["version"],
                frozenset(ids),
                tuple((vuln.get("fix") or {}).get("versions") or ()),
            )
        )
    return out


def peer_findings_from_trivy(output: str) -> list[PeerFinding]:
    """Findings from ``trivy … --format json`` output."""
    document = json.loads(output)
    out = []
    for result in document.get("Results") or ():
        for vuln in result.get("Vulnerabilities") or ():
            ids = {vuln["VulnerabilityID"], *(vuln.get("VendorIDs") or ())}
            fixed = tuple(v.strip() for v in (vuln.get("FixedVersion") or "").split(",") if v.strip())
            out.append(
                PeerFinding("trivy", vuln["PkgName"].lower(), vuln["InstalledVersion"], frozenset(ids), fixed)
            )
    return out


def grype_findings(grype: str, layout: Path, env: Mapping[str, str]) -> list[PeerFinding]:
    return peer_finding_from_grype(run_peer([grype, f"oci-dir:{layout}", "-o", "json", "-q"], env))


def trivy_findings(trivy: str, layout: Path, env: Mapping[str, str]) -> list[PeerFinding]:
    command = [trivy, "image", "--input", str(layout), *TRIVY_OFFLINE_FLAGS, "--scanners", "vuln"]
    return peer_findings_from_trivy(run_peer([*command, "--format", "json", "--quiet"], env))


def _ours(report: Any) -> list[PeerFinding]:
    return [
        PeerFinding("shipflow", f.package.name.lower(), f.package.version, f.ids, tuple(f.fixed_versions))
        for f in report.findings
    ]


def shipflow_sbom_findings(sbom: Path, db_path: Path) -> list[PeerFinding]:
    """shipflow's findings reading an SPDX or CycloneDX file (``shipflow scan FILE``)."""
    import contextlib

    from shipflow.scan import AdvisoryDB, ScanOptions, read_sbom, scan_inventory

    inventory = read_sbom(sbom).inventory
    with contextlib.closing(AdvisoryDB.open(db_path)) as db:
        return _ours(scan_inventory(inventory, db, ScanOptions(max_db_age=None)))


def shipflow_findings(layout: Path, tag: str, db_path: Path) -> list[PeerFinding]:
    import contextlib

    from shipflow.oci.layout import LayoutStore
    from shipflow.sbom import catalog_image
    from shipflow.scan import AdvisoryDB, ScanOptions, scan_inventory

    inventory = catalog_image(LayoutStore(layout), tag)
    with contextlib.closing(AdvisoryDB.open(db_path)) as db:
        report = scan_inventory(inventory, db, ScanOptions(max_db_age=None))
    return [
        PeerFinding("shipflow", f.package.name.lower(), f.package.version, f.ids, tuple(f.fixed_versions))
        for f in report.findings
    ]


@dataclass(frozen=True)
class FindingGroup:
    """Findings of one package version whose ids overlap: one advisory as each tool saw it."""

    package: str
    version: str
    ids: frozenset[str]
    tools: frozenset[str]

    def names(self, advisory_id: str) -> bool:
        return advisory_id in self.ids


def group_findings(findings: Iterable[PeerFinding]) -> list[FindingGroup]:
    """Line up the findings of several tools: per (package, version), ids linked through
    any finding's id set form one group."""
    by_package: dict[tuple[str, str], list[PeerFinding]] = {}
    for finding in findings:
        by_package.setdefault((finding.package, finding.version), []).append(finding)
    groups = []
    for (package, version), items in sorted(by_package.items()):
        clusters: list[tuple[set[str], set[str]]] = []  # (ids, tools)
        for finding in items:
            ids, tools = set(finding.ids), {finding.tool}
            for cluster in [c for c in clusters if c[0] & ids]:
                clusters.remove(cluster)
                ids |= cluster[0]
                tools |= cluster[1]
            clusters.append((ids, tools))
        groups += [FindingGroup(package, version, frozenset(i), frozenset(t)) for i, t in clusters]
    return sorted(groups, key=lambda g: (g.package, g.version, sorted(g.ids)))
