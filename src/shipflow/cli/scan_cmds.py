"""``shipflow scan`` and ``shipflow db import|status``: the CLI face of shipflow.scan."""

from __future__ import annotations

import contextlib
import re
from datetime import timedelta
from pathlib import Path

import click

from shipflow.cli.output import note, print_json, stdout, step_summary
from shipflow.errors import GateFailed, UsageError
from shipflow.sbom.model import Inventory
from shipflow.scan import (
    AdvisoryDB,
    IgnoreRules,
    OutputFormat,
    ScanOptions,
    ScanReport,
    Severity,
    VexIndex,
    evaluate_gate,
    import_paths,
    load_ignore_file,
    load_openvex,
    read_sbom,
    render,
    scan_inventory,
)
from shipflow.scan.db import default_db_path
from shipflow.scan.gate import GateResult
from shipflow.scan.reports.table import report_to_renderable

DEFAULT_IGNORE_FILES = (".shipflowignore.yaml", ".trivyignore")
_AGE = re.compile(r"^(\d+)\s*([dhm]?)$")

_db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Advisory database (default: $SHIPFLOW_DB, else $XDG_CACHE_HOME/shipflow/advisories.db).",
)


def parse_age(text: str) -> timedelta | None:
    """``7d``, ``12h``, ``30m``, a bare number of days, or ``off``."""
    if text.strip().lower() in ("off", "none", "0"):
        return None
    match = _AGE.match(text.strip().lower())
    if not match:
        raise UsageError(f"invalid --max-db-age {text!r}", hint="use e.g. 7d, 12h, 30m or off")
    amount, unit = int(match.group(1)), match.group(2) or "d"
    return {"d": timedelta(days=amount), "h": timedelta(hours=amount), "m": timedelta(minutes=amount)}[unit]


def parse_fail_on(fail_on: str | None, threshold: str | None) -> frozenset[Severity] | Severity | None:
    if fail_on and threshold:
        raise UsageError("give --fail-on or --severity-threshold, not both")
    if threshold:
        return Severity.parse(threshold)
    if fail_on:
        return frozenset(Severity.parse(part) for part in fail_on.split(",") if part.strip())
    return None


def _ignore_rules(explicit: tuple[Path, ...], target: str) -> IgnoreRules:
    paths = list(explicit)
    if not paths:
        candidates = [Path.cwd()]
        if Path(target).is_dir():
            candidates.append(Path(target))
        for base in candidates:
            for name in DEFAULT_IGNORE_FILES:
                candidate = (base / name).resolve()
                if candidate.is_file() and candidate not in paths:
                    paths.append(candidate)
    entries = [entry for path in paths for entry in load_ignore_file(path)]
    return IgnoreRules(entries)


def _inventory(target: str, platform: str | None) -> Inventory:
    path = Path(target)
    if path.is_dir():
        from shipflow.sbom import catalog_directory

        return catalog_directory(path)
    if path.is_file():
        result = read_sbom(path)
        if result.skipped:
            note(f"{result.skipped} package(s) in {path} have purl types shipflow does not match; skipped")
        return result.inventory
    from shipflow.oci.open import open_store
    from shipflow.oci.reference import parse_reference
    from shipflow.sbom import catalog_image

    ref = parse_reference(target)
    store = open_store(ref)
    return catalog_image(store, ref.identifier, platform=platform)


def _emit(report: ScanReport, fmt: OutputFormat, gate: GateResult | None, output: Path | None) -> None:
    if output is not None:
        text = render(report, fmt, gate)
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
        note(f"report written to {output}")
    elif fmt is OutputFormat.TABLE:
        stdout.print(report_to_renderable(report, gate))
    else:
        click.echo(render(report, fmt, gate), nl=False)


