"""The scratch database: made from the target's schema, used once, always dropped.

Lifecycle (:func:`scratch_database`, a context manager)::

    name = shipflow_scratch_<UTC yyyymmddThhmmss>_<8 hex>      unique, dated, recognisable
    CREATE DATABASE name TEMPLATE target                          --copy template
      or CREATE DATABASE name TEMPLATE template0 (target's encoding and locale)
         + pg_dump --schema-only target | psql name               --copy dump
    COMMENT ON DATABASE name IS 'shipflow migration dry run scratch ...'
    a "lease" connection to name stays open for the whole run
    ... the caller snapshots, runs the migration, snapshots ...
    DROP DATABASE IF EXISTS name WITH (FORCE)                     on success, error, Ctrl-C, SIGTERM

The target is only read: pg_dump reads it, or ``CREATE DATABASE ... TEMPLATE`` copies it. The
administrative connection that creates and drops the scratch database is made to a maintenance
database (``postgres``, else ``template1``), never kept open on the target.

Which copy (:class:`CopyMethod`): ``template`` needs the role to own the target (or be a
superuser) and no other session connected to the target (PostgreSQL's rule), and copies the
data too, so new connections to the target wait while it runs; ``dump`` works on a busy target
with any role that can read it, needs pg_dump/psql of the server's major version, and copies the
schema only. ``auto`` (the default) takes ``template`` when it is allowed, nobody is connected
and the target is at most :data:`AUTO_TEMPLATE_MAX_BYTES`, else ``dump``.

Stale scratch databases (a run killed with SIGKILL, a machine that lost power) are recognised by
their name and comment; :func:`drop_stale_scratch` drops those older than a grace period that no
session uses (a running dry run always holds its lease connection, so it is never taken for stale).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipflow.errors import ShipflowError
from shipflow.events import EventSink, NullSink
from shipflow.redact import redact
from shipflow.timeutil import utc_now, utc_timestamp

from .errors import ClientToolError, DatabaseUnavailable, MissingPrivilege, ScratchCleanupError
from .pgtools import PgTools, dump_schema, find_pg_tools, restore_schema
from .server import ServerInfo, connect, database_error
from .signals import signals_deferred
from .target import DatabaseTarget, child_environment

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

    Connection = psycopg.Connection[TupleRow]

__all__ = [
    "AUTO_TEMPLATE_MAX_BYTES",
    "MARKER",
    "SCRATCH_PREFIX",
    "CopyMethod",
    "ScratchDatabase",
    "ScratchInfo",
    "TargetFacts",
    "connect_admin",
    "drop_stale_scratch",
    "find_scratch_databases",
    "new_scratch_name",
    "read_target_facts",
    "scratch_created_at",
    "scratch_database",
]

logger = logging.getLogger(__name__)

SCRATCH_PREFIX = "shipflow_scratch_"
MARKER = "shipflow migration dry run scratch database"
AUTO_TEMPLATE_MAX_BYTES = 64 * 1024 * 1024
STALE_AFTER = timedelta(minutes=10)
_NAME = re.compile(r"^shipflow_scratch_(\d{8}t\d{6})_[0-9a-f]{8}$")
_MAINTENANCE_DATABASES = ("postgres", "template1")


class CopyMethod(StrEnum):
    AUTO = "auto"
    DUMP = "dump"
    TEMPLATE = "template"


def new_scratch_name(now: datetime | None = None) -> str:
    """``shipflow_scratch_20261201t024524_3fa9c1d2``: dated (UTC), random, lower case (no quoting)."""
    moment = now or utc_now()
    return f"{SCRATCH_PREFIX}{moment.strftime('%Y%m%dt%H%M%S')}_{secrets.token_hex(4)}"


def scratch_created_at(name: str) -> datetime | None:
    """When a scratch database of this name was created (from its name), or None if the name is
    not one of ours."""
    match = _NAME.match(name)
    if match is None:
        return None
    parsed = datetime.strptime(match.group(1), "%Y%m%dt%H%M%S")
    return parsed.replace(tzinfo=utc_now().tzinfo)


# --- facts about the target -------------------------------------------------------------------


@dataclass(frozen=True)
class TargetFacts:
    """What the server says about the target database (read from pg_database, not from it)."""

    name: str
    owner: str
    role_is_owner: bool  # the role is the owner or a member of the owner role
    is_template: bool
    encoding: str
    collate: str
    ctype: str
    locale_provider: str  # c (libc), i (icu), b (builtin, 17+)
    locale: str | None  # the ICU/builtin locale when the provider is not libc
    size_bytes: int | None  # None when the role may not see it
    other_sessions: int


def read_target_facts(admin: Connection, info: ServerInfo, database: str) -> TargetFacts:
    import psycopg

    if info.major >= 17:
        locale_cols = "d.datlocprovider::text, d.datlocale"
    elif info.major >= 15:
        locale_cols = "d.datlocprovider::text, d.daticulocale"
    else:
        locale_cols = "'c', NULL::text"
    query = (
        "SELECT d.datname, pg_get_userbyid(d.datdba), pg_has_role(d.datdba, 'MEMBER'), d.datistemplate,"  # noqa: S608
        " pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, "
        + locale_cols
        + ", CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid) END,"
        " (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid AND a.pid <> pg_backend_pid())"
        " FROM pg_database d WHERE d.datname = %s"
    )
    try:
        row = admin.execute(query, (database,)).fetchone()
    except psycopg.Error as exc:
        raise database_error(exc, f'reading what the server knows about database "{database}"') from exc
    if row is None:
        raise DatabaseUnavailable(
            f'database "{database}" does not exist on the server',
            hint="check the database name in the URL (the dry run copies an existing database)",
        )
    (name, owner, member, is_template, encoding, collate, ctype, provider, locale, size, sessions) = row
    return TargetFacts(
        name=str(name),
        owner=str(owner),
        role_is_owner=bool(member),
        is_template=bool(is_template),
        encoding=str(encoding),
        collate=str(collate),
        ctype=str(ctype),
        locale_provider=str(provider),
        locale=None if locale is None else str(locale),
        size_bytes=None if size is None else int(str(size)),
        other_sessions=int(str(sessions)),
    )


def connect_admin(target: DatabaseTarget) -> tuple[Connection, bool]:
    """A connection for CREATE/DROP DATABASE: to ``postgres`` or ``template1`` if the role may
    connect there, else to the target itself. Returns it and whether it is on the target."""
    first_error: ShipflowError | None = None
    for database in _MAINTENANCE_DATABASES:
        if database == target.database:
            continue
        try:
            return connect(target, database=database), False
        except DatabaseUnavailable as exc:
            low = exc.message.lower()
            # Server down or credentials refused: the same would happen on the target.
            if "does not exist" not in low and "permission denied" not in low and "not permitted" not in low:
                raise
            first_error = first_error or exc
    logger.debug("no maintenance database usable (%s); using the target", first_error)
    return connect(target), True


# --- the lifecycle -----------------------------------------------------------------------------


class ScratchDatabase:
    """One scratch database: its name, how it was made, its lease connection, and timings."""

    def __init__(self, name: str, method: CopyMethod, target: DatabaseTarget) -> None:
        self.name = name
        self.method = method
        self.target = target
        self.tools: PgTools | None = None
        self.copy_seconds = 0.0
        self.drop_seconds = 0.0
        self.reason = ""
        self.created = False
        self.dropped = False
        self.lease: Connection | None = None

    def connection(self) -> Connection:
        """The lease connection, reconnected if the migration killed it."""
        if self.lease is None or self.lease.closed or self.lease.broken:
            if self.lease is not None:
                with contextlib.suppress(Exception):
                    self.lease.close()
            self.lease = connect(self.target, database=self.name)
        return self.lease

    def command_env(self) -> dict[str, str]:
        """``DATABASE_URL`` and ``PG*`` for the scratch database."""
        return self.target.command_env(database=self.name)


def _choose_method(
    requested: CopyMethod, info: ServerInfo, facts: TargetFacts, admin_on_target: bool
) -> tuple[CopyMethod, str]:
    """The copy method to use, and why (for the report)."""
    may = info.superuser or facts.role_is_owner or facts.is_template
    reasons: list[str] = []
    if not may:
        reasons.append(f'the role does not own the target (owner: "{facts.owner}")')
    if admin_on_target:
        reasons.append("no maintenance database (postgres, template1) accepts this role")
    if facts.other_sessions:
        reasons.append(f"{facts.other_sessions} other session(s) are connected to the target")
    if requested is CopyMethod.TEMPLATE:
        if reasons:
            raise MissingPrivilege(
                "cannot copy the target with CREATE DATABASE ... TEMPLATE: " + "; ".join(reasons),
                hint="use --copy dump (pg_dump --schema-only works on a busy database), or --copy auto",
            )
        return CopyMethod.TEMPLATE, "requested"
    if requested is CopyMethod.DUMP:
        return CopyMethod.DUMP, "requested"
    if facts.size_bytes is None or facts.size_bytes > AUTO_TEMPLATE_MAX_BYTES:
        reasons.append(
            "the target is larger than 64 MiB"
            if facts.size_bytes is not None
            else "the target's size cannot be read"
        )
    if reasons:
        return CopyMethod.DUMP, "; ".join(reasons)
    return CopyMethod.TEMPLATE, "the role owns the target, nobody is connected to it and it is small"


@contextlib.contextmanager
def scratch_database(
    target: DatabaseTarget,
    admin: Connection,
    info: ServerInfo,
    facts: TargetFacts,
    *,
    method: CopyMethod = CopyMethod.AUTO,
    admin_on_target: bool = False,
    copy_timeout: float = 600.0,
    events: EventSink | None = None,
    environ: Mapping[str, str] | None = None,
) -> Iterator[ScratchDatabase]:
    """Create the scratch copy of the target, yield it, and drop it whatever happens.

    An exception from the body (KeyboardInterrupt included) propagates after the drop; a failed
    drop then is added to it as a note. After a clean body, a failed drop raises
    :class:`~.errors.ScratchCleanupError` naming the database.
    """
    sink = events or NullSink()
    env = dict(os.environ if environ is None else environ)
    chosen, why = _choose_method(method, info, facts, admin_on_target)
    scratch = ScratchDatabase(new_scratch_name(), chosen, target)
    try:
        _create(
            scratch,
            admin,
            info,
            facts,
            why=why,
            fallback_to_dump=method is CopyMethod.AUTO,
            copy_timeout=copy_timeout,
            sink=sink,
            env=env,
        )
        yield scratch
    except BaseException as exc:
        try:
            _drop(scratch, admin, sink)
        except ShipflowError as drop_exc:
            exc.add_note(f"{drop_exc.message} ({drop_exc.hint})" if drop_exc.hint else drop_exc.message)
            logger.error("%s", drop_exc.message)
        raise
    else:
        _drop(scratch, admin, sink)


def _create(
    scratch: ScratchDatabase,
    admin: Connection,
    info: ServerInfo,
    facts: TargetFacts,
    *,
    why: str,
    fallback_to_dump: bool,
    copy_timeout: float,
    sink: EventSink,
    env: dict[str, str],
) -> None:
    import psycopg
    from psycopg import sql

    started = time.monotonic()
    scratch.reason = why
    name = sql.Identifier(scratch.name)
    if scratch.method is CopyMethod.DUMP:
        # Find the client tools before creating anything: a missing pg_dump is the commonest error.
        scratch.tools = find_pg_tools(info.major, environ=env)
    statement = (
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(name, sql.Identifier(facts.name))
        if scratch.method is CopyMethod.TEMPLATE
        else _create_empty(name, facts)
    )
    try:
        scratch.created = True  # from here on the drop is attempted (the name may exist)
        try:
            admin.execute(statement)
        except psycopg.errors.ObjectInUse:
            if not fallback_to_dump:
                raise
            # Somebody connected to the target between the check and the copy: take the dump.
            why = scratch.reason = "a session connected to the target during the template copy"
            scratch.method = CopyMethod.DUMP
            scratch.tools = find_pg_tools(info.major, environ=env)
            admin.execute(_create_empty(name, facts))
    except psycopg.errors.ObjectInUse as exc:
        raise DatabaseUnavailable(
            f"cannot copy the target by template: {redact(str(exc).strip())}",
            hint="a session connected to the target meanwhile; run again, or use --copy dump",
        ) from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise MissingPrivilege(
            f"cannot create the scratch database: {redact(str(exc).strip())}",
            hint=f'the role needs the CREATEDB privilege (as a superuser: ALTER ROLE "{info.role}" CREATEDB)',
        ) from exc
    except psycopg.Error as exc:
        raise database_error(exc, "creating the scratch database") from exc
    comment = (
        f'{MARKER}: a copy of "{facts.name}" made at {utc_timestamp()} by process {os.getpid()} on '
        f"{socket.gethostname()}; safe to drop when no shipflow run uses it"
    )
    try:
        admin.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(name, sql.Literal(comment)))
    except psycopg.Error as exc:
        raise database_error(exc, "marking the scratch database") from exc
    scratch.connection()  # the lease: from now on the database is visibly in use
    sink.emit(
        "migration.scratch.created",
        f"created scratch database {scratch.name} ({scratch.method.value}: {why})",
        database=scratch.name,
        method=scratch.method.value,
        reason=why,
    )
    if scratch.method is CopyMethod.DUMP:
        assert scratch.tools is not None
        _copy_schema(scratch, scratch.tools, facts, copy_timeout=copy_timeout, env=env, sink=sink)
    scratch.copy_seconds = time.monotonic() - started


def _create_empty(name: Any, facts: TargetFacts) -> Any:
    """CREATE DATABASE from template0 with the target's encoding and locale."""
    from psycopg import sql

    parts = [
        sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
            name, sql.Literal(facts.encoding), sql.Literal(facts.collate), sql.Literal(facts.ctype)
        )
    ]
    if facts.locale_provider == "i" and facts.locale:
        parts.append(sql.SQL("LOCALE_PROVIDER icu ICU_LOCALE {}").format(sql.Literal(facts.locale)))
    elif facts.locale_provider == "b" and facts.locale:
        parts.append(sql.SQL("LOCALE_PROVIDER builtin BUILTIN_LOCALE {}").format(sql.Literal(facts.locale)))
    return sql.SQL(" ").join(parts)


