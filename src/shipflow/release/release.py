"""``shipflow release``: the specification's build-and-sign.yml as one library call.

    build (once) → push → sign → SBOM (SPDX JSON) → SBOM attestation → scan with the gate →
    vulnerability attestation → SLSA provenance → tag the entry environment (``:dev``)

The last step is an ordinary promotion (``build → dev``, by the CI actor, with its gates, a
signed record and a history entry). Every earlier step must succeed first, so a failure at any
step leaves nothing tagged ``:dev``; the error names the step. A release of a revision that was
built before builds nothing (build once): it reuses the digest, signs nothing twice, does not
attach the same SBOM again, scans again (the advisory DB moves), and the promotion says the
environment already holds it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipflow.errors import ShipflowError
from shipflow.events import EventSink, NullSink
from shipflow.fsutil import atomic_write
from shipflow.gate import Evidence

if TYPE_CHECKING:
    from shipflow.build.core import BuildResult, BuildSettings
    from shipflow.release.promote import Pipeline, PromotionResult
    from shipflow.scan.matcher import ScanOptions
    from shipflow.scan.model import ScanReport
    from shipflow.scan.severity import Severity
    from shipflow.signing.keys import PrivateKey

__all__ = ["ReleaseFailed", "ReleaseResult", "ReleaseSettings", "Step", "release"]

STEPS = (
    "build",
    "sign",
    "sbom",
    "sbom-attestation",
    "scan",
    "vuln-attestation",
    "scan-gate",
    "provenance",
    "promote",
)


class ReleaseFailed(ShipflowError):
    """A release step failed; ``step`` names it, the exit code is the cause's."""

    def __init__(self, step: str, cause: ShipflowError, result: ReleaseResult) -> None:
        super().__init__(f"release stopped at step {step!r}: {cause.message}", hint=cause.hint)
        self.exit_code = cause.exit_code
        self.step = step
        self.result = result


@dataclass(frozen=True, kw_only=True)
class ReleaseSettings:
    build: BuildSettings
    pipeline: Pipeline
    signer: PrivateKey
    actor: str
    sbom_path: Path
    sarif_path: Path | None
    db_path: Path | None
    fail_on: frozenset[Severity]
    scan_options: ScanOptions
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass
class Step:
    name: str
    status: str  # done | skipped | failed
    seconds: float
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
        }


@dataclass
class ReleaseResult:
    steps: list[Step] = field(default_factory=list)
    build: BuildResult | None = None
    report: ScanReport | None = None
    scan_evidence: Evidence | None = None
    promotion: PromotionResult | None = None
    image: str = ""
    digest: str = ""
    image_tag: str = ""
    sbom_path: str = ""
    sarif_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "image_digest": self.digest,
            "image_tag": self.image_tag,
            "sbom_path": self.sbom_path,
            "sarif_path": self.sarif_path,
            "reused": self.build.reused if self.build else None,
            "steps": [s.to_json() for s in self.steps],
            "scan": self.scan_evidence.to_json() if self.scan_evidence else None,
            "promotion": self.promotion.to_json() if self.promotion else None,
        }


def entry_environment(pipeline: Pipeline) -> str:
    """The first environment that takes digests straight from the build (``dev``)."""
    for env in pipeline.config.environments.values():
        if env.source is None:
            return env.name
    from shipflow.errors import ConfigError

    raise ConfigError("no environment without `from`: nothing takes a fresh build", hint="add e.g. dev")


