"""Gates: a check that either returns evidence or raises :class:`GateFailed` carrying it.

Every check that decides whether an image may move — signature verification, the
vulnerability gate, and promotion's migration, smoke, contract and approval gates — has one
shape, after sigstore-python's ``verify/policy.py``::

    evidence = SignatureGate(policy).check(GateContext(store, digest))   # passes: Evidence
    # fails: raises GateFailed(message, evidence=Evidence(status=FAILED, ...))
    # cannot decide (registry down): raises the InfrastructureError, exit 3

A gate implements :meth:`Gate.evaluate` and returns an :class:`Outcome`; :meth:`Gate.check`
times it and turns it into :class:`Evidence` (what was checked, with which inputs — key ids,
advisory DB identity, thresholds — the verdict and how long it took). A
:class:`~shipflow.errors.CheckFailed` raised inside ``evaluate`` (a signature that does not
verify) is a failed gate too; infrastructure errors are not verdicts and pass through.

Composites: :class:`AllOf` (every gate, in order, stopping at the first failure unless
``keep_going``) and :class:`AnyOf` (the first that passes); both refuse to be empty. A gate
that is deliberately not run is a :class:`Skipped` gate: it passes, but its evidence says
SKIPPED with the reason, and a warning is logged — never a silent pass.

Evidence is what promotion records carry, so it round-trips through JSON
(:meth:`Evidence.to_json` / :meth:`Evidence.from_json`).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from shipflow.errors import CheckFailed, ConfigError, GateFailed
from shipflow.timeutil import utc_timestamp

if TYPE_CHECKING:
    from shipflow.oci.digest import Digest
    from shipflow.oci.reference import Reference
    from shipflow.oci.store import Store

__all__ = [
    "AllOf",
    "AnyOf",
    "Evidence",
    "Gate",
    "GateContext",
    "GateFailed",
    "GateStatus",
    "Outcome",
    "Skipped",
    "Subject",
]

logger = logging.getLogger(__name__)


class GateStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Evidence:
    """What one gate checked and found. Immutable; serialisable into a promotion record."""

    gate: str
    status: GateStatus
    summary: str
    subject: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    started_at: str = ""
    duration_seconds: float = 0.0
    children: tuple[Evidence, ...] = ()

    @property
    def passed(self) -> bool:
        """True for PASSED and SKIPPED (a skip lets the image through, loudly)."""
        return self.status is not GateStatus.FAILED

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "gate": self.gate,
            "status": self.status.value,
            "summary": self.summary,
            "subject": self.subject,
            "inputs": dict(self.inputs),
            "details": dict(self.details),
            "startedAt": self.started_at,
            "durationSeconds": round(self.duration_seconds, 4),
        }
        if self.children:
            data["children"] = [child.to_json() for child in self.children]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Evidence:
        """Read evidence back from a record (ValueError/KeyError/TypeError on a malformed one;
        the record reader turns those into its own error)."""
        children = data.get("children") or []
        if not isinstance(children, list):
            raise TypeError("evidence children must be a list")
        inputs = data.get("inputs") or {}
        details = data.get("details") or {}
        if not isinstance(inputs, Mapping) or not isinstance(details, Mapping):
            raise TypeError("evidence inputs and details must be objects")
        return cls(
            gate=str(data["gate"]),
            status=GateStatus(data["status"]),
            summary=str(data.get("summary", "")),
            subject=None if data.get("subject") is None else str(data["subject"]),
            inputs=dict(inputs),
            details=dict(details),
            started_at=str(data.get("startedAt", "")),
            duration_seconds=float(data.get("durationSeconds", 0.0)),
            children=tuple(cls.from_json(child) for child in children),
        )


@dataclass(frozen=True)
class GateContext:
    """What every gate is given: one image, pinned to its digest, in the store that holds it.

    The pipeline layer extends it (the environments of a promotion, the actor); a gate typed
    on this base works with every extension.
    """

    store: Store
    digest: Digest
    reference: Reference | None = None

    @property
    def subject(self) -> str:
        return str(self.digest)


@dataclass(frozen=True)
class Outcome:
    """A gate's verdict before it is timed: passed or not, why, and on what inputs."""

    passed: bool
    summary: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    hint: str | None = None


class Subject(Protocol):
    """What any gate context has: the name of what is checked (a digest, a report's subject)."""

    @property
    def subject(self) -> str: ...


C = TypeVar("C", bound=Subject)


class Gate(ABC, Generic[C]):
    """One check. Subclasses set :attr:`name` and implement :meth:`evaluate`."""

    name: str = "gate"

    @abstractmethod
    def evaluate(self, ctx: C) -> Outcome:
        """Decide. Return an Outcome; raise CheckFailed for a refusal that has its own
        message, or an InfrastructureError when no decision could be made."""

    def check(self, ctx: C) -> Evidence:
        """Run the gate: its evidence when it passes, GateFailed (with the evidence) when not."""
        started_at = utc_timestamp()
        started = time.monotonic()
        try:
            outcome = self.evaluate(ctx)
        except GateFailed as exc:
            if exc.evidence is None:
                exc.evidence = self._failed(ctx, exc.message, started_at, started)
            raise
        except CheckFailed as exc:
            evidence = self._failed(ctx, exc.message, started_at, started)
            raise GateFailed(
                f"{self.name} gate failed: {exc.message}", evidence=evidence, hint=exc.hint
            ) from exc
        evidence = Evidence(
            gate=self.name,
            status=GateStatus.PASSED if outcome.passed else GateStatus.FAILED,
            summary=outcome.summary,
            subject=ctx.subject,
            inputs=dict(outcome.inputs),
            details=dict(outcome.details),
            started_at=started_at,
            duration_seconds=time.monotonic() - started,
        )
        if not outcome.passed:
            raise GateFailed(
                f"{self.name} gate failed: {outcome.summary}", evidence=evidence, hint=outcome.hint
            )
        return evidence

    def _failed(self, ctx: C, summary: str, started_at: str, started: float) -> Evidence:
        return Evidence(
            gate=self.name,
            status=GateStatus.FAILED,
            summary=summary,
            subject=ctx.subject,
            started_at=started_at,
            duration_seconds=time.monotonic() - started,
        )


