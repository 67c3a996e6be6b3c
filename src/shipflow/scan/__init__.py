"""Offline vulnerability scanning: an OSV advisory database, per-ecosystem version ordering,
exceptions (ignore files, OpenVEX), a severity gate and reports (table, JSON, SARIF, Markdown).

Public API::

    import_paths([Path("npm/all.zip")], db_path) -> ImportResult
    db = AdvisoryDB.open(db_path)
    report = scan_inventory(inventory, db, ScanOptions(ignore_unfixed=True))
    report = scan_target(detect_target("oci:./store:dev"), db, options)   # any target
    gate = evaluate_gate(report, parse_fail_on("HIGH"))   # HIGH and above; "CRITICAL,HIGH": exactly
    render(report, OutputFormat.SARIF, gate) -> str

Gates (the house protocol, :mod:`shipflow.gate`): ``SeverityGate(levels).check(ReportSubject(report))``
judges a report; ``VulnerabilityGate(levels, db_path=…, options=…).check(GateContext(store, digest))``
re-scans a digest now (from its verified SBOM attestation when there is one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipflow._lazy import lazy_names

if TYPE_CHECKING:
    from shipflow.scan._sbom_input import read_sbom
    from shipflow.scan.db import AdvisoryDB, DbInfo, ImportResult, default_db_path, import_paths
    from shipflow.scan.gate import (
        GateResult,
        ReportSubject,
        SeverityGate,
        VulnerabilityGate,
        evaluate_gate,
        parse_fail_on,
    )
    from shipflow.scan.ignore import IgnoreEntry, IgnoreRules, load_ignore_file
    from shipflow.scan.matcher import ScanOptions, scan_inventory
    from shipflow.scan.model import Finding, ScanReport, SuppressedFinding, Suppression
    from shipflow.scan.reports import OutputFormat, render
    from shipflow.scan.run import Engine, discover_ignore_rules, scan_image, scan_target
    from shipflow.scan.severity import Severity
    from shipflow.scan.vex import VexIndex, load_openvex

__all__ = [
    "AdvisoryDB",
    "DbInfo",
    "Engine",
    "Finding",
    "GateResult",
    "IgnoreEntry",
    "IgnoreRules",
    "ImportResult",
    "OutputFormat",
    "ReportSubject",
    "ScanOptions",
    "ScanReport",
    "Severity",
    "SeverityGate",
    "SuppressedFinding",
    "Suppression",
    "VexIndex",
    "VulnerabilityGate",
    "default_db_path",
    "discover_ignore_rules",
    "evaluate_gate",
    "import_paths",
    "load_ignore_file",
    "load_openvex",
    "parse_fail_on",
    "read_sbom",
    "render",
    "scan_image",
    "scan_inventory",
    "scan_target",
]

# Names are imported on first use (PEP 562), so importing one submodule (or the package for
# one name) does not import the rest.
_MODULE_OF = {
    "AdvisoryDB": "shipflow.scan.db",
    "DbInfo": "shipflow.scan.db",
    "ImportResult": "shipflow.scan.db",
    "default_db_path": "shipflow.scan.db",
    "import_paths": "shipflow.scan.db",
    "GateResult": "shipflow.scan.gate",
    "ReportSubject": "shipflow.scan.gate",
    "SeverityGate": "shipflow.scan.gate",
    "VulnerabilityGate": "shipflow.scan.gate",
    "evaluate_gate": "shipflow.scan.gate",
    "parse_fail_on": "shipflow.scan.gate",
    "IgnoreEntry": "shipflow.scan.ignore",
    "IgnoreRules": "shipflow.scan.ignore",
    "load_ignore_file": "shipflow.scan.ignore",
    "ScanOptions": "shipflow.scan.matcher",
    "scan_inventory": "shipflow.scan.matcher",
    "Finding": "shipflow.scan.model",
    "ScanReport": "shipflow.scan.model",
    "SuppressedFinding": "shipflow.scan.model",
    "Suppression": "shipflow.scan.model",
    "OutputFormat": "shipflow.scan.reports",
    "render": "shipflow.scan.reports",
    "Engine": "shipflow.scan.run",
    "discover_ignore_rules": "shipflow.scan.run",
    "scan_image": "shipflow.scan.run",
    "scan_target": "shipflow.scan.run",
    "read_sbom": "shipflow.scan._sbom_input",
    "Severity": "shipflow.scan.severity",
    "VexIndex": "shipflow.scan.vex",
    "load_openvex": "shipflow.scan.vex",
}

__getattr__, __dir__ = lazy_names(__name__, _MODULE_OF)
