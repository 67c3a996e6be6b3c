"""``scan_inventory``: match an Inventory against the advisory database, merge the records that
alias each other into one finding per advisory and package (:mod:`shipflow.scan.aliases`), then
apply the user's exceptions (ignore entries, VEX, ``ignore_unfixed``) and say what was suppressed
why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from shipflow.sbom.model import OS_PACKAGE_TYPES, Inventory, Package
from shipflow.scan._ecosystems import Query, query_for
from shipflow.scan._ranges import evaluate
from shipflow.scan.aliases import merge_aliases, source_of
from shipflow.scan.db import AdvisoryDB
from shipflow.scan.ignore import IgnoreRules
from shipflow.scan.model import (
    AdvisorySource,
    Finding,
    PackageRef,
    ScanReport,
    SuppressedFinding,
    Suppression,
)
from shipflow.scan.versions import scheme_for
from shipflow.scan.vex import VexIndex
from shipflow.timeutil import format_utc

ENGINE = "shipflow"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanOptions:
    ignore: IgnoreRules = field(default_factory=lambda: IgnoreRules(()))
    vex: VexIndex = field(default_factory=lambda: VexIndex(()))
    ignore_unfixed: bool = False
    # Warn (in the report's notes) when the last import is older than this; None: never.
    max_db_age: timedelta | None = timedelta(days=7)
    now: datetime | None = None
    # Whose rating a finding published by several databases takes: the first of these
    # databases ("ghsa", "debian", "nvd"… see shipflow.scan.aliases) that rates it; () = the
    # highest rating of all its records.
    severity_source: tuple[str, ...] = ()


def _iso(moment: datetime) -> str:
    return format_utc(moment)


def _match_package(
    db: AdvisoryDB, package: Package, query: Query | None, problems: Counter[str]
) -> list[Finding]:
    if query is None:
        if package.type in OS_PACKAGE_TYPES:
            problems[
                "OS packages without a distribution release OSV has advisories for were not matched"
            ] += 1
        return []
    found: dict[str, Finding] = {}
    for ecosystem in query.ecosystems:
        scheme = scheme_for(ecosystem)
        for hit in db.lookup(ecosystem, query.name):
            verdict = evaluate(query.version, hit.parsed, scheme)
            if verdict.problem:
                problems[f"{ecosystem}: {verdict.problem}"] += 1
            if not verdict.affected:
                continue
            advisory = hit.advisory
            previous = found.get(advisory.id)
            fixed = tuple(dict.fromkeys((*(previous.fixed_versions if previous else ()), *verdict.fixed)))
            found[advisory.id] = Finding(
                advisory_id=advisory.id,
                aliases=advisory.aliases,
                package=PackageRef(
                    name=package.name,
                    version=package.version,
                    type=package.type,
                    purl=package.purl,
                    ecosystem=ecosystem,
                    locations=tuple(loc.path for loc in package.locations),
                ),
                severity=advisory.severity,
                summary=advisory.summary,
                cvss_score=advisory.cvss_score,
                cvss_vector=advisory.cvss_vector,
                fixed_versions=fixed,
                references=advisory.references,
                sources=(
                    AdvisorySource(
                        id=advisory.id,
                        source=source_of(advisory.id),
                        severity=advisory.severity,
                        cvss_score=advisory.cvss_score,
                        cvss_vector=advisory.cvss_vector,
                    ),
                ),
            )
    return list(found.values())


def scan_inventory(inventory: Inventory, db: AdvisoryDB, options: ScanOptions | None = None) -> ScanReport:
    """Every advisory affecting a package of ``inventory``, minus the accepted ones."""
    options = options or ScanOptions()
    started = options.now or datetime.now(UTC)
    report = ScanReport(
        subject=inventory.subject,
        subject_digest=inventory.subject_digest,
        engine=ENGINE,
        db=db.info,
        started_at=_iso(started),
        finished_at=_iso(started),
        packages_scanned=len(inventory.packages),
        not_read=inventory.sorted_not_read(),
    )
    age = db.info.age_seconds(started)
    if options.max_db_age is not None and age is not None and age > options.max_db_age.total_seconds():
        report.notes.append(
            f"advisory database is {age / 86400:.1f} days old (limit {options.max_db_age.days} days);"
            " import fresh advisories with `shipflow db import`"
        )
    problems: Counter[str] = Counter()
    # One query per package, used twice: to fetch every candidate advisory in a few SQL
    # queries, then to match.
    queries = [(package, query_for(package, inventory.distro)) for package in inventory.sorted_packages()]
    db.prefetch((eco, q.name) for _, q in queries if q is not None for eco in q.ecosystems)
    matched = [
        finding for package, query in queries for finding in _match_package(db, package, query, problems)
    ]
    apply_exceptions(report, matched, options)
    for problem, count in sorted(problems.items()):
        report.notes.append(f"{problem} ({count}x)")
    report.findings = report.sorted_findings()
    report.finished_at = _iso(options.now or datetime.now(UTC))
    return report


def apply_exceptions(report: ScanReport, findings: list[Finding], options: ScanOptions) -> None:
    """Merge ``findings`` that alias each other, then sort them into the report's active and
    suppressed lists (one per advisory and package), noting expired ignore entries."""
    today = (options.now or datetime.now(UTC)).date()
    subject_ids = frozenset(x for x in (report.subject, report.subject_digest) if x)
    seen: set[tuple[str, str]] = set()
    for finding in merge_aliases(findings, options.severity_source):
        key = (finding.advisory_id, finding.package.purl)
        if key in seen:
            continue
        seen.add(key)
        suppression = _suppression(finding, options, today, subject_ids, report)
        if suppression is None:
            report.findings.append(finding)
        else:
            report.suppressed.append(SuppressedFinding(finding, suppression))
    report.findings = report.sorted_findings()


def _suppression(
    finding: Finding, options: ScanOptions, today: date, subject_ids: frozenset[str], report: ScanReport
) -> Suppression | None:
    decision = options.ignore.decide(finding, today)
    for entry in decision.expired:
        report.notes.append(
            f"ignore entry for {entry.id} in {entry.source} expired on {entry.expires}; "
            f"{finding.advisory_id} in {finding.package.name} {finding.package.version} is reported again"
        )
    if decision.active is not None:
        return decision.active.suppression()
    vex = options.vex.suppression_for(finding, subject_ids)
    if vex is not None:
        return vex
    if options.ignore_unfixed and not finding.fixable:
        return Suppression("unfixed", "no fixed version published (--ignore-unfixed)")
    return None