def _copy_schema(
    scratch: ScratchDatabase,
    tools: PgTools,
    facts: TargetFacts,
    *,
    copy_timeout: float,
    env: dict[str, str],
    sink: EventSink,
) -> None:
    from psycopg.conninfo import make_conninfo

    target = scratch.target
    deadline = time.monotonic() + copy_timeout
    dump_env = child_environment(env, target, database=facts.name)
    restore_env = child_environment(env, target, database=scratch.name)
    params = target.connect_params(database=facts.name)
    params.pop("password", None)
    conninfo = make_conninfo("", **params)
    if not tools.exact:
        sink.emit(
            "migration.tools.newer",
            f"pg_dump {tools.version} is newer than the server; the matching version is preferred",
            version=tools.version,
        )
    with tempfile.TemporaryDirectory(prefix="shipflow-migration-") as workdir:
        dump = Path(workdir) / "schema.sql"
        dump_schema(tools, env=dump_env, output=dump, timeout=copy_timeout, conninfo=conninfo)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ClientToolError(
                f"copying the schema took longer than {copy_timeout:.0f} s", hint="raise the copy timeout"
            )
        restore_schema(tools, env=restore_env, dump=dump, timeout=remaining)
        size = dump.stat().st_size
    sink.emit(
        "migration.scratch.copied",
        f"copied the target's schema with pg_dump {tools.version} ({size} bytes of SQL)",
        database=scratch.name,
        pg_dump=tools.version,
        bytes=size,
    )


