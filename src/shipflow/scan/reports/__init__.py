"""Report formats. :func:`render` turns a report (and the gate result, if one ran) into text."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import assert_never

from shipflow.scan.gate import GateResult
from shipflow.scan.model import ScanReport
from shipflow.scan.reports.json_report import report_to_json
from shipflow.scan.reports.markdown import report_to_markdown
from shipflow.scan.reports.sarif import report_to_sarif
from shipflow.scan.reports.table import report_to_text

__all__ = ["OutputFormat", "render", "report_to_json", "report_to_markdown", "report_to_sarif"]


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    MARKDOWN = "markdown"


def render(report: ScanReport, fmt: OutputFormat, gate: GateResult | None = None) -> str:
    if fmt is OutputFormat.TABLE:
        return report_to_text(report, gate)
    if fmt is OutputFormat.JSON:
        return json.dumps(report_to_json(report, gate), indent=2) + "\n"
    if fmt is OutputFormat.SARIF:
        return json.dumps(report_to_sarif(report), indent=2) + "\n"
    if fmt is OutputFormat.MARKDOWN:
        return report_to_markdown(report, gate)
    assert_never(fmt)