class Skipped(Gate[Any]):
    """A gate deliberately not run: recorded as SKIPPED with the reason, and warned about."""

    def __init__(self, name: str, reason: str) -> None:
        if not reason.strip():
            raise ConfigError(f"skipping gate {name!r} needs a reason", hint="say why the gate is skipped")
        self.name = name
        self.reason = reason

    def evaluate(self, ctx: Any) -> Outcome:  # pragma: no cover - check() is overridden
        raise AssertionError("Skipped.check does not evaluate")

    def check(self, ctx: Any) -> Evidence:
        logger.warning("gate %s SKIPPED for %s: %s", self.name, ctx.subject, self.reason)
        return Evidence(
            gate=self.name,
            status=GateStatus.SKIPPED,
            summary=f"skipped: {self.reason}",
            subject=ctx.subject,
            details={"reason": self.reason},
            started_at=utc_timestamp(),
        )


class _Composite(Gate[C]):
    def __init__(self, gates: Iterable[Gate[C]], *, name: str | None = None) -> None:
        self.gates: Sequence[Gate[C]] = list(gates)
        if not self.gates:
            raise ConfigError(
                f"{type(self).__name__} needs at least one gate",
                hint="an empty composite would pass everything; list the gates, or skip explicitly",
            )
        if name is not None:
            self.name = name

    def evaluate(self, ctx: C) -> Outcome:  # pragma: no cover - composites override check()
        raise AssertionError("composites override check()")

    def _combine(
        self,
        ctx: C,
        status: GateStatus,
        summary: str,
        children: list[Evidence],
        started_at: str,
        started: float,
    ) -> Evidence:
        return Evidence(
            gate=self.name,
            status=status,
            summary=summary,
            subject=ctx.subject,
            started_at=started_at,
            duration_seconds=time.monotonic() - started,
            children=tuple(children),
        )


class AllOf(_Composite[C]):
    """Every gate must pass, run in order. The first failure stops the run unless
    ``keep_going``; either way GateFailed carries every child's evidence so far.

    ``on_evidence`` is told each child's evidence as soon as it exists (live progress).
    """

    name = "all-of"

    def __init__(
        self,
        gates: Iterable[Gate[C]],
        *,
        keep_going: bool = False,
        name: str | None = None,
        on_evidence: Callable[[Evidence], None] | None = None,
    ) -> None:
        super().__init__(gates, name=name)
        self.keep_going = keep_going
        self._on_evidence = on_evidence

    def check(self, ctx: C) -> Evidence:
        started_at, started = utc_timestamp(), time.monotonic()
        children: list[Evidence] = []
        failures: list[GateFailed] = []
        for gate in self.gates:
            try:
                evidence = gate.check(ctx)
            except GateFailed as exc:
                evidence = exc.evidence or Evidence(gate.name, GateStatus.FAILED, exc.message, ctx.subject)
                failures.append(exc)
                children.append(evidence)
                if self._on_evidence is not None:
                    self._on_evidence(evidence)
                if not self.keep_going:
                    break
                continue
            children.append(evidence)
            if self._on_evidence is not None:
                self._on_evidence(evidence)
        if failures:
            names = ", ".join(e.evidence.gate if e.evidence else "?" for e in failures)
            summary = f"{len(failures)} gate(s) failed: {names}"
            combined = self._combine(ctx, GateStatus.FAILED, summary, children, started_at, started)
            first = failures[0]
            message = first.message if len(failures) == 1 else f"{summary}; first: {first.message}"
            raise GateFailed(message, evidence=combined, hint=first.hint)
        passed = sum(1 for c in children if c.status is GateStatus.PASSED)
        skipped = len(children) - passed
        summary = f"{passed} gate(s) passed" + (f", {skipped} skipped" if skipped else "")
        return self._combine(ctx, GateStatus.PASSED, summary, children, started_at, started)


class AnyOf(_Composite[C]):
    """At least one gate must pass; they are tried in order until one does."""

    name = "any-of"

    def check(self, ctx: C) -> Evidence:
        started_at, started = utc_timestamp(), time.monotonic()
        children: list[Evidence] = []
        for gate in self.gates:
            try:
                evidence = gate.check(ctx)
            except GateFailed as exc:
                children.append(
                    exc.evidence or Evidence(gate.name, GateStatus.FAILED, exc.message, ctx.subject)
                )
                continue
            children.append(evidence)
            return self._combine(
                ctx, evidence.status, f"{evidence.gate} passed", children, started_at, started
            )
        summary = "none passed: " + "; ".join(f"{c.gate}: {c.summary}" for c in children)
        raise GateFailed(
            f"{self.name}: {summary}",
            evidence=self._combine(ctx, GateStatus.FAILED, summary, children, started_at, started),
        )