def _drop(scratch: ScratchDatabase, admin: Connection, sink: EventSink) -> None:
    """DROP DATABASE ... WITH (FORCE), with SIGINT/SIGTERM held off; reconnects once if the
    administrative connection broke (an interrupted statement)."""
    import psycopg
    from psycopg import sql

    if not scratch.created or scratch.dropped:
        return
    started = time.monotonic()
    with signals_deferred():
        if scratch.lease is not None:
            with contextlib.suppress(Exception):
                scratch.lease.close()
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch.name))
        last: Exception | None = None
        for attempt in range(2):
            conn = admin
            try:
                if attempt or admin.closed or admin.broken:
                    conn, _ = connect_admin(scratch.target)
                try:
                    conn.execute(statement)
                finally:
                    if conn is not admin:
                        conn.close()
            except (psycopg.Error, ShipflowError) as exc:
                last = exc
                continue
            scratch.dropped = True
            scratch.drop_seconds = time.monotonic() - started
            break
    if not scratch.dropped:
        text = redact(str(last).strip()) if last is not None else "unknown error"
        raise ScratchCleanupError(
            f"could not drop the scratch database {scratch.name}: {text}",
            database=scratch.name,
            hint=f"drop it by hand (DROP DATABASE {scratch.name} WITH (FORCE)) or run "
            "`shipflow migration cleanup`; the target database was not changed",
        )
    sink.emit(
        "migration.scratch.dropped",
        f"dropped scratch database {scratch.name}",
        database=scratch.name,
        seconds=round(scratch.drop_seconds, 3),
    )


