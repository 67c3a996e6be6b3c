"""``shipflow scan`` and ``shipflow db import|status``: the CLI face of shipflow.scan."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from shipflow.cli.common import (
    RegistryOptions,
    json_option,
    key_option,
    open_image_arg,
    password_source,
    registry_options,
)
from shipflow.cli.output import note, print_json, stdout, step_summary
from shipflow.errors import UsageError
from shipflow.fsutil import atomic_write
from shipflow.oci.open import OpenedImage
from shipflow.sbom.target import Target, TargetKind, detect_target
from shipflow.scan import (
    AdvisoryDB,
    OutputFormat,
    ScanOptions,
    ScanReport,
    Severity,
    VexIndex,
    import_paths,
    load_openvex,
    render,
)
from shipflow.scan.aliases import parse_severity_sources
from shipflow.scan.db import default_db_path
from shipflow.scan.gate import GateResult, ReportSubject, SeverityGate, evaluate_gate, parse_fail_on
from shipflow.scan.run import Engine, discover_ignore_rules, scan_target

if TYPE_CHECKING:
    from shipflow.signing.keys import PrivateKey

# Imported where used, not here: the signing stack (cryptography, PyNaCl: 50-130 ms of start-up)
# only for --attest, and the rich table only for --format table or "not read" notes.

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


def parse_levels(fail_on: str | None, threshold: str | None) -> frozenset[Severity] | None:
    """``--fail-on`` (one level: that level and above; a list: exactly those) or
    ``--severity-threshold`` (that level and above); neither: no gate."""
    if fail_on is not None and threshold is not None:
        raise UsageError("give --fail-on or --severity-threshold, not both")
    if threshold is not None:
        return parse_fail_on([threshold])
    if fail_on is not None:
        return parse_fail_on(fail_on)
    return None


def _emit(report: ScanReport, fmt: OutputFormat, gate: GateResult | None, output: Path | None) -> None:
    if output is not None:
        atomic_write(output, render(report, fmt, gate), what="report")
        note(f"report written to {output}")
    elif fmt is OutputFormat.TABLE:
        from shipflow.scan.reports.table import report_to_renderable

        stdout.print(report_to_renderable(report, gate))
    else:
        click.echo(render(report, fmt, gate), nl=False)


@dataclass(frozen=True)
class _AttestTo:
    """Where ``--attest`` will put the report: the image pinned to its digest, and the key."""

    image: OpenedImage
    signer: PrivateKey


def _prepare_attestation(target: Target, key: str | None, registry: RegistryOptions) -> _AttestTo:
    """Checked before the scan runs (a bad key should not cost a scan): an image subject, a
    key that loads, and the tag resolved to a digest once, so the scan and the attestation
    are about the same image even if the tag moves meanwhile."""
    if target.kind is not TargetKind.IMAGE:
        kind = "a directory" if target.kind is TargetKind.DIRECTORY else "an SBOM file"
        raise UsageError(
            f"--attest needs an image, and {target} is {kind}",
            hint="attestations attach to an image digest: scan IMAGE (registry or oci: reference), "
            "or drop --attest",
        )
    from shipflow.signing.keys import private_key_from_settings

    signer = private_key_from_settings(key, password_source())
    return _AttestTo(open_image_arg(target.text, registry), signer)


def _attest(
    to: _AttestTo, report: ScanReport, gate: GateResult | None, parameters: dict[str, object]
) -> None:
    from shipflow.scan.attestation import VULN_PREDICATE_TYPE, attest_report, invocation_from_environment
    from shipflow.signing.payload import docker_reference

    invocation = invocation_from_environment(parameters, os.environ)
    result = attest_report(
        to.image.store,
        to.image.digest,
        to.signer,
        report,
        gate,
        invocation=invocation,
        subject_name=docker_reference(to.image.reference),
    )
    state = "attached to" if result.added else "already in"
    note(
        f"{VULN_PREDICATE_TYPE} attestation for {to.image.pinned} {state} {result.tag} (key {result.key_id})"
    )


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
@click.option(
    "--fail-on",
    help="Severities that fail the gate: one level means that level and above (HIGH: HIGH and "
    "CRITICAL); a comma-separated list means exactly those (CRITICAL,HIGH).",
)
@click.option("--severity-threshold", help="Fail on this severity and above, e.g. HIGH.")
@click.option(
    "--ignore-file",
    "ignore_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="A .shipflowignore.yaml, .trivyignore or .trivyignore.yaml (default: those in the current and "
    "target directory).",
)
@click.option("--vex", "vex_files", multiple=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--ignore-unfixed", is_flag=True, help="Suppress findings that have no fixed version yet.")
@click.option("--max-db-age", default="7d", show_default=True, help="Warn when the DB is older (or 'off').")
@click.option(
    "--severity-source",
    default="highest",
    show_default=True,
    help="An advisory published by several databases (GHSA-, PYSEC-, CVE-, DSA-…) is one finding; "
    "its severity is the highest of their ratings, or that of the first of these comma-separated "
    "databases that rates it (e.g. debian,ghsa; names: ghsa, pypa, go, nvd, debian, alpine, ubuntu…).",
)
@click.option(
    "--engine",
    type=click.Choice([e.value for e in Engine]),
    default=Engine.SHIPFLOW.value,
    show_default=True,
    help="Scan with shipflow's own matcher, or run trivy/grype (must be on PATH) and map their JSON.",
)
@click.option("--platform", help="For multi-platform images: os/arch[/variant] (default linux/amd64).")
@click.option(
    "--attest",
    is_flag=True,
    help="Sign the report as a cosign `vuln` attestation and attach it to the scanned image digest "
    "(sha256-<hex>.att), whatever the gate decides. Images only.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 2 when a lock file, package database or archive was recognised but could not be read "
    "(its packages would be missing from the scan).",
)
@key_option
@registry_options
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
    severity_source: str,
    engine: str,
    platform: str | None,
    attest: bool,
    strict: bool,
    key: str | None,
    registry: RegistryOptions,
) -> None:
    """Scan an image, a directory or an SBOM file for known vulnerabilities.

    TARGET is an image reference (registry or oci: layout), a directory (lock files and
    installed packages) or an SPDX/CycloneDX JSON file. Matching is offline, against the
    database `shipflow db import` builds.

    Exit codes: 0 no findings at the --fail-on level, 1 the gate failed, 2 bad arguments
    or ignore/VEX files (or, with --strict, a recognised file that could not be read),
    3 database missing or unreadable.

    Files shipflow recognises (lock files, package databases, Java archives, Go binaries) but
    cannot read are listed in every report format as "not read"; their packages are missing.

    .shipflowignore.yaml: `ignore: [{id, reason, expires?, package?, purl?}]`; expired entries
    stop ignoring. .trivyignore: one id per line, optional `exp:YYYY-MM-DD`. .trivyignore.yaml:
    Trivy's format (`vulnerabilities: [{id, paths?, purls?, expired_at?, statement?}]`).

    --attest (with --key or COSIGN_PRIVATE_KEY; password from COSIGN_PASSWORD) resolves a tag
    to a digest once, scans that digest, and attaches the signed report to it as a cosign
    `vuln` attestation (`shipflow verify-attestation IMAGE --type vuln` / `cosign
    verify-attestation --type vuln` read it). The attestation is written before the gate
    is applied, so a failing image carries the evidence of why it failed (the verdict is in
    the report); the exit code is still the gate's.
    """
    output_format = OutputFormat(fmt)
    levels = parse_levels(fail_on, severity_threshold)
    if key is not None and not attest:
        raise UsageError("--key is only used with --attest", hint="add --attest, or drop --key")
    subject = detect_target(target)
    attest_to = _prepare_attestation(subject, key, registry) if attest else None
    if attest_to is not None:
        subject = detect_target(str(attest_to.image.pinned))
    options = ScanOptions(
        ignore=discover_ignore_rules(subject, ignore_files),
        vex=VexIndex([s for path in vex_files for s in load_openvex(path)]),
        ignore_unfixed=ignore_unfixed,
        max_db_age=parse_age(max_db_age),
        severity_source=parse_severity_sources(severity_source),
    )
    chosen = Engine(engine)
    registry_config = registry.config(subject.reference) if subject.reference is not None else None
    if chosen is Engine.SHIPFLOW:
        with contextlib.closing(AdvisoryDB.open(db_path)) as db:
            report = scan_target(subject, db, options, registry=registry_config, platform=platform)
    else:
        report = scan_target(subject, None, options, engine=chosen, platform=platform)
    gate = evaluate_gate(report, levels) if levels is not None else None
    for message in report.notes:
        note(f"note: {message}")
    if report.not_read:
        from shipflow.scan.reports.table import describe_not_read

        for item in report.not_read:
            note(f"not read: {describe_not_read(item)}")
    _emit(report, output_format, gate, output)
    if os.environ.get("GITHUB_STEP_SUMMARY"):  # rendered only where it is written
        step_summary(render(report, OutputFormat.MARKDOWN, gate))
    if attest_to is not None:
        # Before the gate: the attestation records the outcome, pass or fail.
        parameters: dict[str, object] = {
            "target": target,
            "engine": engine,
            "platform": platform,
            "failOn": sorted(s.name for s in gate.fail_on) if gate is not None else None,
            "ignoreUnfixed": ignore_unfixed,
            "severitySource": list(options.severity_source) or "highest",
            "ignoreFiles": [str(p) for p in ignore_files],
            "vex": [str(p) for p in vex_files],
        }
        _attest(attest_to, report, gate, parameters)
    if levels is not None:
        SeverityGate(levels).check(ReportSubject(report))
    if strict and report.not_read:
        raise UsageError(
            f"{len(report.not_read)} recognised file(s) could not be read; their packages are not scanned",
            hint="fix or remove the files listed as 'not read', or run without --strict",
        )


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
@json_option
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
