"""One finding per advisory, however many databases published it.

The same flaw is often published several times: GitHub's advisory database as ``GHSA-…``, the
PyPA database as ``PYSEC-…``, osv.dev's NVD import as ``CVE-…``, a distribution as ``DSA-…``
or ``DEBIAN-CVE-…``. Each record names the others in its ``aliases``. Matched one by one they
would be counted (and gated on) two or three times, so findings for the same package whose ids
are linked through aliases, directly or through a chain, are merged into one finding that:

* keeps one record's id as its ``advisory_id`` (GitHub's advisory first, then the other
  databases, CVE records last, each group by id), and every other id in ``aliases``;
* lists every record behind it in ``sources`` (id, database, that record's severity);
* has the highest severity of those records, unless the caller names the databases whose rating
  wins (``severity_source=("debian", "ghsa")``, Trivy's ``--vuln-severity-source``): the first
  named database with a rating decides; when none of them rates it, the highest applies;
* has the union of the fixed versions and references, the primary record's summary.

Ignore files and VEX statements keep matching any of the merged ids (``Finding.ids``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from shipflow.errors import UsageError
from shipflow.scan.model import AdvisorySource, Finding
from shipflow.scan.severity import Severity

# id prefix -> the database that publishes records with it (osv.dev's prefixes, plus the ids
# Trivy and Grype report). Anything else is named after its prefix, lower-cased.
_PREFIX_SOURCE = {
    "GHSA": "ghsa",
    "PYSEC": "pypa",
    "GO": "go",
    "RUSTSEC": "rustsec",
    "CVE": "nvd",
    "DSA": "debian",
    "DLA": "debian",
    "DTSA": "debian",
    "DEBIAN": "debian",
    "ALPINE": "alpine",
    "USN": "ubuntu",
    "UBUNTU": "ubuntu",
    "RHSA": "redhat",
    "RHBA": "redhat",
    "RHEA": "redhat",
    "ALSA": "alma",
    "RLSA": "rocky",
    "ELSA": "oracle",
    "SUSE": "suse",
    "OPENSUSE": "suse",
    "MAL": "ossf-malicious-packages",
    "PSF": "psf",
    "BIT": "bitnami",
    "CGA": "chainguard",
    "GMS": "gitlab",
    "SNYK": "snyk",
    "OSV": "osv",
}
_PREFIX = re.compile(r"^([A-Za-z]+)-")
# Which record's id stands for a merged finding: GitHub's reviewed advisory (the id Grype and
# code scanning show for language packages), then any other database's, CVE records last.
_PRIMARY_RANK = {"ghsa": 0, "nvd": 2}

# The names `--severity-source` accepts besides any database above: "highest" (the default).
HIGHEST = "highest"


def source_of(advisory_id: str) -> str:
    """The database that publishes ``advisory_id`` (``GHSA-…`` -> ``ghsa``, ``DSA-…`` -> ``debian``)."""
    match = _PREFIX.match(advisory_id)
    if match is None:
        return "unknown"
    prefix = match.group(1).upper()
    return _PREFIX_SOURCE.get(prefix, prefix.lower())


def known_sources() -> tuple[str, ...]:
    return tuple(sorted(set(_PREFIX_SOURCE.values())))


def parse_severity_sources(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"debian,ghsa"`` (or a list) -> ``("debian", "ghsa")``; ``highest``/empty -> ``()``."""
    if text is None:
        return ()
    parts = text.split(",") if isinstance(text, str) else list(text)
    names = [p.strip().lower() for p in parts if p.strip()]
    if names == [HIGHEST]:
        return ()
    for name in names:
        if name == HIGHEST:
            raise UsageError(
                f"severity source {HIGHEST!r} cannot be combined with databases",
                hint=f"give {HIGHEST!r} alone (the default), or a list of databases",
            )
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            raise UsageError(
                f"invalid severity source {name!r}",
                hint=f"use database names such as {', '.join(known_sources())}",
            )
    return tuple(dict.fromkeys(names))


def _own_source(finding: Finding) -> tuple[AdvisorySource, ...]:
    if finding.sources:
        return finding.sources
    return (
        AdvisorySource(
            id=finding.advisory_id,
            source=source_of(finding.advisory_id),
            severity=finding.severity,
            cvss_score=finding.cvss_score,
            cvss_vector=finding.cvss_vector,
        ),
    )


