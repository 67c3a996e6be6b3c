"""Markdown for ``$GITHUB_STEP_SUMMARY`` and pull-request comments."""

from __future__ import annotations

from shipflow.scan.gate import GateResult
from shipflow.scan.model import Finding, ScanReport
from shipflow.scan.severity import Severity


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """Text for inside a code span in a table cell."""
    return _cell(text).replace("`", "'")


def _aliases(finding: Finding) -> str:
    """The other ids of the advisory (merged records, CVE ids), or a dash."""
    return _cell(", ".join(finding.aliases)) or "—"


def report_to_markdown(report: ScanReport, gate: GateResult | None = None, limit: int = 200) -> str:
    counts = report.counts()
    lines = [f"### Vulnerability scan: `{report.subject}`", ""]
    if report.subject_digest:
        lines.append(f"- Digest: `{report.subject_digest}`")
    if report.db:
        lines.append(f"- Advisory DB: `{report.db.identity}` (imported {report.db.last_import})")
    lines.append(f"- Packages scanned: {report.packages_scanned}; engine: {report.engine}")
    if gate:
        lines.append(f"- **{gate.summary()}**")
    lines += ["", "| " + " | ".join(s.name for s in sorted(Severity, reverse=True)) + " | suppressed |"]
    lines.append("|" + "---:|" * (len(Severity) + 1))
    lines.append(
        "| "
        + " | ".join(str(counts[s]) for s in sorted(Severity, reverse=True))
        + f" | {len(report.suppressed)} |"
    )
    findings = report.sorted_findings()
    if findings:
        lines += [
            "",
            "| Severity | Advisory | Package | Installed | Fixed in | Summary | Also published as |",
            "|---|---|---|---|---|---|---|",
        ]
        for f in findings[:limit]:
            lines.append(
                f"| {f.severity.name} | {_cell(f.advisory_id)} | {_cell(f.package.name)} | "
                f"{_cell(f.package.version)} | {_cell(', '.join(f.fixed_versions)) or '—'} | "
                f"{_cell(f.summary)} | {_aliases(f)} |"
            )
        if len(findings) > limit:
            lines.append(f"\n… and {len(findings) - limit} more (see the JSON or SARIF report).")
    if report.suppressed:
        lines += ["", "<details><summary>Suppressed findings</summary>", ""]
        lines += ["| Advisory | Package | Why | Also published as |", "|---|---|---|---|"]
        for s in report.suppressed:
            lines.append(
                f"| {_cell(s.finding.advisory_id)} | {_cell(s.finding.package.name)} "
                f"{_cell(s.finding.package.version)} | {s.suppression.kind}: {_cell(s.suppression.reason)} | "
                f"{_aliases(s.finding)} |"
            )
        lines += ["", "</details>"]
    if report.not_read:
        lines += [
            "",
            f"**Not read** ({len(report.not_read)}): these files were recognised but could not be read, "
            "so their packages are missing from this scan.",
            "",
            "| File | Layer | Cataloger | Why |",
            "|---|---|---|---|",
        ]
        for item in report.not_read[:limit]:
            layer = f"`{item.location.layer}`" if item.location.layer else "—"
            path = _code(item.location.path)
            lines.append(f"| `{path}` | {layer} | {_cell(item.cataloger)} | {_cell(item.reason)} |")
        if len(report.not_read) > limit:
            lines.append(f"\n… and {len(report.not_read) - limit} more (see the JSON report).")
    if report.notes:
        lines += ["", "**Notes**", ""] + [f"- {_cell(n)}" for n in report.notes]
    return "\n".join(lines) + "\n"
