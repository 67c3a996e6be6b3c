"""The ``migration`` promotion gate: a dry run whose report becomes the gate's evidence.

::

    gate = MigrationGate(
        os.environ["STAGING_DATABASE_URL"],
        "npm run migrate",               # or an argv list; a string is split like a shell would
        cwd=repo_root,                   # (shlex), but never run by one
        timeout=600,
        allow_breaking=False,            # per promotion path, from shipflow.yaml
        env={"SHIPFLOW_IMAGE": ..., "SHIPFLOW_DIGEST": ..., "SHIPFLOW_ENV": ...},
    )
    evidence = gate.check(ctx)           # GateFailed(evidence=...) when it does not pass

It passes when the command succeeds and no change is breaking — or breaking changes are
allowed, in which case the summary starts with ``BREAKING CHANGES ALLOWED`` and a warning is
logged. Evidence inputs: the target's host, port, database and user (never the password), the
server version, the command, the copy method and ``allowBreaking``; details: the classified
changes, the command's exit code (and its output tail when it failed), timings. The database
URL is parsed — and its password registered as a secret — when the gate is constructed.
Infrastructure errors (database unreachable, no CREATEDB) are not verdicts: they propagate.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

from shipflow.errors import ConfigError
from shipflow.events import EventSink
from shipflow.gate import Gate, GateContext, Outcome

from .check import DEFAULT_TIMEOUT, MigrationReport, check_migration
from .scratch import CopyMethod
from .target import parse_database_url

__all__ = ["MigrationGate"]

logger = logging.getLogger(__name__)


class MigrationGate(Gate[GateContext]):
    """Schema compatibility of a migration, checked on a scratch copy of the target database."""

    name = "migration"

    def __init__(
        self,
        database_url: str,
        command: Sequence[str] | str,
        *,
        cwd: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        allow_breaking: bool = False,
        env: Mapping[str, str] | None = None,
        copy: CopyMethod | str = CopyMethod.AUTO,
        events: EventSink | None = None,
    ) -> None:
        self.target = parse_database_url(database_url)
        if isinstance(command, str):
            try:
                argv = shlex.split(command)
            except ValueError as exc:
                raise ConfigError(
                    f"the migration command cannot be split: {exc}", hint="check its quoting"
                ) from exc
        else:
            argv = list(command)
        if not argv:
            raise ConfigError(
                "the migration gate has no command",
                hint='set gates.migration.command, e.g. "npm run migrate"',
            )
        self.command = tuple(argv)
        self.cwd = cwd
        self.timeout = timeout
        self.allow_breaking = allow_breaking
        self.env = dict(env or {})
        self.copy = CopyMethod(copy)
        self.events = events
        self.report: MigrationReport | None = None  # the last run's full report

    def evaluate(self, ctx: GateContext) -> Outcome:
        env = dict(self.env)
        env.setdefault("SHIPFLOW_DIGEST", str(ctx.digest))
        report = check_migration(
            self.target,
            self.command,
            cwd=self.cwd,
            timeout=self.timeout,
            copy=self.copy,
            allow_breaking=self.allow_breaking,
            env=env,
            events=self.events,
        )
        self.report = report
        if report.breaking_allowed:
            logger.warning("migration gate for %s: %s", ctx.subject, report.summary())
        return Outcome(
            passed=report.passed,
            summary=report.summary(),
            inputs=report.evidence_inputs(),
            details=report.evidence_details(),
            hint=_hint(report),
        )


def _hint(report: MigrationReport) -> str | None:
    if report.passed:
        return None
    if not report.command_succeeded:
        return (
            "the migration failed on a copy of the target's schema; the output is in the evidence. "
            "Reproduce with `shipflow migration check -- COMMAND`"
        )
    return (
        "make the migration backwards compatible (expand now, contract after the old version is gone), "
        "or allow breaking changes for this promotion path in shipflow.yaml"
    )