def _primary_key(record: AdvisorySource) -> tuple[int, str]:
    return (_PRIMARY_RANK.get(record.source, 1), record.id)


def _rated(records: Iterable[AdvisorySource]) -> AdvisorySource | None:
    """The record with the highest rating (a CVSS score breaks ties), or None if none rates."""
    best: AdvisorySource | None = None
    for record in records:
        if record.severity is Severity.UNKNOWN:
            continue
        if best is None or (record.severity, record.cvss_score or -1.0) > (
            best.severity,
            best.cvss_score or -1.0,
        ):
            best = record
    return best


def choose_severity(
    records: Sequence[AdvisorySource], severity_source: Sequence[str] = ()
) -> AdvisorySource | None:
    """The record whose rating a merged finding takes: the first database of ``severity_source``
    that rates it, else the highest-rated record; None when no record has a rating."""
    for source in severity_source:
        chosen = _rated(r for r in records if r.source == source)
        if chosen is not None:
            return chosen
    return _rated(records)


def _merge(group: list[Finding], severity_source: Sequence[str]) -> Finding:
    records: dict[str, AdvisorySource] = {}
    for finding in group:
        for record in _own_source(finding):
            records.setdefault(record.id, record)
    ordered = sorted(records.values(), key=_primary_key)
    primary_id = ordered[0].id
    by_id = {f.advisory_id: f for f in group}
    primary = by_id.get(primary_id, group[0])
    ids = [r.id for r in ordered[1:]]
    extra = sorted({a for f in group for a in (f.advisory_id, *f.aliases)} - set(ids) - {primary_id})
    chosen = choose_severity(ordered, severity_source)
    findings_in_order = sorted(group, key=lambda f: _primary_key(_own_source(f)[0]))
    fixed = dict.fromkeys(v for f in findings_in_order for v in f.fixed_versions)
    references = dict.fromkeys(r for f in findings_in_order for r in f.references)
    summary = primary.summary or next((f.summary for f in findings_in_order if f.summary), None)
    return Finding(
        advisory_id=primary_id,
        aliases=(*ids, *extra),
        package=primary.package,
        severity=chosen.severity if chosen else Severity.UNKNOWN,
        summary=summary,
        cvss_score=chosen.cvss_score if chosen else None,
        cvss_vector=chosen.cvss_vector if chosen else None,
        fixed_versions=tuple(fixed),
        references=tuple(references)[:10],
        sources=tuple(ordered),
        severity_source=chosen.source if chosen else None,
    )


def _with_sources(finding: Finding) -> Finding:
    if finding.sources and finding.severity_source is not None:
        return finding
    sources = _own_source(finding)
    rated = finding.severity is not Severity.UNKNOWN
    return Finding(
        advisory_id=finding.advisory_id,
        aliases=finding.aliases,
        package=finding.package,
        severity=finding.severity,
        summary=finding.summary,
        cvss_score=finding.cvss_score,
        cvss_vector=finding.cvss_vector,
        fixed_versions=finding.fixed_versions,
        references=finding.references,
        sources=sources,
        severity_source=sources[0].source if rated else None,
    )


class _Components:
    """Union-find over advisory ids."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        root = self.parent.setdefault(item, item)
        while root != self.parent[root]:
            root = self.parent[root]
        while item != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def merge_aliases(findings: Iterable[Finding], severity_source: Sequence[str] = ()) -> list[Finding]:
    """``findings`` with every set of alias-linked findings of one package merged into one.

    Findings come back grouped by package, packages in order of first appearance. A finding
    that aliases nothing else comes back unchanged apart from its one source filled in.
    """
    by_package: dict[str, list[Finding]] = {}
    for finding in findings:
        by_package.setdefault(finding.package.purl, []).append(finding)
    result: list[Finding] = []
    for group in by_package.values():
        if len(group) == 1:
            result.append(_with_sources(group[0]))
            continue
        components = _Components()
        for finding in group:
            for other in finding.aliases:
                components.union(finding.advisory_id, other)
            components.find(finding.advisory_id)
        members: dict[str, list[Finding]] = {}
        for finding in group:
            members.setdefault(components.find(finding.advisory_id), []).append(finding)
        for linked in members.values():
            result.append(_merge(linked, severity_source) if len(linked) > 1 else _with_sources(linked[0]))
    return result
