"""The Gate protocol: evidence on success, GateFailed carrying evidence on failure, composites
that refuse to be empty, and skips that are recorded and warned about."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pytest

from shipflow.errors import ConfigError, GateFailed, TransportError, VerificationError
from shipflow.gate import AllOf, AnyOf, Evidence, Gate, GateContext, GateStatus, Outcome, Skipped
from shipflow.oci.digest import Digest
from support.memory_store import MemoryStore

DIGEST = Digest.of(b"subject")


@pytest.fixture
def ctx() -> GateContext:
    return GateContext(store=MemoryStore(), digest=DIGEST)  # type: ignore[arg-type]


@dataclass
class Fixed(Gate[GateContext]):
    """A gate with a given verdict, counting its runs."""

    name: str
    passed: bool = True
    runs: int = 0

    def evaluate(self, ctx: GateContext) -> Outcome:
        self.runs += 1
        return Outcome(
            passed=self.passed,
            summary="fine" if self.passed else "not fine",
            inputs={"threshold": "HIGH"},
            details={"findings": 0 if self.passed else 2},
            hint=None if self.passed else "fix it",
        )


class Refuses(Gate[GateContext]):
    name = "signature"

    def evaluate(self, ctx: GateContext) -> Outcome:
        raise VerificationError("no valid signature", hint="sign the image")


class Broken(Gate[GateContext]):
    name = "registry"

    def evaluate(self, ctx: GateContext) -> Outcome:
        raise TransportError("connection reset")


def test_a_passing_gate_returns_timed_evidence(ctx: GateContext) -> None:
    evidence = Fixed("vulnerabilities").check(ctx)
    assert evidence.status is GateStatus.PASSED and evidence.passed
    assert evidence.subject == str(DIGEST)
    assert evidence.inputs == {"threshold": "HIGH"} and evidence.details == {"findings": 0}
    assert evidence.duration_seconds >= 0 and evidence.started_at.endswith("Z")


def test_a_failing_gate_raises_with_its_evidence(ctx: GateContext) -> None:
    with pytest.raises(GateFailed) as failed:
        Fixed("vulnerabilities", passed=False).check(ctx)
    evidence = failed.value.evidence
    assert evidence is not None and evidence.status is GateStatus.FAILED
    assert evidence.details == {"findings": 2}
    assert failed.value.hint == "fix it" and failed.value.exit_code == 1
    assert "vulnerabilities gate failed: not fine" in failed.value.message


def test_a_check_failure_inside_a_gate_becomes_gate_failed(ctx: GateContext) -> None:
    with pytest.raises(GateFailed) as failed:
        Refuses().check(ctx)
    assert isinstance(failed.value.__cause__, VerificationError)
    assert failed.value.evidence is not None and failed.value.evidence.gate == "signature"
    assert failed.value.hint == "sign the image"


def test_infrastructure_errors_are_not_verdicts(ctx: GateContext) -> None:
    with pytest.raises(TransportError):
        Broken().check(ctx)


def test_all_of_stops_at_the_first_failure(ctx: GateContext) -> None:
    first, second, third = Fixed("a"), Fixed("b", passed=False), Fixed("c")
    seen: list[Evidence] = []
    with pytest.raises(GateFailed) as failed:
        AllOf([first, second, third], on_evidence=seen.append).check(ctx)
    assert (first.runs, second.runs, third.runs) == (1, 1, 0)
    combined = failed.value.evidence
    assert combined is not None and [c.gate for c in combined.children] == ["a", "b"]
    assert [e.gate for e in seen] == ["a", "b"]


def test_all_of_keep_going_runs_every_gate_and_reports_every_failure(ctx: GateContext) -> None:
    gates = [Fixed("a", passed=False), Fixed("b"), Fixed("c", passed=False)]
    with pytest.raises(GateFailed) as failed:
        AllOf(gates, keep_going=True).check(ctx)
    assert all(g.runs == 1 for g in gates)
    assert "2 gate(s) failed: a, c" in failed.value.message


def test_all_of_passes_and_counts_skips(ctx: GateContext, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="shipflow.gate"):
        evidence = AllOf([Fixed("a"), Skipped("smoke", "no smoke tests yet")]).check(ctx)
    assert evidence.passed and evidence.summary == "1 gate(s) passed, 1 skipped"
    skipped = evidence.children[1]
    assert skipped.status is GateStatus.SKIPPED and skipped.details == {"reason": "no smoke tests yet"}
    assert "gate smoke SKIPPED" in caplog.text


def test_any_of_takes_the_first_that_passes(ctx: GateContext) -> None:
    first, second, third = Fixed("a", passed=False), Fixed("b"), Fixed("c")
    evidence = AnyOf([first, second, third]).check(ctx)
    assert evidence.passed and third.runs == 0
    with pytest.raises(GateFailed):
        AnyOf([Fixed("a", passed=False), Fixed("b", passed=False)]).check(ctx)


def test_composites_refuse_to_be_empty_and_skips_need_a_reason() -> None:
    with pytest.raises(ConfigError):
        AllOf([])
    with pytest.raises(ConfigError):
        AnyOf([])
    with pytest.raises(ConfigError):
        Skipped("smoke", " ")


def test_evidence_round_trips_through_json(ctx: GateContext) -> None:
    with pytest.raises(GateFailed) as failed:
        AllOf([Fixed("a"), Fixed("b", passed=False)], keep_going=True).check(ctx)
    evidence = failed.value.evidence
    assert evidence is not None
    text = json.dumps(evidence.to_json())
    assert Evidence.from_json(json.loads(text)) == Evidence.from_json(evidence.to_json())
    again = Evidence.from_json(json.loads(text))
    assert again.status is GateStatus.FAILED and [c.gate for c in again.children] == ["a", "b"]
    with pytest.raises((KeyError, ValueError, TypeError)):
        Evidence.from_json({"gate": "x", "status": "maybe"})
