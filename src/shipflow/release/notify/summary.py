"""The GitHub step summary of a canary or rollback: verdict, digests, timings, a table of the
checks and a mermaid chart of response times with the failed checks marked.

Everything that came from outside (reasons quoting a health body, versions) is escaped for
Markdown and HTML, so a canary cannot inject markup into the summary.
"""

from __future__ import annotations

import html

from shipflow.release.canary.probe import CheckStatus
from shipflow.release.canary.report import ReleaseReport
from shipflow.release.canary.watch import Check
from shipflow.release.notify.payloads import facts, title

__all__ = ["MAX_ROWS", "render_summary"]

MAX_ROWS = 200  # checks shown in the table and the chart (the latest ones)

_MARK = {CheckStatus.PASS: "✅", CheckStatus.FAIL: "❌", CheckStatus.ERROR: "⛔", CheckStatus.PENDING: "⏳"}


def _cell(text: object, limit: int = 160) -> str:
    value = html.escape(str(text), quote=False).replace("|", "\\|").replace("\n", " ").replace("`", "'")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _chart(checks: list[Check], heading: str) -> list[str]:
    if not checks:
        return []
    latencies = [round(c.latency * 1000, 1) for c in checks]
    failed = [latencies[i] if c.status.failed else 0 for i, c in enumerate(checks)]
    top = max(latencies) or 1.0
    labels = ", ".join(str(c.seq) for c in checks)
    return [
        "```mermaid",
        "xychart-beta",
        f'    title "{heading}"',
        f'    x-axis "check" [{labels}]',
        f'    y-axis "response time (ms)" 0 --> {top * 1.1:.0f}',
        f"    bar [{', '.join(str(v) for v in failed)}]",
        f"    line [{', '.join(str(v) for v in latencies)}]",
        "```",
        "",
        "_Line: response time of every check. Bars: the checks that failed (errors at their timeout)._",
        "",
    ]


def _table(checks: list[Check]) -> list[str]:
    rows = [
        "| # | at (s) | result | HTTP | time (ms) | version | reason |",
        "|---:|---:|---|---:|---:|---|---|",
    ]
    for c in checks:
        rows.append(
            f"| {c.seq} | {c.offset:.2f} | {_MARK[c.status]} {c.status.value} | {c.http_status or '—'} | "
            f"{c.latency * 1000:.1f} | {_cell(c.version or '—')} | {_cell(c.reason)} |"
        )
    return rows


def render_summary(report: ReleaseReport) -> str:
    lines = [f"## {_cell(title(report))}", "", f"**{_cell(report.reason)}**", ""]
    lines += ["| | |", "|---|---|"]
    for label, value in facts(report):
        shown = f"`{value}`" if value.startswith("sha256:") else _cell(value, limit=600)
        lines.append(f"| {label} | {shown} |")
    if report.expected_version or report.previous_version:
        lines.append(
            f"| Versions | candidate {_cell(report.expected_version or '—')}, previous "
            f"{_cell(report.previous_version or '—')} |"
        )
    if "watch" in report.timings:
        lines.append(f"| Watched | {report.timings['watch'] or 0:.1f} s |")
    lines.append(f"| Exit code | {report.exit_code} |")
    lines.append("")
    if report.trip is not None:
        lines += [f"**Trip rule:** {_cell(report.trip.rule)} — {_cell(report.trip.description)}", ""]
    checks = report.checks[-MAX_ROWS:]
    if checks:
        shown = (
            f" (the last {len(checks)} of {len(report.checks)})" if len(checks) < len(report.checks) else ""
        )
        lines += _chart(checks, f"Canary {report.env}: response time per check")
        lines += [f"<details><summary>{len(report.checks)} health checks{shown}</summary>", ""]
        lines += _table(checks)
        lines += ["", "</details>", ""]
    if report.recovery:
        lines += [
            f"<details><summary>{len(report.recovery)} recovery checks after the rollback</summary>",
            "",
        ]
        lines += _table(report.recovery[-MAX_ROWS:])
        lines += ["", "</details>", ""]
    if report.notes:
        lines += ["**Notes**", ""] + [f"- {_cell(note)}" for note in report.notes] + [""]
    return "\n".join(lines)
