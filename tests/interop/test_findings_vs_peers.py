"""shipflow, Grype v0.121.2 and Trivy v0.74.0 on the same images with the same advisories.

One set of OSV records (support.peers.PEER_RECORDS: real GHSA/PyPA/Go records, OS records in
osv.dev's shape, and synthetic version-boundary cases) is loaded into shipflow's database and,
through tools/peerdb, into Grype's and Trivy's own database formats. The three scanners then run
on every image of the corpus, in three ways:

* ``image``: each scanner reads the image layout itself;
* ``syft-cyclonedx`` / ``syft-spdx``: each scanner reads the SBOM Syft v1.57.1 wrote of the image
  (what users do when the SBOM is made once, in the build, and scanned later).

Findings are lined up per package version: findings whose ids overlap (an advisory and its
aliases: GHSA-…, PYSEC-…, CVE-…, DEBIAN-CVE-…) are one advisory group. Every group must be
reported by all three, or be an entry of :data:`EXPLAINED` that says who is right and why; the
fixed versions of the groups all three report must agree, or be an entry of
:data:`EXPLAINED_FIXES`; every entry must still be needed. shipflow must report each group
exactly once (alias merging), whatever the peers do.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.images import BuiltImage
from support.corpus import CORPUS
from support.peers import (
    TRIVY_OFFLINE_FLAGS,
    FindingGroup,
    PeerDatabases,
    PeerFinding,
    group_findings,
    grype_findings,
    peer_finding_from_grype,
    peer_findings_from_trivy,
    run_peer,
    shipflow_findings,
    shipflow_sbom_findings,
    trivy_findings,
)

pytestmark = [pytest.mark.interop, pytest.mark.slow]

TOOLS = frozenset({"shipflow", "grype", "trivy"})
MODES = ("image", "syft-cyclonedx", "syft-spdx")
SHIPFLOW_AND_GRYPE = frozenset({"shipflow", "grype"})

# The Debian advisories of the peer records that apply to this machine's packages.
DEBIAN_ADVISORIES = (
    "CVE-2005-2541",
    "CVE-2010-4756",
    "CVE-2011-3374",
    "CVE-2017-18018",
    "SHIPFLOW-PEER-2026-0004",
    "SHIPFLOW-PEER-2026-0007",
)

TRIVY_IGNORES_UPSTREAM = (
    "Distribution advisories name the source package (Debian: glibc, openssl, zlib, apt; Alpine: the "
    "origin busybox). Syft records a binary package's source in its purl "
    "(pkg:deb/debian/libc6@…?upstream=glibc, pkg:apk/alpine/busybox-binsh@…?upstream=busybox); "
    "Trivy, reading a third-party SBOM, takes the source only from its own aquasecurity:trivy:SrcName "
    "property and otherwise uses the binary name (sbom/io/decode.go fillSrcPkg), so every binary "
    "whose name differs from its source goes unmatched. shipflow and Grype read the upstream "
    "qualifier: these packages are affected."
)
TRIVY_NEEDS_AN_OS_COMPONENT = (
    "Syft's SPDX document has no operating-system package: the distribution is only in each "
    "package's purl (distro=…). Trivy attaches OS packages to the SBOM's operating-system component "
    "through its relationships (sbom/io/decode.go addOSPkgs), finds none, and scans no OS package "
    "at all from this SBOM. shipflow and Grype take the release from the purl qualifier: the "
    "packages are the distribution's and affected."
)


@dataclass(frozen=True)
class Explained:
    """Who reports an advisory differs: which packages (fnmatch patterns), which advisories (any
    id of the group), the tools that do report it, who is right, and why."""

    image: str
    mode: str
    packages: tuple[str, ...]
    advisories: tuple[str, ...]
    reported_by: frozenset[str]
    right: str
    reason: str

    def matches(self, mode: str, group: FindingGroup) -> bool:
        return (
            mode == self.mode
            and group.tools == self.reported_by
            and any(fnmatch.fnmatchcase(group.package, p) for p in self.packages)
            and bool(group.ids & set(self.advisories))
        )


EXPLAINED: tuple[Explained, ...] = (
    Explained(
        "debian-app",
        "syft-cyclonedx",
        ("libc-*", "libc6*", "locales"),
        ("CVE-2010-4756",),
        SHIPFLOW_AND_GRYPE,
        "shipflow and grype",
        TRIVY_IGNORES_UPSTREAM,
    ),
    Explained(
        "debian-app",
        "syft-cyclonedx",
        ("apt-transport-https", "libapt-pkg*"),
        ("CVE-2011-3374",),
        SHIPFLOW_AND_GRYPE,
        "shipflow and grype",
        TRIVY_IGNORES_UPSTREAM,
    ),
    Explained(
        "debian-app",
        "syft-cyclonedx",
        ("libssl*",),
        ("SHIPFLOW-PEER-2026-0007",),
        SHIPFLOW_AND_GRYPE,
        "shipflow and grype",
        TRIVY_IGNORES_UPSTREAM,
    ),
    Explained(
        "debian-app",
        "syft-cyclonedx",
        ("zlib1g*",),
        ("SHIPFLOW-PEER-2026-0004",),
        SHIPFLOW_AND_GRYPE,
        "shipflow and grype",
        TRIVY_IGNORES_UPSTREAM,
    ),
    Explained(
        "debian-app",
        "syft-spdx",
        ("*",),
        DEBIAN_ADVISORIES,
        SHIPFLOW_AND_GRYPE,
        "shipflow and grype",
        TRIVY_NEEDS_AN_OS_COMPONENT,
    ),
    Explained(
        "alpine",
        "syft-cyclonedx",
        ("busybox-binsh",),
        ("SHIPFLOW-PEER-2026-0001",),
        SHIPFLOW_AND_GRYPE,
        "shipflow and grype",
        TRIVY_IGNORES_UPSTREAM,
    ),
    Explained(
        "rocky-mix",
        "image",
        ("lodash",),
        ("GHSA-p6mc-m468-83gw", "GHSA-35jh-r3h4-6jhm"),
        frozenset({"shipflow"}),
        "shipflow",
        "lodash 4.17.15 is pinned by the lock file of a project copied into the image "
        "(/srv/web/pnpm-lock.yaml); the image has no node_modules. Grype (through Syft's image "
        "catalogers) and Trivy read lock files only when they scan a directory or repository, and in "
        "an image only what is installed, so they see no lodash at all. shipflow reads the lock files "
        "of projects in images and reports the finding at the lock file: the project in the image "
        "pins a vulnerable version, which is what a reviewer of this image needs to know.",
    ),
    Explained(
        "alpine",
        "syft-spdx",
        ("busybox-binsh", "readline"),
        ("SHIPFLOW-PEER-2026-0001", "SHIPFLOW-PEER-2026-0003"),
        SHIPFLOW_AND_GRYPE,
        "shipflow and grype",
        TRIVY_NEEDS_AN_OS_COMPONENT,
    ),
)


@dataclass(frozen=True)
class ExplainedFix:
    """The fixed versions the tools give for one advisory group differ."""

    image: str
    package: str
    advisory: str
    differs: str  # the tool whose fixed versions differ from the other two
    right: str
    reason: str


EXPLAINED_FIXES: tuple[ExplainedFix, ...] = (
    ExplainedFix(
        "debian-app",
        "minimist",
        "GHSA-vh95-rmgr-6w4m",
        "trivy",
        "shipflow and grype",
        "the advisory has two affected ranges (< 0.2.1, and >= 1.0.0 < 1.2.3). Trivy gives every "
        "patched version of the advisory (0.2.1, 1.2.3) for both installed versions; shipflow and "
        "Grype give the fix that ends the range the installed version is in (0.2.1 for 0.0.8, 1.2.3 "
        "for 1.2.0) — the upgrade that fixes this install without leaving its release line.",
    ),
)


@pytest.fixture(scope="module")
def scans(
    corpus_images: Callable[[str], BuiltImage],
    peer_databases: PeerDatabases,
    syft_bin: str,
    grype_bin: str,
    trivy_bin: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str, str], list[PeerFinding]]:
    """``scans(image, mode)``: every tool's findings (cached)."""
    cache: dict[tuple[str, str], list[PeerFinding]] = {}
    env = peer_databases.env()
    workdir = tmp_path_factory.mktemp("peer-scans")

    def run(name: str, mode: str) -> list[PeerFinding]:
        if (name, mode) in cache:
            return cache[(name, mode)]
        image = corpus_images(name)
        if mode == "image":
            found = (
                shipflow_findings(image.layout_path, image.tag, peer_databases.shipflow_db)
                + grype_findings(grype_bin, image.layout_path, env)
                + trivy_findings(trivy_bin, image.layout_path, env)
            )
        else:
            fmt = mode.removeprefix("syft-") + "-json"
            sbom: Path = workdir / f"{name}.{fmt}"
            run_peer([syft_bin, "scan", f"oci-dir:{image.layout_path}", "-q", "-o", f"{fmt}={sbom}"], env)
            found = (
                shipflow_sbom_findings(sbom, peer_databases.shipflow_db)
                + peer_finding_from_grype(run_peer([grype_bin, f"sbom:{sbom}", "-o", "json", "-q"], env))
                + peer_findings_from_trivy(
                    run_peer(
                        [trivy_bin, "sbom", str(sbom), *TRIVY_OFFLINE_FLAGS, "--format", "json", "--quiet"],
                        env,
                    )
                )
            )
        cache[(name, mode)] = found
        return found

    return run


