"""A scan report as a signed cosign ``vuln`` attestation attached to the image it is about.

The predicate has the shape cosign defines for ``--type vuln``
(``https://cosign.sigstore.dev/attestation/vuln/v1``; ``CosignVulnPredicate`` in
sigstore/cosign ``pkg/cosign/attestation/attestation.go``), so ``cosign verify-attestation
--type vuln`` and policy engines that read that type (Kyverno, policy-controller) understand it::

    {"invocation": {"parameters": …, "uri": …, "event_id": …, "builder.id": …},
     "scanner": {"uri": …, "version": …,
                 "db": {"uri": …, "version": <the advisory DB identity>},
                 "result": <shipflow's JSON report, gate verdict included>},
     "metadata": {"scanStartedOn": <RFC 3339>, "scanFinishedOn": <RFC 3339>}}

``scanner.result`` is the ``shipflow.dev/scan-report/v1`` document (``--format json``), so a
verifier reads the same findings, suppressions and gate verdict the scan printed.
``scanner.db.version`` is the advisory database's identity (a digest over every record id and
``modified`` time): two scans that name the same identity matched against the same data.

Public API::

    predicate = vuln_predicate(report, gate, invocation=Invocation(parameters={...}))
    attest_report(store, digest, key, report, gate, invocation=..., subject_name=...)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipflow import __version__
from shipflow.errors import UsageError
from shipflow.oci.digest import Digest
from shipflow.oci.store import Store
from shipflow.scan.gate import GateResult
from shipflow.scan.model import ScanReport
from shipflow.scan.reports.json_report import report_to_json
from shipflow.signing.dsse import PREDICATE_TYPES
from shipflow.signing.keys import Signer
from shipflow.signing.sign import AttestResult, attest

__all__ = [
    "VULN_PREDICATE_TYPE",
    "Invocation",
    "attest_report",
    "invocation_from_environment",
    "vuln_predicate",
    "vuln_predicate_bytes",
]

VULN_PREDICATE_TYPE = PREDICATE_TYPES["vuln"]

# What ran the scan, as a package URL (cosign's own examples name Trivy this way). The external
# engines are named without a version: shipflow only reads their JSON and does not know it.
_SCANNER_URIS: dict[str, str] = {
    "shipflow": f"pkg:pypi/shipflow@{__version__}",
    "trivy": "pkg:github/aquasecurity/trivy",
    "grype": "pkg:github/anchore/grype",
}


@dataclass(frozen=True, slots=True)
class Invocation:
    """``invocation`` of the predicate: how the scan was run and by what.

    Empty strings are written as they are (cosign's Go struct has no ``omitempty`` there).
    """

    parameters: Mapping[str, Any] | None = field(default=None)
    uri: str = ""
    event_id: str = ""
    builder_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "parameters": dict(self.parameters) if self.parameters is not None else None,
            "uri": self.uri,
            "event_id": self.event_id,
            "builder.id": self.builder_id,
        }


def invocation_from_environment(
    parameters: Mapping[str, Any] | None, environ: Mapping[str, str]
) -> Invocation:
    """The invocation as GitHub Actions describes it (run URL, run id, workflow ref).

    Outside Actions only ``parameters`` is filled: a local run has no stable address to record.
    """
    server = environ.get("GITHUB_SERVER_URL", "")
    repository = environ.get("GITHUB_REPOSITORY", "")
    run_id = environ.get("GITHUB_RUN_ID", "")
    uri = ""
    if server and repository and run_id:
        uri = f"{server}/{repository}/actions/runs/{run_id}"
        attempt = environ.get("GITHUB_RUN_ATTEMPT", "")
        if attempt:
            uri += f"/attempts/{attempt}"
    return Invocation(
        parameters=parameters,
        uri=uri,
        event_id=run_id,
        builder_id=environ.get("GITHUB_WORKFLOW_REF", ""),
    )


def _scanner(report: ScanReport, gate: GateResult | None) -> dict[str, Any]:
    db = report.db
    return {
        "uri": _SCANNER_URIS.get(report.engine, report.engine),
        "version": __version__ if report.engine == "shipflow" else "",
        "db": {
            # Where the records were matched from; the identity says which records they were.
            "uri": _db_uri(db.path) if db is not None else "",
            "version": db.identity if db is not None else "",
        },
        "result": report_to_json(report, gate),
    }


def _db_uri(path: str) -> str:
    candidate = Path(path)
    return candidate.as_uri() if candidate.is_absolute() else path


def vuln_predicate(report: ScanReport, gate: GateResult | None, *, invocation: Invocation) -> dict[str, Any]:
    """The cosign vuln predicate for ``report`` (and the gate verdict, when a gate ran)."""
    return {
        "invocation": invocation.to_json(),
        "scanner": _scanner(report, gate),
        "metadata": {"scanStartedOn": report.started_at, "scanFinishedOn": report.finished_at},
    }


def vuln_predicate_bytes(report: ScanReport, gate: GateResult | None, *, invocation: Invocation) -> bytes:
    """The predicate as the JSON bytes that get signed (compact, keys in a fixed order)."""
    predicate = vuln_predicate(report, gate, invocation=invocation)
    return json.dumps(predicate, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def attest_report(
    store: Store,
    digest: Digest,
    key: Signer,
    report: ScanReport,
    gate: GateResult | None,
    *,
    invocation: Invocation,
    subject_name: str | None = None,
) -> AttestResult:
    """Sign ``report`` as a vuln attestation about ``digest`` and append it to ``sha256-<hex>.att``.

    Refuses a report about anything but ``digest`` (a directory or SBOM scan, or another
    image): an attestation must speak about the image it is attached to.
    """
    if report.subject_digest is None:
        raise UsageError(
            f"the scan of {report.subject} names no image digest; only image scans can be attested",
            hint="scan the image itself (registry or oci: reference)",
        )
    if report.subject_digest != str(digest):
        raise UsageError(
            f"the scan report is about {report.subject_digest}, not {digest}",
            hint="attest the report to the image digest that was scanned",
        )
    return attest(
        store,
        digest,
        key,
        predicate_type=VULN_PREDICATE_TYPE,
        predicate=vuln_predicate_bytes(report, gate, invocation=invocation),
        subject_name=subject_name,
    )