@click.command("scan")
@click.argument("target")
@_db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in OutputFormat]),
    default=OutputFormat.TABLE.value,
    show_default=True,
    help="Report format.",
)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write the report here."
)
@click.option("--fail-on", help="Comma-separated severities that fail the gate, e.g. CRITICAL,HIGH.")
@click.option("--severity-threshold", help="Fail on this severity and above, e.g. HIGH.")
@click.option(
    "--ignore-file",
    "ignore_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="A .shipflowignore.yaml or .trivyignore (default: those in the current and target directory).",
)
@click.option("--vex", "vex_files", multiple=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--ignore-unfixed", is_flag=True, help="Suppress findings that have no fixed version yet.")
@click.option("--max-db-age", default="7d", show_default=True, help="Warn when the DB is older (or 'off').")
@click.option(
    "--engine",
    type=click.Choice(["shipflow", "trivy", "grype"]),
    default="shipflow",
    show_default=True,
    help="Scan with shipflow's own matcher, or run trivy/grype (must be on PATH) and map their JSON.",
)
@click.option("--platform", help="For multi-platform images: os/arch[/variant] (default linux/amd64).")
def scan_command(
    target: str,
    db_path: Path | None,
    fmt: str,
    output: Path | None,
    fail_on: str | None,
    severity_threshold: str | None,
    ignore_files: tuple[Path, ...],
    vex_files: tuple[Path, ...],
    ignore_unfixed: bool,
    max_db_age: str,
    engine: str,
    platform: str | None,
) -> None:
    """Scan an image, a directory or an SBOM file for known vulnerabilities.

    TARGET is an image reference (registry or oci: layout), a directory (lock files and
    installed packages) or an SPDX/CycloneDX JSON file. Matching is offline, against the
    database `shipflow db import` builds.

    Exit codes: 0 no findings at the --fail-on level, 1 the gate failed, 2 bad arguments
    or ignore/VEX files, 3 database missing or unreadable.

    .shipflowignore.yaml: `ignore: [{id, reason, expires?, package?, purl?}]`; expired entries
    stop ignoring. .trivyignore: one id per line, optional `exp:YYYY-MM-DD`.
    """
    output_format = OutputFormat(fmt)
    threshold = parse_fail_on(fail_on, severity_threshold)
    options = ScanOptions(
        ignore=_ignore_rules(ignore_files, target),
        vex=VexIndex([s for path in vex_files for s in load_openvex(path)]),
        ignore_unfixed=ignore_unfixed,
        max_db_age=parse_age(max_db_age),
    )
    if engine == "shipflow":
        with contextlib.closing(AdvisoryDB.open(db_path)) as db:
            inventory = _inventory(target, platform)
            report = scan_inventory(inventory, db, options)
    else:
        from shipflow.scan.engines import run_engine

        report = run_engine(engine, target, options)
    gate = evaluate_gate(report, threshold) if threshold is not None else None
    for message in report.notes:
        note(f"note: {message}")
    _emit(report, output_format, gate, output)
    step_summary(render(report, OutputFormat.MARKDOWN, gate))
    if gate is not None and not gate.passed:
        raise GateFailed(gate.summary(), hint="fix, upgrade, or record an exception in .shipflowignore.yaml")


@click.group("db")
def db_group() -> None:
    """The offline advisory database (OSV records in SQLite)."""


@db_group.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_db_option
def db_import(paths: tuple[Path, ...], db_path: Path | None) -> None:
    """Import OSV records: JSON/YAML files, directories, or zip archives (osv.dev's per-ecosystem
    all.zip). Newer `modified` wins; the import is all or nothing."""
    result = import_paths(paths, db_path)
    for problem in result.problems:
        note(f"note: {problem}")
    note(
        f"imported into {result.info.path}: {result.added} added, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.withdrawn} withdrawn, {result.skipped} skipped; "
        f"{result.info.advisories} advisories in total (identity {result.info.identity})"
    )


@db_group.command("status")
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def db_status(db_path: Path | None, as_json: bool) -> None:
    """Where the database is, what it holds, and how old it is."""
    with contextlib.closing(AdvisoryDB.open(db_path or default_db_path())) as db:
        info = db.info
    if as_json:
        data = info.to_json()
        age = info.age_seconds()
        data["ageSeconds"] = None if age is None else round(age)
        print_json(data)
        return
    stdout.print(f"database:        {info.path}")
    stdout.print(f"identity:        {info.identity}")
    stdout.print(f"advisories:      {info.advisories}")
    stdout.print(f"last import:     {info.last_import}")
    stdout.print(f"newest modified: {info.newest_modified}")
    for ecosystem, count in sorted(info.per_ecosystem.items()):
        stdout.print(f"  {ecosystem:<24} {count}")
    for source in info.sources:
        stdout.print(f"source: {source.path} ({source.records} records, {source.imported_at})")


COMMANDS: list[click.Command] = [scan_command, db_group]
