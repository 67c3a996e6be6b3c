"""Connections to the PostgreSQL server, what it is, and what the role may do there.

Every psycopg error is translated here into shipflow's tree (:mod:`.errors`) with a hint that
says what to do next; nothing psycopg raises leaves this package. Connections are in autocommit
mode (``CREATE DATABASE`` needs it), carry ``application_name=shipflow-migration`` so that a DBA
sees who is connected, and have a connect timeout and a statement timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipflow.redact import redact

from .errors import DatabaseUnavailable, MissingPrivilege, UnsupportedServer
from .target import DatabaseTarget

if TYPE_CHECKING:
    import psycopg
    from psycopg.rows import TupleRow

__all__ = [
    "APPLICATION_NAME",
    "MIN_SERVER_MAJOR",
    "ServerInfo",
    "connect",
    "database_error",
    "require_createdb",
    "server_info",
]

APPLICATION_NAME = "shipflow-migration"
MIN_SERVER_MAJOR = 13  # DROP DATABASE ... WITH (FORCE) arrived in PostgreSQL 13
DEFAULT_CONNECT_TIMEOUT = 10
DEFAULT_STATEMENT_TIMEOUT_MS = 120_000


@dataclass(frozen=True)
class ServerInfo:
    """The server and the connected role."""

    version_num: int  # e.g. 150018
    version: str  # e.g. "15.18 (Debian 15.18-0+deb12u1)"
    role: str
    superuser: bool
    createdb: bool

    @property
    def major(self) -> int:
        return self.version_num // 10000

    @property
    def short_version(self) -> str:
        """``15.18``: the version without the distributor's suffix."""
        return self.version.split(" ", 1)[0]


def connect(
    target: DatabaseTarget,
    *,
    database: str | None = None,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
) -> psycopg.Connection[TupleRow]:
    """An autocommit connection to ``database`` (default: the target) on the target's server."""
    import psycopg

    params = target.connect_params(database=database)
    params.setdefault("connect_timeout", str(connect_timeout))
    params["application_name"] = APPLICATION_NAME
    name = database or target.database
    try:
        conn = psycopg.connect(**params, autocommit=True)  # type: ignore[arg-type]
    except psycopg.Error as exc:
        raise _connect_error(exc, target, name) from exc
    try:
        conn.execute(f"SET statement_timeout = {int(statement_timeout_ms)}")
        conn.execute("SET lock_timeout = '30s'")
    except psycopg.Error as exc:
        conn.close()
        raise database_error(exc, f"setting up the connection to {name}") from exc
    return conn


def _connect_error(exc: Exception, target: DatabaseTarget, database: str) -> DatabaseUnavailable:
    text = redact(str(exc).strip())
    where = f'database "{database}" on {target.server}'
    low = text.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        hint = "the server refused the credentials: check the user and password in the database URL"
    elif "does not exist" in low and "database" in low:
        hint = "check the database name in the URL (the dry run copies an existing database)"
    elif "role" in low and "does not exist" in low:
        hint = "check the user name in the database URL"
    elif "connection refused" in low or "no such file" in low:
        hint = "is the server running and listening there? check the host and port in the URL"
    elif "timeout" in low or "timed out" in low:
        hint = "the server did not answer in time: check the host, the port and the network path"
    elif "pg_hba.conf" in low:
        hint = "the server's pg_hba.conf does not allow this connection: ask its administrator"
    else:
        hint = "check the database URL and that the server is reachable from here"
    return DatabaseUnavailable(f"cannot connect to {where}: {text}", hint=hint)


def database_error(exc: Exception, doing: str) -> DatabaseUnavailable | MissingPrivilege:
    """Translate a psycopg error raised while ``doing`` something into shipflow's tree."""
    import psycopg

    text = redact(str(exc).strip())
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return MissingPrivilege(
            f"permission denied while {doing}: {text}",
            hint="the role in the database URL lacks a privilege the dry run needs (see the message)",
        )
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return DatabaseUnavailable(
            f"the server cancelled a statement while {doing} (statement or lock timeout): {text}",
            hint="something holds a lock on the object or the server is overloaded; try again",
        )
    return DatabaseUnavailable(
        f"database error while {doing}: {text}",
        hint="check that the server is up and the role may do this",
    )


def server_info(conn: psycopg.Connection[TupleRow]) -> ServerInfo:
    """Version of the server and the connected role's relevant attributes."""
    import psycopg

    try:
        row = conn.execute(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int,"
            " r.rolname, r.rolsuper, r.rolcreatedb FROM pg_roles r WHERE r.rolname = current_user"
        ).fetchone()
    except psycopg.Error as exc:
        raise database_error(exc, "reading the server version") from exc
    if row is None:  # pragma: no cover - current_user always has a pg_roles row
        raise DatabaseUnavailable("the connected role is not in pg_roles", hint="check the server")
    version, version_num, role, superuser, createdb = row
    info = ServerInfo(
        version_num=int(str(version_num)),
        version=str(version),
        role=str(role),
        superuser=bool(superuser),
        createdb=bool(createdb),
    )
    if info.major < MIN_SERVER_MAJOR:
        raise UnsupportedServer(
            f"PostgreSQL {info.short_version} is too old for the migration dry run "
            f"(it needs {MIN_SERVER_MAJOR} or newer)",
            hint="the dry run relies on DROP DATABASE ... WITH (FORCE) to always remove its scratch "
            "copy; upgrade the server (PostgreSQL 12 and older are out of support)",
        )
    return info


def require_createdb(info: ServerInfo) -> None:
    """Refuse early, naming the privilege, when the role may not create the scratch database."""
    if info.superuser or info.createdb:
        return
    raise MissingPrivilege(
        f'role "{info.role}" may not create databases: the migration dry run needs the CREATEDB '
        "privilege to make its scratch copy",
        hint=f'grant it (as a superuser: ALTER ROLE "{info.role}" CREATEDB) or use a role that has it; '
        "the target database itself is only read",
    )