def _describe(group: FindingGroup) -> str:
    return f"{group.package} {group.version}: {sorted(group.ids)} reported by {sorted(group.tools)}"


# How many advisory groups all three must report on each image (so that agreement is not an
# empty set; a new image needs at least one, or an entry here). rocky-mix: no peer record
# applies to its rpm, Go or Java packages yet.
MIN_AGREED = {"debian-app": 20, "alpine": 2, "rocky-mix": 0}

CASES = [pytest.param(entry.name, mode, id=f"{entry.name}-{mode}") for entry in CORPUS for mode in MODES]


@pytest.mark.parametrize(("image_name", "mode"), CASES)
def test_three_scanners_agree_finding_for_finding(
    image_name: str, mode: str, scans: Callable[[str, str], list[PeerFinding]]
) -> None:
    groups = group_findings(scans(image_name, mode))
    explained = [e for e in EXPLAINED if e.image == image_name]
    disagreements = [g for g in groups if g.tools != TOOLS]
    unexplained = [_describe(g) for g in disagreements if not any(e.matches(mode, g) for e in explained)]
    assert unexplained == [], "differences between the scanners without a verdict in EXPLAINED"
    stale = [
        (e.packages, e.advisories)
        for e in explained
        if e.mode == mode and not any(e.matches(mode, g) for g in disagreements)
    ]
    assert stale == [], "EXPLAINED entries that no longer match a difference (remove them)"
    # Not vacuous: the advisories agreed on, reading the image itself.
    if mode == "image":
        assert sum(1 for g in groups if g.tools == TOOLS) >= MIN_AGREED.get(image_name, 1)


