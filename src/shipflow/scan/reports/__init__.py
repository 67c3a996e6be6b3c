"""Report formats. :func:`render` turns a report (and the gate result, if one ran) into text.

Each format's module is imported when that format is rendered: the table needs rich (40-90 ms
of start-up here), which a ``--format json`` scan never uses.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, assert_never

from shipflow._lazy import lazy_names
from shipflow.sbom.jsontext import dumps_indented

if TYPE_CHECKING:
    from shipflow.scan.gate import GateResult
    from shipflow.scan.model import ScanReport
    from shipflow.scan.reports.json_report import report_to_json
    from shipflow.scan.reports.markdown import report_to_markdown
    from shipflow.scan.reports.sarif import report_to_sarif

__all__ = ["OutputFormat", "render", "report_to_json", "report_to_markdown", "report_to_sarif"]

_MODULE_OF = {
    "report_to_json": "shipflow.scan.reports.json_report",
    "report_to_markdown": "shipflow.scan.reports.markdown",
    "report_to_sarif": "shipflow.scan.reports.sarif",
}

__getattr__, __dir__ = lazy_names(__name__, _MODULE_OF)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    MARKDOWN = "markdown"


def render(report: ScanReport, fmt: OutputFormat, gate: GateResult | None = None) -> str:
    if fmt is OutputFormat.TABLE:
        from shipflow.scan.reports.table import report_to_text

        return report_to_text(report, gate)
    if fmt is OutputFormat.JSON:
        from shipflow.scan.reports.json_report import report_to_json

        return dumps_indented(report_to_json(report, gate)) + "\n"
    if fmt is OutputFormat.SARIF:
        from shipflow.scan.reports.sarif import report_to_sarif

        return dumps_indented(report_to_sarif(report)) + "\n"
    if fmt is OutputFormat.MARKDOWN:
        from shipflow.scan.reports.markdown import report_to_markdown

        return report_to_markdown(report, gate)
    assert_never(fmt)