# --- stale scratch databases -------------------------------------------------------------------


@dataclass(frozen=True)
class ScratchInfo:
    """A scratch database found on the server."""

    name: str
    owner: str
    owned_by_role: bool
    comment: str | None
    sessions: int
    created_at: datetime | None

    def age(self, now: datetime | None = None) -> timedelta | None:
        if self.created_at is None:
            return None
        return (now or utc_now()) - self.created_at

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "owner": self.owner,
            "sessions": self.sessions,
            "createdAt": utc_timestamp(self.created_at) if self.created_at else None,
            "comment": self.comment,
        }


def find_scratch_databases(admin: Connection) -> list[ScratchInfo]:
    """Every database on the server whose name and comment say it is a shipflow scratch copy."""
    import psycopg

    try:
        rows = admin.execute(
            "SELECT d.datname, pg_get_userbyid(d.datdba), pg_has_role(d.datdba, 'MEMBER'),"
            " shobj_description(d.oid, 'pg_database'),"
            " (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid AND a.pid <> pg_backend_pid())"
            " FROM pg_database d WHERE d.datname LIKE 'shipflow\\_scratch\\_%' ORDER BY d.datname"
        ).fetchall()
    except psycopg.Error as exc:
        raise database_error(exc, "listing scratch databases") from exc
    found: list[ScratchInfo] = []
    for name, owner, member, comment, sessions in rows:
        created = scratch_created_at(str(name))
        # Ours: the exact name pattern, and our comment (or none: killed between CREATE and COMMENT).
        if created is None or (comment is not None and not str(comment).startswith(MARKER)):
            continue
        found.append(
            ScratchInfo(
                name=str(name),
                owner=str(owner),
                owned_by_role=bool(member),
                comment=None if comment is None else str(comment),
                sessions=int(str(sessions)),
                created_at=created,
            )
        )
    return found


