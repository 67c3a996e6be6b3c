"""The migration dry run's errors: subclasses of shipflow's one tree (:mod:`shipflow.errors`).

::

    InfrastructureError (exit 3)
    ├── DatabaseUnavailable     cannot connect, authentication refused, the server went away
    ├── MissingPrivilege        the role may not create databases (CREATEDB) or read the target
    ├── ClientToolError         pg_dump/psql missing, of the wrong major version, or failing
    ├── ScratchCleanupError     the scratch database could not be dropped (its name is given)
    └── UnsupportedServer       a PostgreSQL older than 13 (no DROP DATABASE ... WITH (FORCE))

A migration command that fails, and breaking schema changes, are not errors: they are the
verdict of the report (and the gate's failure). Only "could not decide" raises.
"""

from __future__ import annotations

from shipflow.errors import InfrastructureError

__all__ = [
    "ClientToolError",
    "DatabaseUnavailable",
    "MissingPrivilege",
    "ScratchCleanupError",
    "UnsupportedServer",
]


class DatabaseUnavailable(InfrastructureError):
    """The database server could not be reached, refused the login, or broke the connection."""


class MissingPrivilege(InfrastructureError):
    """The role lacks a privilege the dry run needs (CREATEDB, or reading the target)."""


class ClientToolError(InfrastructureError):
    """pg_dump or psql is missing, does not match the server's major version, or failed."""


class ScratchCleanupError(InfrastructureError):
    """A scratch database could not be dropped; the message names it so it can be dropped by hand."""

    def __init__(self, message: str, *, database: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.database = database


class UnsupportedServer(InfrastructureError):
    """The PostgreSQL server is too old for a safe dry run."""
