"""The migration dry run: copy the target's schema, run the migration on the copy, classify.

:func:`check_migration` is the library entry point (the CLI's ``shipflow migration check`` and
the promotion gate both call it)::

    report = check_migration("postgresql://app@db:5432/staging", ["npm", "run", "migrate"])
    report.verdict        # "compatible" | "breaking" | "failed"
    report.changes        # every classified change
    report.to_json()

Steps, each reported as an event (``migration.*``) and timed:

1. connect to the server (a maintenance database), read its version and the role's privileges
   (CREATEDB is required), and what pg_database says about the target;
2. drop stale scratch databases of killed runs (see :mod:`.scratch`);
3. make the scratch copy (template or pg_dump, see :mod:`.scratch`) and snapshot its schema;
4. run the command with ``DATABASE_URL`` and ``PGHOST``/``PGPORT``/``PGDATABASE``/``PGUSER``/
   ``PGPASSWORD`` pointing at the scratch copy (variables that would lead it to the target,
   such as ``STAGING_DATABASE_URL``, are removed), ``SHIPFLOW_MIGRATION_DRY_RUN=1``, and the
   caller's extra variables; with a timeout that kills its process group
   (:func:`shipflow.proc.run_bounded`);
5. snapshot again, drop the scratch database (always: also on errors, Ctrl-C and SIGTERM),
   and classify the difference (:mod:`.classify`).

The command failing is not an exception: the report's verdict is ``failed`` and carries the
(bounded, redacted) output. Exceptions mean no verdict could be reached: infrastructure
(exit 3), usage (exit 2), or an interrupt (KeyboardInterrupt; SIGTERM arrives as its subclass
:class:`~.signals.TerminationRequested`).
"""

from __future__ import annotations

import logging
import os
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipflow.errors import ShipflowError, UsageError
from shipflow.events import EventSink, NullSink
from shipflow.proc import CommandResult, run_bounded
from shipflow.redact import redact
from shipflow.timeutil import utc_timestamp

from .changes import Change, Verdict
from .classify import classify
from .scratch import CopyMethod, connect_admin, drop_stale_scratch, read_target_facts, scratch_database
from .server import require_createdb, server_info
from .signals import sigterm_as_exception
from .snapshot import take_snapshot
from .target import DatabaseTarget, child_environment, parse_database_url

__all__ = ["DRY_RUN_ENV", "MigrationReport", "check_migration"]

logger = logging.getLogger(__name__)

DRY_RUN_ENV = "SHIPFLOW_MIGRATION_DRY_RUN"
DEFAULT_TIMEOUT = 600.0
EVIDENCE_OUTPUT_CHARS = 8000
OUTPUT_LIMIT = 64 * 1024  # bytes of the command's output kept: the first and the last half