@pytest.mark.parametrize("image_name", [entry.name for entry in CORPUS])
def test_fixed_versions_agree(image_name: str, scans: Callable[[str, str], list[PeerFinding]]) -> None:
    findings = scans(image_name, "image")
    explained = [e for e in EXPLAINED_FIXES if e.image == image_name]
    unexplained, used = [], set()
    for group in group_findings(findings):
        if group.tools != TOOLS:
            continue
        fixes = {
            tool: frozenset(
                v
                for f in findings
                if f.tool == tool
                and (f.package, f.version) == (group.package, group.version)
                and f.ids & group.ids
                for v in f.fixed
            )
            for tool in TOOLS
        }
        if len(set(fixes.values())) == 1:
            continue
        odd = [t for t in TOOLS if sum(fixes[t] == fixes[o] for o in TOOLS) == 1]
        entry = next(
            (
                e
                for e in explained
                if e.package == group.package and e.advisory in group.ids and odd == [e.differs]
            ),
            None,
        )
        if entry is None:
            unexplained.append(
                f"{_describe(group)}: {dict(sorted((t, sorted(v)) for t, v in fixes.items()))}"
            )
        else:
            used.add(entry)
    assert unexplained == [], "fixed versions that differ without a verdict in EXPLAINED_FIXES"
    assert set(explained) <= used, "EXPLAINED_FIXES entries that no longer match (remove them)"


@pytest.mark.parametrize("image_name", [entry.name for entry in CORPUS])
def test_shipflow_reports_each_advisory_once(
    image_name: str, scans: Callable[[str, str], list[PeerFinding]]
) -> None:
    findings = scans(image_name, "image")
    ours = [f for f in findings if f.tool == "shipflow"]
    for group in group_findings(findings):
        mine = [
            f for f in ours if (f.package, f.version) == (group.package, group.version) and f.ids & group.ids
        ]
        assert len(mine) <= 1, f"shipflow reports one advisory more than once: {mine}"


def test_grype_reports_an_advisory_once_per_database_and_shipflow_once(
    scans: Callable[[str, str], list[PeerFinding]],
) -> None:
    """urllib3 1.26.4: GitHub (GHSA-q2q7-5pp4-w6pg) and PyPA (PYSEC-2021-108) published
    CVE-2021-33503. Grype reports each record; shipflow one finding naming both."""
    findings = [f for f in scans("debian-app", "image") if f.package == "urllib3"]
    grype = sorted(min(f.ids - {"CVE-2021-33503"}) for f in findings if f.tool == "grype")
    assert grype == ["GHSA-q2q7-5pp4-w6pg", "PYSEC-2021-108"]
    [ours] = [f for f in findings if f.tool == "shipflow"]
    assert ours.ids == {"GHSA-q2q7-5pp4-w6pg", "PYSEC-2021-108", "CVE-2021-33503"}
    [trivy] = [f for f in findings if f.tool == "trivy"]
    assert "CVE-2021-33503" in trivy.ids
