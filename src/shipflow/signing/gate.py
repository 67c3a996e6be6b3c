"""Signature verification as a gate (the house :mod:`shipflow.gate` protocol).

``SignatureGate(policy).check(GateContext(store, digest))`` returns evidence naming the keys
whose signatures verified (and the payloads, which are small), or raises GateFailed carrying
every rejected signature and the unmet part of the policy. An unsigned image, or one signed
only by an untrusted key, never passes.

The :class:`~shipflow.signing.policy.Policy` objects inside say *who* must have signed (any of
the trusted keys, all of several signers); the gate is what runs them against the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipflow.gate import Gate, GateContext, Outcome
from shipflow.signing.policy import Policy
from shipflow.signing.verify import verification_failure, verify_report

__all__ = ["SignatureGate"]


class SignatureGate(Gate[GateContext]):
    """Valid cosign signatures on the digest that satisfy ``policy``."""

    name = "signature"

    def __init__(
        self,
        policy: Policy,
        *,
        annotations: Mapping[str, str] | None = None,
        reference: str | None = None,
    ) -> None:
        self.policy = policy
        self.annotations = dict(annotations) if annotations else None
        self.reference = reference

    def evaluate(self, ctx: GateContext) -> Outcome:
        report = verify_report(
            ctx.store, ctx.digest, self.policy, annotations=self.annotations, reference=self.reference
        )
        if not report.ok:
            raise verification_failure(report, "signature")
        key_ids = sorted({key for sig in report.verified for key in sig.key_ids})
        inputs: dict[str, Any] = {
            "policy": self.policy.describe(),
            "trustedKeyIds": sorted(v.key_id for v in self.policy.verifiers()),
        }
        if self.annotations:
            inputs["annotations"] = self.annotations
        if self.reference:
            inputs["reference"] = self.reference
        details = {
            "keyIds": key_ids,
            "signatures": [
                {
                    "layer": str(sig.layer_digest),
                    "keyIds": list(sig.key_ids),
                    # The exact signed bytes (cosign's compact JSON), as text.
                    "payload": sig.payload.decode("utf-8", errors="replace"),
                }
                for sig in report.verified
            ],
            "rejected": [str(r) for r in report.rejected],
        }
        shown = ", ".join(k[:19] + "…" for k in key_ids)
        return Outcome(
            passed=True,
            summary=f"{len(report.verified)} valid signature(s) by {shown}",
            inputs=inputs,
            details=details,
        )
