"""Offline vulnerability scanning: an OSV advisory database, per-ecosystem version ordering,
exceptions (ignore files, OpenVEX), a severity gate and reports (table, JSON, SARIF, Markdown).

Public API::

    import_paths([Path("npm/all.zip")], db_path) -> ImportResult
    db = AdvisoryDB.open(db_path)
    report = scan_inventory(inventory, db, ScanOptions(ignore_unfixed=True))
    gate = evaluate_gate(report, Severity.HIGH)       # or {Severity.CRITICAL, Severity.HIGH}
    render(report, OutputFormat.SARIF, gate) -> str
"""

from __future__ import annotations

from shipflow.scan.db import AdvisoryDB, DbInfo, ImportResult, default_db_path, import_paths
from shipflow.scan.gate import GateResult, evaluate_gate
from shipflow.scan.ignore import IgnoreEntry, IgnoreRules, load_ignore_file
from shipflow.scan.matcher import ScanOptions, scan_inventory
from shipflow.scan.model import Finding, ScanReport, SuppressedFinding, Suppression
from shipflow.scan.reports import OutputFormat, render
from shipflow.scan.sbom_input import read_sbom
from shipflow.scan.severity import Severity
from shipflow.scan.vex import VexIndex, load_openvex

__all__ = [
    "AdvisoryDB",
    "DbInfo",
    "Finding",
    "GateResult",
    "IgnoreEntry",
    "IgnoreRules",
    "ImportResult",
    "OutputFormat",
    "ScanOptions",
    "ScanReport",
    "Severity",
    "SuppressedFinding",
    "Suppression",
    "VexIndex",
    "default_db_path",
    "evaluate_gate",
    "import_paths",
    "load_ignore_file",
    "load_openvex",
    "read_sbom",
    "render",
    "scan_inventory",
]
