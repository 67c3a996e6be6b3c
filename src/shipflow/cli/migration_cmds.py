"""``shipflow migration check`` and ``shipflow migration cleanup``: the migration dry run.

Thin: parses, calls :func:`shipflow.release.migration.check_migration`, renders (a table of
changes with user text never read as markup, a summary line, ``--json``, a GitHub step
summary and step outputs), and maps the verdict to the exit code. An interrupt (Ctrl-C,
SIGTERM) exits 130/143 after the library has dropped the scratch database.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import click

from shipflow.cli.common import json_option
from shipflow.cli.output import github_output, note, print_json, stderr, stdout, step_summary
from shipflow.errors import GateFailed, UsageError

if TYPE_CHECKING:
    from shipflow.release.migration import MigrationReport

__all__ = ["COMMANDS", "migration"]

URL_ENV = "STAGING_DATABASE_URL"
_MAX_SUMMARY_OUTPUT = 4000


@click.group("migration")
def migration() -> None:
    """Migration dry run: check a database migration on a scratch copy of the target database.

    Only a scratch copy is ever written; the target database is only read.
    """


@migration.command("check", context_settings={"allow_interspersed_args": False})
@click.option(
    "--database-url",
    "database_url",
    metavar="URL",
    default=None,
    help=f"The target database, postgresql://USER:PASSWORD@HOST:PORT/DB (default: ${URL_ENV}; "
    "prefer the variable: a flag is visible in the process list).",
)
@click.option(
    "--allow-breaking",
    is_flag=True,
    help="Exit 0 even when changes are breaking (the output still says so, loudly).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    metavar="SECONDS",
    help="Deadline for COMMAND; on expiry its whole process group is killed.",
)
@click.option(
    "--copy",
    "copy",
    type=click.Choice(["auto", "dump", "template"]),
    default="auto",
    show_default=True,
    help="How the scratch copy is made: pg_dump --schema-only (dump), CREATE DATABASE ... "
    "TEMPLATE (template: needs the role to own the target and nobody connected; copies the rows "
    "too), or template when possible and the target is small, else dump (auto).",
)
@json_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- COMMAND...")
def check(
    database_url: str | None,
    allow_breaking: bool,
    timeout: float,
    copy: str,
    as_json: bool,
    command: tuple[str, ...],
) -> None:
    """Dry-run a migration COMMAND on a scratch copy of the target database and classify every
    schema change for a canary, during which the old and the new version share one database.

    \b
    Only a scratch copy is ever written; the target database is only read:
      1. a scratch database is made on the same server from the target's schema
         (pg_dump --schema-only, or CREATE DATABASE ... TEMPLATE);
      2. COMMAND runs with DATABASE_URL and PGHOST/PGPORT/PGDATABASE/PGUSER/PGPASSWORD
         pointing at the scratch copy ($STAGING_DATABASE_URL is removed from its
         environment); no shell, unless you run one (-- sh -c '...');
      3. the schema before and after is read from pg_catalog and every change classified;
      4. the scratch database is dropped: on success, on errors, on Ctrl-C and on SIGTERM.

    \b
    BREAKING: the old version may fail against the new schema (a dropped or renamed table,
    column, view or enum value; a narrowed or changed type; NOT NULL added; a new NOT NULL
    column without default; a new unique, check or foreign-key constraint on an existing
    table). COMPATIBLE: the old version keeps working (new tables, views, indexes, enum
    values, nullable or defaulted columns; dropped NOT NULL or constraints; widened types).

    The role in the URL needs the CREATEDB privilege.

    \b
    Exit codes: 0 compatible (or breaking with --allow-breaking), 1 breaking or COMMAND
    failed, 2 usage, 3 infrastructure (database unreachable, no CREATEDB, pg_dump missing),
    130 interrupted (Ctrl-C), 143 terminated (SIGTERM).

    \b
    Example:
      STAGING_DATABASE_URL=postgresql://app@db:5432/staging \\
        shipflow migration check -- npm run migrate
    """
    from shipflow.release.migration import check_migration, exit_status

    url = database_url or os.environ.get(URL_ENV)
    if not url:
        raise UsageError(
            "no database given",
            hint=f"pass --database-url URL or set {URL_ENV} (postgresql://USER:PASSWORD@HOST:PORT/DB)",
        )
    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UsageError("no migration command given", hint="name it after --, e.g. -- npm run migrate")
    try:
        report = check_migration(
            url, argv, timeout=timeout, copy=copy, allow_breaking=allow_breaking, events=_Progress()
        )
    except KeyboardInterrupt as exc:
        # The library has dropped the scratch database before the interrupt reached here.
        stderr.print(f"interrupted ({exc or 'Ctrl-C'}); the scratch database was dropped", markup=False)
        raise SystemExit(exit_status(exc)) from None
    if as_json:
        print_json(report.to_json())
    else:
        _render(report)
    step_summary(_markdown(report))
    github_output("migration_verdict", report.verdict)
    github_output("migration_breaking", str(len(report.breaking)))
    if report.breaking_allowed:
        stderr.print(f"WARNING: {report.summary()}", style="bold yellow", markup=False, highlight=False)
    if not report.passed:
        if not report.command_succeeded:
            hint = "fix the migration; its output is above (and in --json)"
        else:
            hint = (
                "make the migration backwards compatible (expand now, contract once the old version "
                "is gone), or pass --allow-breaking"
            )
        raise GateFailed(report.summary(), hint=hint)


@migration.command("cleanup")
@click.option(
    "--database-url",
    "database_url",
    metavar="URL",
    default=None,
    help=f"A database on the server (default: ${URL_ENV}).",
)
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    metavar="MINUTES",
    help="Only scratch databases at least this old.",
)
@click.option("--dry-run", is_flag=True, help="List what would be dropped; drop nothing.")
@json_option
def cleanup(database_url: str | None, older_than: float, dry_run: bool, as_json: bool) -> None:
    """Drop scratch databases left behind by killed dry runs (SIGKILL, a lost machine).

    Only databases named shipflow_scratch_<time>_<random> and marked as a shipflow scratch copy
    are considered, and only those older than --older-than that nobody is connected to and this
    role owns. The database in the URL itself is never dropped.
    """
    from datetime import timedelta

    from shipflow.release.migration import connect_admin, drop_stale_scratch, parse_database_url

    url = database_url or os.environ.get(URL_ENV)
    if not url:
        raise UsageError("no database given", hint=f"pass --database-url URL or set {URL_ENV}")
    admin, _ = connect_admin(parse_database_url(url))
    with admin:
        dropped, kept = drop_stale_scratch(admin, older_than=timedelta(minutes=older_than), dry_run=dry_run)
    if as_json:
        print_json(
            {
                "dryRun": dry_run,
                "dropped": [s.to_json() for s in dropped],
                "kept": [{**s.to_json(), "reason": why} for s, why in kept],
            }
        )
        return
    verb = "would drop" if dry_run else "dropped"
    for scratch in dropped:
        stdout.print(f"{verb} {scratch.name}", markup=False, highlight=False)
    for scratch, why in kept:
        stdout.print(f"kept {scratch.name}: {why}", markup=False, highlight=False)
    if not dropped and not kept:
        stdout.print("no scratch databases found", markup=False, highlight=False)


class _Progress:
    """Plain progress lines on stderr (the event stream of the dry run)."""

    def emit(self, kind: str, message: str, **data: object) -> None:
        if kind == "migration.classified":
            return  # the summary line says it
        note(message)


def _render(report: MigrationReport) -> None:
    from rich.table import Table
    from rich.text import Text

    target = report.target
    where = str(target.get("host") or "local socket") + (f":{target['port']}" if target.get("port") else "")
    stdout.print(
        f'Migration dry run on database "{target.get("database")}" at {where} '
        f"(PostgreSQL {report.server_version}), scratch copy by {report.copy_method}",
        markup=False,
        highlight=False,
    )
    result = report.result
    stdout.print(
        f"Command: {report.command_text} -> {result.describe()} ({result.duration_seconds:.2f} s)",
        markup=False,
        highlight=False,
    )
    if report.changes and stdout.is_terminal:
        table = Table()
        table.add_column("verdict", no_wrap=True)
        table.add_column("change", no_wrap=True)
        table.add_column("object", overflow="fold")
        table.add_column("reason")
        for change in report.changes:
            verdict = (
                Text(change.verdict.value.upper(), style="bold red")
                if change.breaking
                else Text(change.verdict.value, style="green")
            )
            table.add_row(verdict, Text(change.kind.label), Text(change.object), Text(change.reason))
        stdout.print(table)
    else:  # a log (CI): one unwrapped line per change, easy to grep
        for change in report.changes:
            label = change.verdict.value.upper() if change.breaking else change.verdict.value
            stdout.print(
                f"{label:<10} {change.kind.label:<24} {change.object}: {change.reason}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    show_output = not report.command_succeeded or logging.getLogger().isEnabledFor(logging.INFO)
    if show_output and report.result.output.strip():
        stdout.print("Command output:", markup=False, highlight=False)
        stdout.print(report.result.output.rstrip(), markup=False, highlight=False)
    style = "bold green" if report.passed and not report.breaking_allowed else "bold red"
    stdout.print(report.summary(), style=style, markup=False, highlight=False)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(report: MigrationReport) -> str:
    title = {"compatible": "compatible", "breaking": "BREAKING", "failed": "migration FAILED"}[report.verdict]
    if report.breaking_allowed:
        title = "BREAKING (allowed)"
    target = report.target
    lines = [
        f"### Migration dry run: {title}",
        "",
        f"Database `{_md(str(target.get('database')))}` on "
        f"`{_md(str(target.get('host')))}:{target.get('port')}` "
        f"(PostgreSQL {report.server_version}), copy by {report.copy_method}; command "
        f"`{_md(report.command_text)}`: {report.result.describe()}.",
        "",
        f"**{_md(report.summary())}**",
        "",
    ]
    if report.changes:
        lines += ["| Verdict | Change | Object | Reason |", "|---|---|---|---|"]
        for change in report.changes:
            verdict = "❌ breaking" if change.breaking else "✅ compatible"
            lines.append(
                f"| {verdict} | {change.kind.label} | `{_md(change.object)}` | {_md(change.reason)} |"
            )
        lines.append("")
    if not report.command_succeeded and report.result.output.strip():
        output = report.result.output[-_MAX_SUMMARY_OUTPUT:].replace("~~~", "~ ~ ~")
        lines += [
            "<details><summary>Command output</summary>",
            "",
            "~~~",
            output.rstrip(),
            "~~~",
            "",
            "</details>",
        ]
    return "\n".join(lines)


COMMANDS: list[click.Command] = [migration]
