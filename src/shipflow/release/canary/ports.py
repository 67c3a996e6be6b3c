"""What the canary controller needs from the rest of the pipeline, as small protocols.

The controller is written against these, not against the promotion layer's classes, so it
runs the same over the registry-backed history of the promotion layer
(:mod:`shipflow.release.canary.pipeline`) and over :class:`MemoryHistory` in unit tests and
benchmarks.

What an implementation must provide:

* :class:`EnvironmentHistory` — ``held(env)``: the digests the environment held *at rest*,
  newest first, element 0 being what it holds now (a canary candidate that was rolled back is
  not "held": the entry that rolled it back names the previous digest); ``record(entry)``:
  append one :class:`ReleaseEntry` (a finished canary, an automatic or a manual rollback)
  durably, or raise an InfrastructureError. Two writers at once must both survive or the
  loser must be refused clearly.
* :class:`SignatureCheck` — ``verify(digest)``: Evidence when ``digest`` carries a valid
  signature by one of the trusted keys; a CheckFailed (VerificationError/GateFailed) when it
  does not; an InfrastructureError when it cannot tell.
* :class:`PromotionCheck` — ``verify_promoted(digest, env)``: Evidence when ``digest`` carries
  a verified promotion record into ``env``; CheckFailed when not.
* Two optional attributes say what a history is: ``persistent`` (False: records do not
  outlive the process, and reports say so) and ``knows_past`` (False: ``held`` knows only the
  present, so ``rollback --to`` cannot check the digest was held before). Both default to True.
* :class:`Notifier` — ``notify(report)`` returns at once (delivery happens in the background);
  ``wait(timeout)`` lets the CLI give it a bounded moment before the process exits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from shipflow.gate import Evidence
from shipflow.oci.digest import Digest

if TYPE_CHECKING:
    from shipflow.oci.store import Store
    from shipflow.signing.policy import Policy

__all__ = [
    "EnvironmentHistory",
    "HeldDigest",
    "KeySignatureCheck",
    "MemoryHistory",
    "Notifier",
    "PromotionCheck",
    "ReleaseEntry",
    "SignatureCheck",
    "StopFlag",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeldDigest:
    """One digest an environment held: since when, put there by whom and how."""

    digest: Digest
    since: str | None = None
    actor: str | None = None
    kind: str | None = None  # promote | canary | rollback | tag
    outcome: str | None = None


@dataclass(frozen=True)
class ReleaseEntry:
    """What the canary controller and ``shipflow rollback`` write into the history.

    ``digest`` is what the environment holds after the entry; ``previous`` what it held before
    it; ``candidate`` the digest a canary tried (equal to ``digest`` when it passed).
    """

    kind: str  # "canary" | "rollback"
    env: str
    digest: Digest
    previous: Digest | None
    candidate: Digest | None
    actor: str
    outcome: str  # passed | rolled-back | rollback-failed
    reason: str
    started_at: str
    finished_at: str
    deploy_target: str
    timings: Mapping[str, float | None] = field(default_factory=dict)
    checks: Mapping[str, int] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "env": self.env,
            "digest": str(self.digest),
            "previous": None if self.previous is None else str(self.previous),
            "candidate": None if self.candidate is None else str(self.candidate),
            "actor": self.actor,
            "outcome": self.outcome,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "deployTarget": self.deploy_target,
            "timings": {k: (None if v is None else round(v, 4)) for k, v in self.timings.items()},
            "checks": dict(self.checks),
            "details": dict(self.details),
        }


@runtime_checkable
class EnvironmentHistory(Protocol):
    def held(self, env: str, *, limit: int = 50) -> Sequence[HeldDigest]:
        """Digests ``env`` held, newest first; element 0 is what it holds now."""
        ...

    def record(self, entry: ReleaseEntry) -> None:
        """Append ``entry`` durably (InfrastructureError when it cannot)."""
        ...


@runtime_checkable
class SignatureCheck(Protocol):
    def verify(self, digest: Digest) -> Evidence:
        """Evidence of a trusted signature on ``digest``; CheckFailed when there is none."""
        ...


@runtime_checkable
class PromotionCheck(Protocol):
    def verify_promoted(self, digest: Digest, env: str) -> Evidence:
        """Evidence that ``digest`` was promoted into ``env`` (a verified record); CheckFailed if not."""
        ...


@runtime_checkable
class Notifier(Protocol):
    def notify(self, report: Any) -> None:
        """Start delivering ``report``; return at once."""
        ...

    def wait(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for deliveries in flight; True when all finished."""
        ...


class StopFlag(Protocol):
    """Set by a signal handler (SIGINT/SIGTERM); ``threading.Event`` is one."""

    def is_set(self) -> bool: ...


# -- implementations -------------------------------------------------------------------------


class KeySignatureCheck:
    """The promotion layer's signature gate (:class:`shipflow.signing.gate.SignatureGate`) as a
    :class:`SignatureCheck`: evidence when the digest carries a valid cosign signature by a key
    the policy trusts, GateFailed (a CheckFailed) with the evidence when it does not."""

    name = "signature"

    def __init__(self, store: Store, policy: Policy) -> None:
        from shipflow.signing.gate import SignatureGate

        self._store = store
        self._gate = SignatureGate(policy)

    def verify(self, digest: Digest) -> Evidence:
        from shipflow.gate import GateContext

        return self._gate.check(GateContext(self._store, digest))


class MemoryHistory:
    """An in-memory history (unit tests, benchmarks); thread-safe. It knows the past it was
    given, but nothing it records outlives the process."""

    persistent = False
    knows_past = True

    def __init__(self, held: Mapping[str, Sequence[Digest]] | None = None) -> None:
        self._held: dict[str, list[HeldDigest]] = {
            env: [HeldDigest(d, kind="promote") for d in digests] for env, digests in (held or {}).items()
        }
        self.entries: list[ReleaseEntry] = []
        self._lock = threading.Lock()

    def held(self, env: str, *, limit: int = 50) -> Sequence[HeldDigest]:
        with self._lock:
            return list(self._held.get(env, []))[:limit]

    def record(self, entry: ReleaseEntry) -> None:
        with self._lock:
            self.entries.append(entry)
            current = self._held.setdefault(entry.env, [])
            if not current or current[0].digest != entry.digest:
                current.insert(
                    0, HeldDigest(entry.digest, entry.finished_at, entry.actor, entry.kind, entry.outcome)
                )
