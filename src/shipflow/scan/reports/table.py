"""The default terminal view: a rich table (built here, printed by the CLI).

Every text in it comes from outside (package names and versions from the image, advisory ids
and summaries from the database, paths, the subject the user named), so each cell is a
:class:`~rich.text.Text`, never a ``str``: rich would read ``[b]`` in a string as markup (and
raise ``MarkupError`` on ``[/x]``), ``:smile:`` as an emoji code. :func:`report_to_text` (what
``--format table -o FILE`` writes) also prints through a console with markup, emoji and
highlighting off.
"""

from __future__ import annotations

import io

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from shipflow.sbom.model import NotRead
from shipflow.scan.gate import GateResult
from shipflow.scan.model import ScanReport
from shipflow.scan.severity import Severity

_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.UNKNOWN: "dim",
}


def describe_not_read(item: NotRead) -> str:
    """``/app/yarn.lock (layer sha256:…) [yarn-lock]: not valid YAML …`` on one line."""
    where = item.location.path
    if item.location.layer:
        where += f" (layer {item.location.layer})"
    return f"{where} [{item.cataloger}]: {item.reason}"


def report_to_renderable(report: ScanReport, gate: GateResult | None = None) -> RenderableType:
    counts = report.counts()
    title = f"{report.subject}" + (f" ({report.subject_digest})" if report.subject_digest else "")
    table = Table(title=Text(title), show_lines=False)
    for column in ("Severity", "Advisory", "Package", "Installed", "Fixed in", "Summary"):
        table.add_column(column, overflow="fold")
    for f in report.sorted_findings():
        advisory = Text(f.advisory_id)
        if f.aliases:  # the other ids this advisory is published under, merged into this row
            advisory.append("\n" + ", ".join(f.aliases), style="dim")
        table.add_row(
            Text(f.severity.name, style=_STYLE[f.severity]),
            advisory,
            Text(f.package.name),
            Text(f.package.version),
            Text(", ".join(f.fixed_versions) or "-"),
            Text(f.summary or ""),
        )
    total = " ".join(f"{s.name}:{counts[s]}" for s in sorted(Severity, reverse=True))
    parts: list[RenderableType] = [table, Text(f"{total}  suppressed:{len(report.suppressed)}")]
    if report.db:
        parts.append(Text(f"advisory db {report.db.identity} imported {report.db.last_import}", style="dim"))
    for note in report.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    for item in report.not_read:
        parts.append(Text(f"not read: {describe_not_read(item)}", style="yellow"))
    if gate:
        parts.append(Text(gate.summary(), style="bold green" if gate.passed else "bold red"))
    return Group(*parts)


def report_to_text(report: ScanReport, gate: GateResult | None = None, width: int = 160) -> str:
    buffer = io.StringIO()
    console = Console(
        width=width,
        file=buffer,
        color_system=None,
        soft_wrap=False,
        markup=False,
        emoji=False,
        highlight=False,
    )
    console.print(report_to_renderable(report, gate))
    return buffer.getvalue()