def release(settings: ReleaseSettings, *, events: EventSink | None = None) -> ReleaseResult:
    sink = events or NullSink()
    result = ReleaseResult()

    @contextlib.contextmanager
    def step(name: str) -> Iterator[list[str]]:
        detail: list[str] = []
        started = time.monotonic()
        sink.emit("release.step.started", name, step=name)
        try:
            yield detail
        except ShipflowError as exc:
            result.steps.append(Step(name, "failed", time.monotonic() - started, exc.message))
            sink.emit("release.step.failed", f"{name}: {exc.message}", step=name)
            raise ReleaseFailed(name, exc, result) from exc
        status = "skipped" if detail and detail[0].startswith("skipped") else "done"
        text = "; ".join(detail)
        result.steps.append(Step(name, status, time.monotonic() - started, text))
        sink.emit("release.step.done", f"{name}: {text}", step=name, status=status)

    store = settings.pipeline.store
    name = settings.pipeline.name
    with step("build") as detail:
        from shipflow.build.core import build_image

        built = build_image(settings.build, events=sink)
        result.build = built
        result.digest, result.image = str(built.digest), f"{name}@{built.digest}"
        visible = [t for t in built.tags if not t.startswith("build-")]
        result.image_tag = f"{name}:{visible[0] if visible else built.tags[0]}"
        detail.append(("reused " if built.reused else "built ") + str(built.digest))
    digest = built.digest
    with step("sign") as detail:
        from shipflow.signing.sign import sign

        signed = sign(store, digest, settings.signer, reference=name)
        detail.append(f"{'signed' if signed.added else 'already signed'} in {signed.tag}")
    with step("sbom") as detail:
        from shipflow.sbom import SbomFormat, catalog_image, render

        inventory = catalog_image(store, str(digest))
        document = render(inventory, SbomFormat.SPDX_JSON)
        atomic_write(settings.sbom_path, document, what="SBOM")
        result.sbom_path = str(settings.sbom_path)
        detail.append(f"{len(inventory.packages)} package(s) in {settings.sbom_path}")
    with step("sbom-attestation") as detail:
        detail.append(_attest_sbom(store, digest, settings, document))
    with step("scan") as detail:
        result.report = _scan(settings, inventory, digest)
        detail.append(
            f"{len(result.report.findings)} finding(s) in {result.report.packages_scanned} package(s)"
        )
    from shipflow.scan.gate import ReportSubject, SeverityGate, evaluate_gate

    gate_result = evaluate_gate(result.report, settings.fail_on)
    with step("vuln-attestation") as detail:
        from shipflow.scan.attestation import attest_report, invocation_from_environment

        attested = attest_report(
            store,
            digest,
            settings.signer,
            result.report,
            gate_result,
            invocation=invocation_from_environment(
                {"failOn": sorted(s.name for s in settings.fail_on)}, settings.environ
            ),
            subject_name=name,
        )
        detail.append(f"in {attested.tag}")
        if settings.sarif_path is not None:
            from shipflow.scan.reports import OutputFormat
            from shipflow.scan.reports import render as render_report

            atomic_write(
                settings.sarif_path,
                render_report(result.report, OutputFormat.SARIF, gate_result),
                what="SARIF",
            )
            result.sarif_path = str(settings.sarif_path)
    with step("scan-gate") as detail:
        result.scan_evidence = SeverityGate(settings.fail_on).check(ReportSubject(result.report))
        detail.append(result.scan_evidence.summary)
    with step("provenance") as detail:
        detail.append(_provenance(store, built, settings))
    with step("promote") as detail:
        from shipflow.release.promote import PromotionRequest, promote

        target = entry_environment(settings.pipeline)
        request = PromotionRequest(digest, None, target, settings.actor)
        result.promotion = promote(
            settings.pipeline, request, signer=settings.signer, events=sink, environ=settings.environ
        )
        detail.append(f"{target}: {result.promotion.status}")
    return result


def _attest_sbom(store: Any, digest: Any, settings: ReleaseSettings, document: str) -> str:
    from shipflow.signing.dsse import predicate_type_uri
    from shipflow.signing.policy import trusted_keys
    from shipflow.signing.sign import attest
    from shipflow.signing.verify import verify_attestations_report

    spdx = predicate_type_uri("spdxjson")
    existing = verify_attestations_report(
        store, digest, trusted_keys([settings.signer.verifier]), predicate_type=spdx
    )
    if existing.ok and existing.verified:
        return "skipped: an SBOM attestation by this key is already attached"
    attested = attest(
        store,
        digest,
        settings.signer,
        predicate_type=spdx,
        predicate=document.encode(),
        subject_name=settings.pipeline.name,
    )
    return f"in {attested.tag}"


def _scan(settings: ReleaseSettings, inventory: Any, digest: Any) -> ScanReport:
    from shipflow.scan.db import AdvisoryDB
    from shipflow.scan.matcher import scan_inventory

    with contextlib.closing(AdvisoryDB.open(settings.db_path)) as db:
        report = scan_inventory(inventory, db, settings.scan_options)
    report.subject_digest = str(digest)
    return report


def _provenance(store: Any, built: BuildResult, settings: ReleaseSettings) -> str:
    from shipflow.build.provenance import SLSA_PROVENANCE_V1, attest_provenance
    from shipflow.signing.policy import trusted_keys
    from shipflow.signing.verify import verify_attestations_report

    if built.reused:
        policy = trusted_keys([settings.signer.verifier])
        found = verify_attestations_report(store, built.digest, policy, predicate_type=SLSA_PROVENANCE_V1)
        if found.ok and found.verified:
            return "skipped: reused build, its provenance is attached"
        return "skipped: reused build, and no provenance signed with this key (--rebuild attaches one)"
    attested = attest_provenance(store, built, settings.signer, subject_name=settings.pipeline.name)
    return f"SLSA v1 in {attested.tag}"
