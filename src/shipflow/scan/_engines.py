"""``--engine trivy|grype``: run an external scanner and map its JSON into a ScanReport, so
the same exceptions, gate and report formats apply.

The JSON shapes mapped here were read from the scanners' sources:

* Trivy: ``pkg/types/report.go`` (``Report{SchemaVersion, ArtifactName, Metadata{RepoDigests},
  Results[]{Target, Class, Type, Vulnerabilities[]}}``) and ``pkg/types/vulnerability.go``
  (``DetectedVulnerability{VulnerabilityID, PkgName, PkgPath, PkgIdentifier{PURL},
  InstalledVersion, FixedVersion, Status, Severity, Title, Description, PrimaryURL,
  References, CVSS{source: {V3Vector, V3Score, V40Vector, V40Score}}, VendorIDs}``).
* Grype: ``grype/presenter/models/document.go`` (``Document{matches, source, descriptor}``),
  ``match.go`` (``Match{vulnerability, relatedVulnerabilities, artifact}``),
  ``vulnerability.go``/``vulnerability_metadata.go`` (``id, severity, description, urls,
  cvss[]{vector, metrics{baseScore}}, fix{versions, state}``) and ``package.go``
  (``artifact{name, version, type, purl, locations[]{path}}``), ``source.go``
  (``source{type, target}``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipflow.errors import InfrastructureError, UsageError
from shipflow.scan.matcher import ScanOptions, apply_exceptions
from shipflow.scan.model import Finding, PackageRef, ScanReport
from shipflow.scan.severity import Severity
from shipflow.timeutil import utc_timestamp

ENGINE_TIMEOUT_SECONDS = 1800


def _severity(text: Any) -> Severity:
    if not isinstance(text, str):
        return Severity.UNKNOWN
    try:
        return Severity.parse(text)
    except UsageError:
        return Severity.UNKNOWN  # "Negligible" maps; vendor-specific words do not


def _now() -> str:
    return utc_timestamp()


def _trivy_cvss(vuln: Mapping[str, Any]) -> tuple[float | None, str | None]:
    sources = vuln.get("CVSS") or {}
    preferred = [sources.get(k) for k in ("nvd", "ghsa", "redhat")] + list(sources.values())
    for entry in preferred:
        if isinstance(entry, Mapping):
            for score_key, vector_key in (("V40Score", "V40Vector"), ("V3Score", "V3Vector")):
                if isinstance(entry.get(score_key), (int, float)):
                    return float(entry[score_key]), entry.get(vector_key)
    return None, None


def map_trivy(document: Mapping[str, Any]) -> tuple[str, str | None, list[Finding]]:
    """(subject, subject digest, findings) from ``trivy … --format json``."""
    metadata = document.get("Metadata") or {}
    digest = None
    for repo_digest in metadata.get("RepoDigests") or ():
        if isinstance(repo_digest, str) and "@" in repo_digest:
            digest = repo_digest.split("@", 1)[1]
            break
    findings = []
    for result in document.get("Results") or ():
        target = str(result.get("Target") or "")
        ecosystem = str(result.get("Type") or "")
        for vuln in result.get("Vulnerabilities") or ():
            score, vector = _trivy_cvss(vuln)
            fixed = [v.strip() for v in str(vuln.get("FixedVersion") or "").split(",") if v.strip()]
            identifier = vuln.get("PkgIdentifier") or {}
            purl = (
                identifier.get("PURL") or f"pkg:generic/{vuln.get('PkgName')}@{vuln.get('InstalledVersion')}"
            )
            references = [vuln["PrimaryURL"]] if vuln.get("PrimaryURL") else []
            references += [r for r in vuln.get("References") or () if r not in references]
            findings.append(
                Finding(
                    advisory_id=str(vuln.get("VulnerabilityID")),
                    aliases=tuple(str(v) for v in vuln.get("VendorIDs") or ()),
                    package=PackageRef(
                        name=str(vuln.get("PkgName")),
                        version=str(vuln.get("InstalledVersion") or ""),
                        type=purl.split("/", 1)[0].removeprefix("pkg:") if purl.startswith("pkg:") else "",
                        purl=str(purl),
                        ecosystem=ecosystem,
                        locations=tuple(p for p in (vuln.get("PkgPath") or target,) if p),
                    ),
                    severity=_severity(vuln.get("Severity")),
                    summary=vuln.get("Title") or vuln.get("Description"),
                    cvss_score=score,
                    cvss_vector=vector,
                    fixed_versions=tuple(fixed),
                    references=tuple(references[:5]),
                )
            )
    return str(document.get("ArtifactName") or ""), digest, findings


def map_grype(document: Mapping[str, Any]) -> tuple[str, str | None, list[Finding]]:
    """(subject, subject digest, findings) from ``grype -o json``."""
    source = document.get("source") or {}
    target = source.get("target")
    subject, digest = "", None
    if isinstance(target, Mapping):
        subject = str(target.get("userInput") or target.get("path") or "")
        digest = target.get("manifestDigest")
    elif isinstance(target, str):
        subject = target
    findings = []
    for match in document.get("matches") or ():
        vuln = match.get("vulnerability") or {}
        artifact = match.get("artifact") or {}
        score = vector = None
        for cvss in vuln.get("cvss") or ():
            metrics = cvss.get("metrics") or {}
            if isinstance(metrics.get("baseScore"), (int, float)):
                score, vector = float(metrics["baseScore"]), cvss.get("vector")
                break
        fix = vuln.get("fix") or {}
        aliases = tuple(
            str(r.get("id"))
            for r in match.get("relatedVulnerabilities") or ()
            if r.get("id") != vuln.get("id")
        )
        findings.append(
            Finding(
                advisory_id=str(vuln.get("id")),
                aliases=aliases,
                package=PackageRef(
                    name=str(artifact.get("name")),
                    version=str(artifact.get("version") or ""),
                    type=str(artifact.get("type") or ""),
                    purl=str(artifact.get("purl") or f"pkg:generic/{artifact.get('name')}"),
                    ecosystem=str(vuln.get("namespace") or artifact.get("type") or ""),
                    locations=tuple(
                        str(loc.get("path")) for loc in artifact.get("locations") or () if loc.get("path")
                    ),
                ),
                severity=_severity(vuln.get("severity")),
                summary=vuln.get("description"),
                cvss_score=score,
                cvss_vector=vector,
                fixed_versions=tuple(str(v) for v in fix.get("versions") or ()),
                references=tuple(str(u) for u in (vuln.get("urls") or ())[:5]),
            )
        )
    return subject, digest if isinstance(digest, str) else None, findings


def engine_command(engine: str, binary: str, target: str) -> list[str]:
    path = Path(target)
    if engine == "trivy":
        if path.is_dir() and (path / "index.json").is_file() and (path / "oci-layout").is_file():
            return [binary, "image", "--input", target, "--format", "json", "--quiet"]
        if path.is_dir():
            return [binary, "fs", "--format", "json", "--quiet", target]
        if path.is_file():
            return [binary, "sbom", "--format", "json", "--quiet", target]
        return [binary, "image", "--format", "json", "--quiet", target]
    if path.is_dir() and (path / "oci-layout").is_file():
        return [binary, "-o", "json", f"oci-dir:{target}"]
    if path.is_dir():
        return [binary, "-o", "json", f"dir:{target}"]
    if path.is_file():
        return [binary, "-o", "json", f"sbom:{target}"]
    return [binary, "-o", "json", f"registry:{target}"]


def run_engine(engine: str, target: str, options: ScanOptions) -> ScanReport:
    binary = shutil.which(engine)
    if binary is None:
        raise UsageError(
            f"--engine {engine}: {engine} is not on PATH", hint="install it, or use --engine shipflow"
        )
    started = _now()
    command = engine_command(engine, binary, target)
    try:
        completed = subprocess.run(command, capture_output=True, timeout=ENGINE_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfrastructureError(f"{engine} could not run: {exc}") from exc
    if completed.returncode != 0:
        tail = completed.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise InfrastructureError(f"{engine} exited with {completed.returncode}: {' / '.join(tail)}")
    try:
        document = json.loads(completed.stdout)
    except ValueError as exc:
        raise InfrastructureError(f"{engine} did not print JSON: {exc}") from exc
    return report_from_engine(engine, document, options, started=started)


def report_from_engine(
    engine: str, document: Mapping[str, Any], options: ScanOptions, *, started: str | None = None
) -> ScanReport:
    mapper = map_trivy if engine == "trivy" else map_grype
    subject, digest, findings = mapper(document)
    packages = {f.package.purl for f in findings}
    report = ScanReport(
        subject=subject,
        subject_digest=digest,
        engine=engine,
        db=None,
        started_at=started or _now(),
        finished_at=_now(),
        packages_scanned=len(packages),
    )
    report.notes.append(f"scanned by {engine}; packages counted are those with findings")
    apply_exceptions(report, findings, options)
    return report
