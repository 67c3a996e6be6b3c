"""shipflow, Grype v0.121.2 and Trivy v0.74.0 on the same images with the same advisories.

One set of OSV records (support.peers.PEER_RECORDS: real GHSA/PyPA/Go records, OS records in
osv.dev's shape, and synthetic version-boundary cases) is loaded into shipflow's database and,
through tools/peerdb, into Grype's and Trivy's own database formats. The three scanners then run
on every image of the corpus. Findings are lined up per package version: findings whose ids
overlap (an advisory and its aliases: GHSA-…, PYSEC-…, CVE-…, DSA-…) are one advisory group.

Every group must be reported by all three, or be an entry of :data:`EXPLAINED` that says who is
right and why; and every entry must still be needed. shipflow must also report each group
exactly once (alias merging), whatever the peers do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from fixtures.images import BuiltImage
from support.corpus import CORPUS
from support.peers import (
    FindingGroup,
    PeerDatabases,
    PeerFinding,
    group_findings,
    grype_findings,
    shipflow_findings,
    trivy_findings,
)

pytestmark = [pytest.mark.interop, pytest.mark.slow]

TOOLS = frozenset({"shipflow", "grype", "trivy"})


@dataclass(frozen=True)
class Explained:
    """A difference in which tools report an advisory on a package, with the verdict."""

    image: str
    package: str
    advisory: str  # any id of the group
    reported_by: frozenset[str]
    right: str  # who is right: "shipflow", "grype", "trivy", or e.g. "shipflow and trivy"
    reason: str

    def matches(self, group: FindingGroup) -> bool:
        return group.package == self.package and self.advisory in group.ids and group.tools == self.reported_by


EXPLAINED: tuple[Explained, ...] = ()


@pytest.fixture(scope="module")
def scans(
    corpus_images: Callable[[str], BuiltImage], peer_databases: PeerDatabases, grype_bin: str, trivy_bin: str
) -> Callable[[str], list[PeerFinding]]:
    cache: dict[str, list[PeerFinding]] = {}

    def run(name: str) -> list[PeerFinding]:
        if name not in cache:
            image = corpus_images(name)
            env = peer_databases.env()
            cache[name] = (
                shipflow_findings(image.layout_path, image.tag, peer_databases.shipflow_db)
                + grype_findings(grype_bin, image.layout_path, env)
                + trivy_findings(trivy_bin, image.layout_path, env)
            )
        return cache[name]

    return run


def _describe(group: FindingGroup) -> str:
    return f"{group.package} {group.version}: {sorted(group.ids)} reported by {sorted(group.tools)}"


@pytest.mark.parametrize("image_name", [entry.name for entry in CORPUS])
def test_three_scanners_agree_finding_for_finding(
    image_name: str, scans: Callable[[str], list[PeerFinding]]
) -> None:
    findings = scans(image_name)
    groups = group_findings(findings)
    explained = [e for e in EXPLAINED if e.image == image_name]
    disagreements = [g for g in groups if g.tools != TOOLS]
    unexplained = [_describe(g) for g in disagreements if not any(e.matches(g) for e in explained)]
    assert unexplained == [], "differences between the scanners without a verdict in EXPLAINED"
    stale = [f"{e.package} {e.advisory}" for e in explained if not any(e.matches(g) for g in disagreements)]
    assert stale == [], "EXPLAINED entries that no longer match a difference (remove them)"


@pytest.mark.parametrize("image_name", [entry.name for entry in CORPUS])
def test_shipflow_reports_each_advisory_once(image_name: str, scans: Callable[[str], list[PeerFinding]]) -> None:
    findings = scans(image_name)
    ours = [f for f in findings if f.tool == "shipflow"]
    for group in group_findings(findings):
        mine = [f for f in ours if (f.package, f.version) == (group.package, group.version) and f.ids & group.ids]
        assert len(mine) <= 1, f"shipflow reports one advisory more than once: {mine}"
