"""``verify-image``: what the specification's ``tools/verify-image.sh`` checks before every deploy.

1. the cosign signature, with the trusted keys;
2. a CRITICAL/HIGH vulnerability scan, now, against the current advisory DB;
3. optionally, a verified promotion record for every stage up to an environment.

All checks run (so the report is complete) and each is a gate with its evidence; any failure
fails the whole (exit 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from shipflow.gate import AllOf, Evidence, Gate, GateContext, Outcome
from shipflow.release.config import PipelineConfig
from shipflow.signing.policy import Policy

__all__ = ["PromotionChainGate", "VerifyImageSettings", "verify_image"]


class PromotionChainGate(Gate[GateContext]):
    """A verified promotion record for every stage that leads to ``environment``."""

    name = "promotions"

    def __init__(self, config: PipelineConfig, environment: str, policy: Policy) -> None:
        self.config = config
        self.environment = environment
        self.policy = policy

    def evaluate(self, ctx: GateContext) -> Outcome:
        from shipflow.release.records import verify_chain

        steps = [(self.config.environment(env).source, env) for env in self.config.chain_to(self.environment)]
        links = verify_chain(ctx.store, ctx.digest, steps, self.policy)
        path = " → ".join(["build", *(link.environment for link in links)])
        return Outcome(
            True,
            f"promoted through {path}",
            inputs={
                "environment": self.environment,
                "recordKeyIds": sorted(k.key_id for k in self.policy.verifiers()),
            },
            details={"stages": [link.to_json() for link in links]},
        )


@dataclass(frozen=True)
class VerifyImageSettings:
    signature_policy: Policy
    fail_on: frozenset[Any] = field(default_factory=frozenset)
    db_path: Path | None = None
    ignore_files: Sequence[Path] = ()
    max_db_age: timedelta | None = timedelta(days=7)
    promoted_to: str | None = None
    config: PipelineConfig | None = None
    record_policy: Policy | None = None


def verify_image(ctx: GateContext, settings: VerifyImageSettings) -> Evidence:
    """Run every check; the combined evidence, or GateFailed carrying it."""
    from shipflow.scan.gate import VulnerabilityGate, parse_fail_on
    from shipflow.scan.matcher import ScanOptions
    from shipflow.scan.run import discover_ignore_rules
    from shipflow.signing.gate import SignatureGate

    fail_on = settings.fail_on or parse_fail_on("CRITICAL,HIGH")
    options = ScanOptions(
        ignore=discover_ignore_rules(None, settings.ignore_files), max_db_age=settings.max_db_age
    )
    gates: list[Gate[GateContext]] = [
        SignatureGate(settings.signature_policy),
        VulnerabilityGate(
            fail_on,
            db_path=settings.db_path,
            options=options,
            ignore_files=settings.ignore_files,
            sbom_policy=settings.signature_policy,
        ),
    ]
    if settings.promoted_to is not None:
        if settings.config is None or settings.record_policy is None:
            from shipflow.errors import ConfigError

            raise ConfigError(
                "--promoted-to needs shipflow.yaml", hint="run it where shipflow.yaml is, or pass --config"
            )
        gates.append(PromotionChainGate(settings.config, settings.promoted_to, settings.record_policy))
    return AllOf(gates, keep_going=True, name="verify-image").check(ctx)
