"""The vulnerability gate: does a report have findings at or above a threshold?"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shipflow.scan.model import Finding, ScanReport
from shipflow.scan.severity import Severity


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


def evaluate_gate(report: ScanReport, threshold: Severity | Iterable[Severity]) -> GateResult:
    """Pass when no unsuppressed finding has a severity in ``threshold``.

    ``threshold`` is either one severity (that level and above) or an explicit set, as
    ``--fail-on CRITICAL,HIGH`` gives.
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
