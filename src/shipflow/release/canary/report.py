"""What a canary run or a rollback did: the one object the terminal, the JSON output, the
step summary, the webhook and the history entry are all made from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shipflow.errors import EXIT_CHECK_FAILED, EXIT_INFRA, EXIT_OK
from shipflow.gate import Evidence
from shipflow.oci.digest import Digest
from shipflow.release.canary.watch import Check, Trip
from shipflow.release.deploy.base import Deployment, DeployResult

__all__ = ["ReleaseReport", "RunVerdict"]


class RunVerdict(StrEnum):
    PASSED = "passed"  # the canary stayed healthy for the duration
    ROLLED_BACK = "rolled-back"  # tripped (or interrupted, or failed to deploy): previous digest serves again
    REFUSED = "refused"  # a check failed before anything changed
    ROLLBACK_FAILED = "rollback-failed"  # the rollback could not be completed: see `state`
    STOPPED = "stopped"  # a first release tripped: nothing to roll back to, so it was stopped
    ERROR = "error"  # infrastructure failed before a decision: see `state`

    @property
    def headline(self) -> str:
        return {
            RunVerdict.PASSED: "✅ canary passed",
            RunVerdict.ROLLED_BACK: "⏪ rolled back",
            RunVerdict.REFUSED: "⛔ refused",
            RunVerdict.ROLLBACK_FAILED: "🚨 rollback failed",
            RunVerdict.STOPPED: "⏹ stopped (first release: nothing to roll back to)",
            RunVerdict.ERROR: "🚨 error",
        }[self]


@dataclass
class ReleaseReport:
    kind: str  # canary | rollback
    env: str
    image: str
    candidate: Digest | None  # the canary's digest; for a manual rollback: what was rolled away from
    actor: str
    started_at: str
    verdict: RunVerdict = RunVerdict.ERROR
    reason: str = ""
    exit_code: int = EXIT_INFRA
    finished_at: str = ""
    previous: Digest | None = None  # the rollback target
    previous_source: str | None = None
    expected_version: str | None = None
    previous_version: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    deploy: DeployResult | None = None
    rollback_deploy: DeployResult | None = None
    checks: list[Check] = field(default_factory=list)
    recovery: list[Check] = field(default_factory=list)
    trip: Trip | None = None
    timings: dict[str, float | None] = field(default_factory=dict)
    tag_digest: Digest | None = None  # what :ENV names at the end (read back), None if unknown/absent
    target_state: Deployment | None = None
    state: str = ""  # one plain sentence: what is deployed now
    recorded: bool = False
    notes: list[str] = field(default_factory=list)
    missed_slots: int = 0

    @property
    def counts(self) -> dict[str, int]:
        result = {"pass": 0, "fail": 0, "error": 0, "pending": 0}
        for check in self.checks:
            result[check.status.value] += 1
        result["total"] = len(self.checks)
        return result

    @property
    def deployed(self) -> Digest | None:
        """What the environment runs at the end, as far as shipflow knows."""
        if self.target_state is not None and self.target_state.digest is not None:
            return self.target_state.digest
        return self.tag_digest

    def finish(self, verdict: RunVerdict, reason: str, exit_code: int | None = None) -> None:
        self.verdict = verdict
        self.reason = reason
        if exit_code is None:
            exit_code = {
                RunVerdict.PASSED: EXIT_OK,
                RunVerdict.ROLLED_BACK: EXIT_CHECK_FAILED if self.kind == "canary" else EXIT_OK,
                RunVerdict.REFUSED: EXIT_CHECK_FAILED,
                RunVerdict.ROLLBACK_FAILED: EXIT_INFRA,
                RunVerdict.STOPPED: EXIT_CHECK_FAILED,
                RunVerdict.ERROR: EXIT_INFRA,
            }[verdict]
        self.exit_code = exit_code

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "env": self.env,
            "image": self.image,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "exitCode": self.exit_code,
            "candidate": None if self.candidate is None else str(self.candidate),
            "previous": None if self.previous is None else str(self.previous),
            "previousSource": self.previous_source,
            "expectedVersion": self.expected_version,
            "previousVersion": self.previous_version,
            "deployed": None if self.deployed is None else str(self.deployed),
            "tag": None if self.tag_digest is None else str(self.tag_digest),
            "target": None if self.target_state is None else self.target_state.to_json(),
            "state": self.state,
            "actor": self.actor,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "timings": {k: (None if v is None else round(v, 4)) for k, v in self.timings.items()},
            "counts": self.counts,
            "missedSlots": self.missed_slots,
            "trip": None
            if self.trip is None
            else {
                "rule": self.trip.rule,
                "description": self.trip.description,
                "firstFailure": None if self.trip.first_failure is None else self.trip.first_failure.seq,
                "trippedAt": None if self.trip.tripping is None else self.trip.tripping.seq,
                "failures": list(self.trip.failures),
            },
            "checks": [c.to_json() for c in self.checks],
            "recovery": [c.to_json() for c in self.recovery],
            "deploy": None if self.deploy is None else self.deploy.to_json(),
            "rollbackDeploy": None if self.rollback_deploy is None else self.rollback_deploy.to_json(),
            "evidence": [e.to_json() for e in self.evidence],
            "settings": self.settings,
            "recorded": self.recorded,
            "notes": list(self.notes),
        }
