"""The vulnerability gate: does a report have findings at the levels that fail?

Two gates in the house :mod:`shipflow.gate` protocol:

* :class:`SeverityGate` judges a finished report (``shipflow scan``'s gate: any target,
  directory, SBOM file or image);
* :class:`VulnerabilityGate` re-scans an image digest *now* — from its verified SBOM
  attestation when it has one, else from its layers — with the current advisory DB, ignore
  rules and threshold, and judges that. Clean at build is not clean at promotion.

Levels (:func:`parse_fail_on`): one level means that level and above (``HIGH`` fails on
HIGH and CRITICAL, as grype's ``--fail-on high``); a list of two or more means exactly those
levels (``CRITICAL,HIGH``). UNKNOWN is only included when named.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipflow.errors import UsageError
from shipflow.gate import Gate, GateContext, Outcome
from shipflow.scan.model import Finding, ScanReport
from shipflow.scan.severity import Severity

if TYPE_CHECKING:
    from shipflow.scan.matcher import ScanOptions
    from shipflow.signing.policy import Policy

__all__ = [
    "GateResult",
    "ReportSubject",
    "SeverityGate",
    "VulnerabilityGate",
    "evaluate_gate",
    "parse_fail_on",
    "severities_at_or_above",
]

# Findings listed in a gate's evidence (the full list is in the report / attestation).
_EVIDENCE_FINDINGS = 50


@dataclass(frozen=True, slots=True)
class GateResult:
    passed: bool
    fail_on: frozenset[Severity]
    failing: tuple[Finding, ...]
    subject: str
    subject_digest: str | None
    db_identity: str | None

    def summary(self) -> str:
        levels = ",".join(s.name for s in sorted(self.fail_on, reverse=True))
        if self.passed:
            return f"gate passed: no findings at {levels}"
        return f"gate failed: {len(self.failing)} finding(s) at {levels}"


def severities_at_or_above(threshold: Severity) -> frozenset[Severity]:
    """``HIGH`` means HIGH and CRITICAL; UNKNOWN is only included when asked for explicitly."""
    return frozenset(s for s in Severity if s >= threshold and (s != Severity.UNKNOWN or threshold == s))


def parse_fail_on(levels: str | Sequence[str]) -> frozenset[Severity]:
    """``"HIGH"`` → HIGH and above; ``"CRITICAL,HIGH"`` or ``["CRITICAL", "HIGH"]`` → exactly
    those. An empty specification is an error (it would switch the gate off silently)."""
    parts = (
        [p.strip() for p in levels.split(",")]
        if isinstance(levels, str)
        else [str(p).strip() for p in levels]
    )
    if any(not p for p in parts) or not parts:
        raise UsageError(
            f"empty severity in {levels!r}",
            hint="name the levels that fail, e.g. HIGH (HIGH and above) or CRITICAL,HIGH (exactly those)",
        )
    parsed = [Severity.parse(p) for p in parts]
    if len(parsed) == 1:
        return severities_at_or_above(parsed[0])
    return frozenset(parsed)


def evaluate_gate(report: ScanReport, threshold: Severity | Iterable[Severity]) -> GateResult:
    """Pass when no unsuppressed finding has a severity in ``threshold``.

    ``threshold`` is either one severity (that level and above) or an explicit set, as
    :func:`parse_fail_on` gives.
    """
    fail_on = severities_at_or_above(threshold) if isinstance(threshold, Severity) else frozenset(threshold)
    failing = tuple(f for f in report.sorted_findings() if f.severity in fail_on)
    return GateResult(
        passed=not failing,
        fail_on=fail_on,
        failing=failing,
        subject=report.subject,
        subject_digest=report.subject_digest,
        db_identity=report.db.identity if report.db else None,
    )


@dataclass(frozen=True)
class ReportSubject:
    """The context of a gate that judges a finished scan report."""

    report: ScanReport

    @property
    def subject(self) -> str:
        return self.report.subject_digest or self.report.subject


def _levels(fail_on: frozenset[Severity]) -> list[str]:
    return [s.name for s in sorted(fail_on, reverse=True)]


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.advisory_id,
        "aliases": list(finding.aliases),
        "package": finding.package.name,
        "version": finding.package.version,
        "type": finding.package.type,
        "severity": finding.severity.name,
        "fixed": list(finding.fixed_versions),
    }


def judge(report: ScanReport, fail_on: frozenset[Severity], inputs: dict[str, Any] | None = None) -> Outcome:
    """The Outcome of the severity rule on ``report``, with its evidence."""
    result = evaluate_gate(report, fail_on)
    counts = Counter(f.severity.name for f in report.findings)
    details: dict[str, Any] = {
        "findings": dict(sorted(counts.items())),
        "suppressed": len(report.suppressed),
        "packagesScanned": report.packages_scanned,
        "failing": [_finding_json(f) for f in result.failing[:_EVIDENCE_FINDINGS]],
    }
    if len(result.failing) > _EVIDENCE_FINDINGS:
        details["failingOmitted"] = len(result.failing) - _EVIDENCE_FINDINGS
    all_inputs: dict[str, Any] = {
        "failOn": _levels(fail_on),
        "engine": report.engine,
        "advisoryDb": report.db.identity if report.db else None,
        "advisoryDbNewest": report.db.newest_modified if report.db else None,
        **(inputs or {}),
    }
    if result.passed:
        summary = f"no findings at {','.join(_levels(fail_on))} ({report.packages_scanned} packages)"
    else:
        worst = ", ".join(
            f"{f.advisory_id} in {f.package.name} {f.package.version}" for f in result.failing[:3]
        )
        more = f" and {len(result.failing) - 3} more" if len(result.failing) > 3 else ""
        summary = f"{len(result.failing)} finding(s) at {','.join(_levels(fail_on))}: {worst}{more}"
    return Outcome(
        passed=result.passed,
        summary=summary,
        inputs=all_inputs,
        details=details,
        hint=None if result.passed else "fix or upgrade, or record an exception in .shipflowignore.yaml",
    )


class SeverityGate(Gate[ReportSubject]):
    """Fails when a finished report has unsuppressed findings at the ``fail_on`` levels."""

    name = "vulnerabilities"

    def __init__(self, fail_on: frozenset[Severity] | Severity) -> None:
        self.fail_on = severities_at_or_above(fail_on) if isinstance(fail_on, Severity) else fail_on
        if not self.fail_on:
            raise UsageError("the vulnerability gate needs at least one severity level")

    def evaluate(self, ctx: ReportSubject) -> Outcome:
        return judge(ctx.report, self.fail_on)


def file_digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


class VulnerabilityGate(Gate[GateContext]):
    """Re-scan an image digest now and fail on findings at the ``fail_on`` levels.

    ``db_path`` is opened for each check (so a promotion sees the DB as it is now). With
    ``sbom_policy`` (the trusted keys), a verified SPDX or CycloneDX attestation on the digest
    is scanned instead of its layers — the SBOM the build signed, faster than re-reading
    layers; without one, or when none verifies, the layers are read.
    """

    name = "vulnerabilities"

    def __init__(
        self,
        fail_on: frozenset[Severity] | Severity,
        *,
        db_path: Path | None,
        options: ScanOptions,
        ignore_files: Sequence[Path] = (),
        sbom_policy: Policy | None = None,
        platform: str | None = None,
    ) -> None:
        self.fail_on = severities_at_or_above(fail_on) if isinstance(fail_on, Severity) else fail_on
        self.db_path = db_path
        self.options = options
        self.ignore_files = tuple(ignore_files)
        self.sbom_policy = sbom_policy
        self.platform = platform

    def evaluate(self, ctx: GateContext) -> Outcome:
        import contextlib

        from shipflow.scan.db import AdvisoryDB
        from shipflow.scan.matcher import scan_inventory
        from shipflow.scan.run import scan_image

        with contextlib.closing(AdvisoryDB.open(self.db_path)) as db:
            inventory, source = self._sbom_inventory(ctx)
            if inventory is not None:
                report = scan_inventory(inventory, db, self.options)
                report.subject_digest = str(ctx.digest)
            else:
                report = scan_image(ctx.store, ctx.digest, db, self.options, platform=self.platform)
        inputs = {
            "source": source,
            "ignoreFiles": {str(p): file_digest(p) for p in self.ignore_files if p.is_file()},
            "ignoreUnfixed": self.options.ignore_unfixed,
        }
        return judge(report, self.fail_on, inputs)

    def _sbom_inventory(self, ctx: GateContext) -> tuple[Any, str]:
        if self.sbom_policy is None:
            return None, "layers"
        from shipflow.scan._sbom_input import read_sbom_document
        from shipflow.signing.dsse import predicate_type_uri
        from shipflow.signing.verify import verify_attestations_report

        for type_name in ("spdxjson", "cyclonedx"):
            predicate_type = predicate_type_uri(type_name)
            report = verify_attestations_report(
                ctx.store, ctx.digest, self.sbom_policy, predicate_type=predicate_type
            )
            if report.ok and report.verified:
                newest = report.verified[-1]
                key_ids = ",".join(newest.key_ids)
                result = read_sbom_document(
                    newest.predicate, f"{predicate_type} attestation {newest.layer_digest}"
                )
                return result.inventory, f"sbom-attestation ({type_name}, key {key_ids})"
        return None, "layers (no verified SBOM attestation)"
