"""The database a dry run is about: parsed once from its URL, the password registered as a secret.

A :class:`DatabaseTarget` is built from a ``postgresql://`` URL (or a libpq ``key=value``
string) by :func:`parse_database_url`. Parsing registers the password with
:func:`shipflow.redact.register_secret` before anything else can print it, so it is masked in
every log record and message from then on. The target only ever yields:

* connection parameters for psycopg (:meth:`DatabaseTarget.connect_params`), for the target or,
  with ``database=``, for another database on the same server (the scratch copy);
* the environment a migration command or a libpq tool gets (:meth:`DatabaseTarget.command_env`):
  ``DATABASE_URL`` and ``PGHOST``/``PGPORT``/``PGDATABASE``/``PGUSER``/``PGPASSWORD`` (plus the
  SSL settings the URL carried), pointing at the database named;
* a display form without the password (:meth:`DatabaseTarget.describe`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlencode, urlsplit

from shipflow.errors import UsageError
from shipflow.redact import register_secret

__all__ = ["DatabaseTarget", "child_environment", "parse_database_url"]

# libpq connection parameters and the environment variables that set them, for tools (psql,
# pg_dump, most migration tools) that read PG* variables rather than a URL.
_ENV_FOR_PARAM: Mapping[str, str] = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "sslnegotiation": "PGSSLNEGOTIATION",
    "requiressl": "PGREQUIRESSL",
    "channel_binding": "PGCHANNELBINDING",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "passfile": "PGPASSFILE",
}

# Variables that choose a server, database or login: never inherited by a child, which gets
# the scratch database's instead. (SSL and other settings are inherited as they are.)
_SELECTING_ENV = frozenset(
    {"PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSERVICE", "PGSERVICEFILE"}
)
# Variables that conventionally hold the target's URL (the spec's name for it, and the default).
_URL_ENV = frozenset({"STAGING_DATABASE_URL", "DATABASE_URL"})

# Parameters the tool sets itself and never passes through from the URL.
_OWN_PARAMS = frozenset({"dbname", "password", "user", "host", "port", "application_name"})


@dataclass(frozen=True)
class DatabaseTarget:
    """A PostgreSQL database named by a URL. The password is held but never shown."""

    database: str
    host: str | None = None
    port: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    params: Mapping[str, str] = field(default_factory=dict)
    source: str | None = field(default=None, repr=False, compare=False)  # the URL as given

    def connect_params(self, *, database: str | None = None) -> dict[str, str]:
        """Keyword arguments for ``psycopg.connect`` to this server, in ``database`` (default:
        the target)."""
        params: dict[str, str] = dict(self.params)
        params["dbname"] = database or self.database
        for key, value in (("host", self.host), ("port", self.port), ("user", self.user)):
            if value:
                params[key] = value
        if self.password is not None:
            params["password"] = self.password
        return params

    def url(self, *, database: str | None = None) -> str:
        """A ``postgresql://`` URL for ``database`` on this server, password included (for a
        child's environment only: never print it)."""
        netloc = ""
        if self.user:
            netloc = quote(self.user, safe="")
            if self.password is not None:
                netloc += ":" + quote(self.password, safe="")
            netloc += "@"
        query: dict[str, str] = dict(self.params)
        host, port = self.host or "", self.port or ""
        if host and "," not in host and not host.startswith("/") and "," not in port:
            netloc += f"[{host}]" if ":" in host else host
            if port:
                netloc += f":{port}"
        else:
            if host:
                query["host"] = host
            if port:
                query["port"] = port
        text = f"postgresql://{netloc}/{quote(database or self.database, safe='')}"
        if query:
            text += "?" + urlencode(query, safe="/,")
        return text

    def command_env(self, *, database: str) -> dict[str, str]:
        """``DATABASE_URL`` and the libpq ``PG*`` variables for ``database`` on this server."""
        env = {"DATABASE_URL": self.url(database=database)}
        for key, value in self.connect_params(database=database).items():
            name = _ENV_FOR_PARAM.get(key)
            if name is not None:
                env[name] = value
        return env

    @property
    def server(self) -> str:
        """Where the server is, for messages: ``host:port``, or the socket directory."""
        host = self.host or "the default local socket"
        return f"{host}:{self.port}" if self.port else host

    def describe(self) -> str:
        """``database "app" on 127.0.0.1:5432 as user "migrator"`` (never the password)."""
        who = f' as user "{self.user}"' if self.user else ""
        return f'database "{self.database}" on {self.server}{who}'

    def identity(self) -> dict[str, str | None]:
        """What evidence may record about the target: no password, no other secret parameter."""
        return {"host": self.host, "port": self.port, "database": self.database, "user": self.user}


def parse_database_url(url: str, *, environ: Mapping[str, str] | None = None) -> DatabaseTarget:
    """Parse a PostgreSQL URL or libpq ``key=value`` string and register its password as a secret.

    A URL without a password takes ``PGPASSWORD`` from ``environ`` (default: the process
    environment), as libpq would, so that the migration command gets it too.
    Raises UsageError (without echoing the input) when it cannot be parsed or names no database.
    """
    env = os.environ if environ is None else environ
    register_secret(env.get("PGPASSWORD"))
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    text = url.strip()
    _register_url_password(text)
    if not text:
        raise UsageError("the database URL is empty", hint="give --database-url or set STAGING_DATABASE_URL")
    try:
        parsed = conninfo_to_dict(text)
    except ProgrammingError as exc:
        # libpq's message quotes the input, password and all: never pass it on.
        raise UsageError(
            "the database URL cannot be parsed: it is neither a postgresql:// URL nor libpq key=value pairs",
            hint="use the form postgresql://USER:PASSWORD@HOST:PORT/DATABASE (percent-encode "
            "special characters in the password)",
        ) from exc
    values = {key: str(value) for key, value in parsed.items() if value is not None}
    password = values.pop("password", None)
    if password is None:
        password = env.get("PGPASSWORD")
    register_secret(password)
    database = values.pop("dbname", None)
    if not database:
        raise UsageError(
            "the database URL names no database",
            hint="add the database name: postgresql://USER@HOST:PORT/DATABASE",
        )
    host = values.pop("host", None) or None
    port = values.pop("port", None) or None
    user = values.pop("user", None) or None
    for key in ("sslpassword",):
        register_secret(values.get(key))
    params = {key: value for key, value in values.items() if key not in _OWN_PARAMS}
    return DatabaseTarget(
        database=database, host=host, port=port, user=user, password=password, params=params, source=text
    )


def _register_url_password(text: str) -> None:
    """Register the password of a URL-shaped string before the parser can echo it in an error."""
    if "://" not in text:
        return
    try:
        userinfo = urlsplit(text).netloc.rpartition("@")[0]
    except ValueError:
        return
    if ":" in userinfo:
        raw = userinfo.split(":", 1)[1]
        register_secret(raw)
        register_secret(unquote(raw))


def child_environment(environ: Mapping[str, str], target: DatabaseTarget, *, database: str) -> dict[str, str]:
    """``environ`` made safe for a child that must only reach ``database`` (the scratch copy):
    without the variables that select a server, database or login (``PGHOST`` … ``PGPASSWORD``,
    ``PGSERVICE``), without ``STAGING_DATABASE_URL``/``DATABASE_URL`` and any variable whose
    value is the target's URL, and with ``DATABASE_URL`` and the ``PG*`` variables of
    ``database`` set."""
    url = target.source
    env = {
        name: value
        for name, value in environ.items()
        if name not in _SELECTING_ENV and name not in _URL_ENV and (not url or value.strip() != url)
    }
    env.update(target.command_env(database=database))
    return env
