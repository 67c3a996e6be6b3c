"""PostgreSQL migration dry run with schema-compatibility classification.

The target database is only ever read. A scratch copy of its schema is made on the same
server, the migration command runs against the copy, the schema is read from ``pg_catalog``
before and after, and every change is classified for a canary, during which the old and the
new version share one database: **breaking** when the old version may fail against the new
schema, **compatible** when it keeps working (rules: :mod:`.classify`, :mod:`.widening`). The
scratch copy is always dropped — on success, on error, on Ctrl-C and on SIGTERM.

Public API::

    check_migration(url, argv, ...) -> MigrationReport      # the dry run
    MigrationGate(url, command, ...)                        # the promotion gate
    classify(before, after) -> tuple[Change, ...]           # the classifier alone
    take_snapshot(conn) -> SchemaSnapshot
    parse_database_url(url) -> DatabaseTarget               # registers the password as a secret
    find_scratch_databases / drop_stale_scratch             # cleaning up after killed runs
"""

from __future__ import annotations

from shipflow.proc import CommandResult

from .changes import Change, ChangeKind, Verdict
from .check import DRY_RUN_ENV, MigrationReport, check_migration
from .classify import classify
from .errors import (
    ClientToolError,
    DatabaseUnavailable,
    MissingPrivilege,
    ScratchCleanupError,
    UnsupportedServer,
)
from .gate import MigrationGate
from .scratch import CopyMethod, ScratchInfo, connect_admin, drop_stale_scratch, find_scratch_databases
from .signals import TerminationRequested, exit_status
from .snapshot import SchemaSnapshot, take_snapshot
from .target import DatabaseTarget, parse_database_url

__all__ = [
    "DRY_RUN_ENV",
    "Change",
    "ChangeKind",
    "ClientToolError",
    "CommandResult",
    "CopyMethod",
    "DatabaseTarget",
    "DatabaseUnavailable",
    "MigrationGate",
    "MigrationReport",
    "MissingPrivilege",
    "SchemaSnapshot",
    "ScratchCleanupError",
    "ScratchInfo",
    "TerminationRequested",
    "UnsupportedServer",
    "Verdict",
    "check_migration",
    "classify",
    "connect_admin",
    "drop_stale_scratch",
    "exit_status",
    "find_scratch_databases",
    "parse_database_url",
    "take_snapshot",
]
