"""What a scan produces: findings, suppressed findings with their reasons, and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shipflow.sbom.model import NotRead
from shipflow.scan.db import DbInfo
from shipflow.scan.severity import Severity

SuppressionKind = Literal["ignore-file", "trivyignore", "vex", "unfixed"]


@dataclass(frozen=True, slots=True)
class PackageRef:
    name: str
    version: str
    type: str
    purl: str
    ecosystem: str
    locations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AdvisorySource:
    """One advisory record behind a finding: its id, the database that published it
    (``ghsa``, ``pypa``, ``debian``… see :func:`shipflow.scan.aliases.source_of`) and that
    record's own rating."""

    id: str
    source: str
    severity: Severity
    cvss_score: float | None = None
    cvss_vector: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One advisory affecting one package.

    When several databases published the same advisory (``GHSA-…``, ``PYSEC-…``, ``CVE-…``),
    the scan merges them into one finding: ``advisory_id`` is one record's id, ``aliases``
    holds every other id, ``sources`` every record, and ``severity`` the rating chosen among
    them (``severity_source`` says whose).
    """

    advisory_id: str
    aliases: tuple[str, ...]
    package: PackageRef
    severity: Severity
    summary: str | None = None
    cvss_score: float | None = None
    cvss_vector: str | None = None
    fixed_versions: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    sources: tuple[AdvisorySource, ...] = ()
    severity_source: str | None = None

    @property
    def ids(self) -> frozenset[str]:
        """The advisory id and its aliases: what ignore entries and VEX statements name."""
        return frozenset((self.advisory_id, *self.aliases))

    @property
    def fixable(self) -> bool:
        return bool(self.fixed_versions)


@dataclass(frozen=True, slots=True)
class Suppression:
    kind: SuppressionKind
    reason: str
    source: str | None = None  # the ignore file or VEX document
    expires: str | None = None  # ISO date, for ignore entries that have one


@dataclass(frozen=True, slots=True)
class SuppressedFinding:
    finding: Finding
    suppression: Suppression


@dataclass(slots=True)
class ScanReport:
    """A scan of one subject: the evidence a gate decision is made on."""

    subject: str
    subject_digest: str | None
    engine: str
    db: DbInfo | None
    started_at: str
    finished_at: str
    packages_scanned: int
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[SuppressedFinding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Files recognised as lock files / package databases / archives that could not be read:
    # their packages are missing from the scan (``scan --strict`` fails on any).
    not_read: list[NotRead] = field(default_factory=list)

    def counts(self) -> dict[Severity, int]:
        counts = dict.fromkeys(Severity, 0)
        for finding in self.findings:
            counts[finding.severity] += 1
        return counts

    def sorted_findings(self) -> list[Finding]:
        return sorted(
            self.findings,
            key=lambda f: (-f.severity, f.package.name, f.package.version, f.advisory_id, f.package.purl),
        )