@dataclass(frozen=True)
class MigrationReport:
    """The outcome of one dry run. ``verdict``: ``failed`` (the command failed or timed out),
    ``breaking`` (at least one breaking change) or ``compatible``."""

    target: Mapping[str, str | None]
    server_version: str
    command: tuple[str, ...]
    result: CommandResult
    changes: tuple[Change, ...]
    scratch_database: str
    copy_method: str
    copy_reason: str
    pg_dump_version: str | None
    allow_breaking: bool
    started_at: str
    timings: Mapping[str, float] = field(default_factory=dict)
    objects_before: Mapping[str, int] = field(default_factory=dict)
    objects_after: Mapping[str, int] = field(default_factory=dict)
    scratch_dropped: bool = True

    @property
    def breaking(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.verdict is Verdict.BREAKING)

    @property
    def compatible(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.verdict is Verdict.COMPATIBLE)

    @property
    def command_succeeded(self) -> bool:
        return self.result.ok

    @property
    def verdict(self) -> str:
        if not self.result.ok:
            return "failed"
        return "breaking" if self.breaking else "compatible"

    @property
    def passed(self) -> bool:
        """The gate's answer: the command succeeded and nothing breaking (or breaking allowed)."""
        return self.result.ok and (not self.breaking or self.allow_breaking)

    @property
    def breaking_allowed(self) -> bool:
        """True when breaking changes pass only because they were allowed (say so loudly)."""
        return self.result.ok and bool(self.breaking) and self.allow_breaking

    @property
    def output_truncated(self) -> bool:
        """Whether the command wrote more than was kept (the middle is left out)."""
        return self.result.output_bytes > OUTPUT_LIMIT

    @property
    def command_text(self) -> str:
        return redact(shlex.join(self.command))

    def summary(self) -> str:
        """One line for a person."""
        counts = f"{len(self.breaking)} breaking, {len(self.compatible)} compatible"
        if not self.result.ok:
            return (
                f"the migration command failed ({self.result.describe()}); "
                f"{len(self.changes)} schema change(s) before it stopped ({counts})"
            )
        if not self.changes:
            return "the migration made no schema changes"
        if self.breaking_allowed:
            return (
                f"BREAKING CHANGES ALLOWED: {len(self.breaking)} breaking schema change(s) pass only "
                f"because breaking changes are allowed ({counts})"
            )
        if self.breaking:
            first = "; ".join(f"{c.kind.value} {c.object}" for c in self.breaking[:3])
            more = f" and {len(self.breaking) - 3} more" if len(self.breaking) > 3 else ""
            return f"{len(self.breaking)} breaking schema change(s): {first}{more} ({counts})"
        return f"{len(self.changes)} schema change(s), all compatible"

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "passed": self.passed,
            "allowBreaking": self.allow_breaking,
            "breakingAllowed": self.breaking_allowed,
            "summary": self.summary(),
            "counts": {"breaking": len(self.breaking), "compatible": len(self.compatible)},
            "target": {**self.target, "serverVersion": self.server_version},
            "scratch": {
                "database": self.scratch_database,
                "copyMethod": self.copy_method,
                "copyReason": self.copy_reason,
                "pgDump": self.pg_dump_version,
                "dropped": self.scratch_dropped,
            },
            "command": {
                "argv": [redact(a) for a in self.command],
                "exitCode": self.result.returncode,
                "timedOut": self.result.timed_out,
                "durationSeconds": round(self.result.duration_seconds, 3),
                "output": self.result.output,
                "outputTruncated": self.output_truncated,
            },
            "changes": [c.to_json() for c in self.changes],
            "objects": {"before": dict(self.objects_before), "after": dict(self.objects_after)},
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "startedAt": self.started_at,
        }

    def evidence_inputs(self) -> dict[str, Any]:
        """What the gate checked with: the database's identity (never a password), the server
        version, the command and the settings."""
        return {
            "database": self.target.get("database"),
            "host": self.target.get("host"),
            "port": self.target.get("port"),
            "user": self.target.get("user"),
            "serverVersion": self.server_version,
            "command": self.command_text,
            "copyMethod": self.copy_method,
            "pgDump": self.pg_dump_version,
            "allowBreaking": self.allow_breaking,
        }

    def evidence_details(self) -> dict[str, Any]:
        """What the gate found: the classified changes, and the command's outcome."""
        command: dict[str, Any] = {
            "exitCode": self.result.returncode,
            "timedOut": self.result.timed_out,
            "durationSeconds": round(self.result.duration_seconds, 3),
        }
        if not self.result.ok:
            output = self.result.output
            command["output"] = output[-EVIDENCE_OUTPUT_CHARS:]
            command["outputTruncated"] = self.output_truncated or len(output) > EVIDENCE_OUTPUT_CHARS
        return {
            "verdict": self.verdict,
            "breaking": len(self.breaking),
            "compatible": len(self.compatible),
            "breakingAllowed": self.breaking_allowed,
            "changes": [c.to_json() for c in self.changes],
            "command": command,
            "scratchDatabase": self.scratch_database,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def check_migration(
    database: str | DatabaseTarget,
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    copy: CopyMethod | str = CopyMethod.AUTO,
    copy_timeout: float = DEFAULT_TIMEOUT,
    allow_breaking: bool = False,
    env: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    events: EventSink | None = None,
    clean_stale: bool = True,
) -> MigrationReport:
    """Dry-run ``command`` (an argv list; no shell) against a scratch copy of ``database``.

    ``env`` adds variables for the command (e.g. ``SHIPFLOW_IMAGE``; a whole environment is fine);
    it cannot override the database variables nor bring back ``STAGING_DATABASE_URL``.
    ``environ`` is the base environment (default: this process's).
    Only the scratch copy is ever written; the target is only read.
    """
    sink = events or NullSink()
    base = dict(os.environ if environ is None else environ)
    target = parse_database_url(database, environ=base) if isinstance(database, str) else database
    argv = tuple(command)
    if not argv:
        raise UsageError(
            "no migration command given", hint="name the command after --, e.g. -- npm run migrate"
        )
    if timeout <= 0 or copy_timeout <= 0:
        raise UsageError("timeouts must be positive", hint="give the timeout in seconds, e.g. --timeout 600")
    try:
        method = CopyMethod(copy)
    except ValueError as exc:
        choices = ", ".join(m.value for m in CopyMethod)
        raise UsageError(f"unknown copy method {copy!r}", hint=f"use one of: {choices}") from exc
    if cwd is not None and not cwd.is_dir():
        raise UsageError(f"working directory {cwd} does not exist", hint="give an existing directory")

    started_at = utc_timestamp()
    started = time.monotonic()
    timings: dict[str, float] = {}
    with sigterm_as_exception():
        admin, admin_on_target = connect_admin(target)
        try:
            info = server_info(admin)
            sink.emit(
                "migration.connected",
                f"connected to PostgreSQL {info.short_version} as {info.role}; target: {target.describe()}",
                server_version=info.short_version,
                role=info.role,
            )
            require_createdb(info)
            facts = read_target_facts(admin, info, target.database)
            if clean_stale:
                _clean_stale(admin, sink)
            with scratch_database(
                target,
                admin,
                info,
                facts,
                method=method,
                admin_on_target=admin_on_target,
                copy_timeout=copy_timeout,
                events=sink,
                environ=base,
            ) as scratch:
                timings["copy"] = scratch.copy_seconds
                mark = time.monotonic()
                before = take_snapshot(scratch.connection())
                timings["snapshotBefore"] = time.monotonic() - mark
                sink.emit(
                    "migration.snapshot.before",
                    "schema before: " + _describe_counts(before.counts()),
                    **before.counts(),
                )
                # The caller's variables too pass the filter: they cannot lead the command to the
                # target (STAGING_DATABASE_URL, PGHOST …) nor replace the scratch database's.
                child_env = child_environment({**base, **dict(env or {})}, target, database=scratch.name)
                child_env[DRY_RUN_ENV] = "1"
                sink.emit(
                    "migration.command.started",
                    f"running {redact(shlex.join(argv))} against {scratch.name}",
                    argv=[redact(a) for a in argv],
                )
                result = run_bounded(argv, env=child_env, cwd=cwd, timeout=timeout, output_limit=OUTPUT_LIMIT)
                timings["command"] = result.duration_seconds
                sink.emit(
                    "migration.command.finished",
                    f"the migration command ended: {result.describe()} after {result.duration_seconds:.2f} s",
                    exit_code=result.returncode,
                    timed_out=result.timed_out,
                )
                mark = time.monotonic()
                after = take_snapshot(scratch.connection())
                timings["snapshotAfter"] = time.monotonic() - mark
            timings["drop"] = scratch.drop_seconds
        finally:
            admin.close()
    changes = classify(before, after)
    timings["total"] = time.monotonic() - started
    report = MigrationReport(
        target=target.identity(),
        server_version=info.short_version,
        command=argv,
        result=result,
        changes=changes,
        scratch_database=scratch.name,
        copy_method=scratch.method.value,
        copy_reason=scratch.reason,
        pg_dump_version=scratch.tools.version if scratch.tools else None,
        allow_breaking=allow_breaking,
        started_at=started_at,
        timings=timings,
        objects_before=before.counts(),
        objects_after=after.counts(),
        scratch_dropped=scratch.dropped,
    )
    sink.emit(
        "migration.classified",
        report.summary(),
        verdict=report.verdict,
        breaking=len(report.breaking),
        compatible=len(report.compatible),
    )
    return report


def _clean_stale(admin: Any, sink: EventSink) -> None:
    """Drop scratch databases left by killed runs; a failure here never stops the dry run."""
    try:
        _dropped, kept = drop_stale_scratch(admin, events=sink)
    except ShipflowError as exc:
        logger.warning("could not look for stale scratch databases: %s", exc.message)
        return
    for info, why in kept:
        if info.age() is not None and "younger" not in why:
            sink.emit(
                "migration.stale.kept",
                f"kept stale-looking scratch database {info.name}: {why}",
                database=info.name,
            )


def _describe_counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "empty"