def drop_stale_scratch(
    admin: Connection,
    *,
    older_than: timedelta = STALE_AFTER,
    now: datetime | None = None,
    events: EventSink | None = None,
    dry_run: bool = False,
) -> tuple[list[ScratchInfo], list[tuple[ScratchInfo, str]]]:
    """Drop scratch databases older than ``older_than`` that no session uses and the role owns.

    Plain ``DROP DATABASE`` (no FORCE): one that somebody connects to meanwhile is kept.
    Returns (dropped, kept with the reason). ``dry_run`` only reports.
    """
    import psycopg
    from psycopg import sql

    sink = events or NullSink()
    moment = now or utc_now()
    dropped: list[ScratchInfo] = []
    kept: list[tuple[ScratchInfo, str]] = []
    for found in find_scratch_databases(admin):
        age = found.age(moment)
        if age is not None and age < older_than:
            kept.append((found, f"younger than {older_than}"))
            continue
        if found.sessions:
            kept.append((found, f"{found.sessions} session(s) connected: a dry run may be using it"))
            continue
        if not found.owned_by_role:
            kept.append((found, f'owned by "{found.owner}", which this role may not drop'))
            continue
        if dry_run:
            dropped.append(found)
            continue
        try:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(found.name)))
        except psycopg.Error as exc:
            kept.append((found, redact(str(exc).strip())))
            continue
        dropped.append(found)
        sink.emit(
            "migration.stale.dropped",
            f"dropped stale scratch database {found.name}",
            database=found.name,
        )
    return dropped, kept
