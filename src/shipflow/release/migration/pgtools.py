"""Finding pg_dump and psql of the right major version, and copying a schema with them.

``pg_dump`` refuses to dump a server newer than itself, and a dump made by a newer pg_dump may
use syntax an older server rejects (pg_dump 17 writes ``SET transaction_timeout``, which 16 and
older refuse). So the tools are chosen by the server's major version, in this order:

1. ``$SHIPFLOW_PG_BIN`` (a directory holding pg_dump and psql), when set;
2. the versioned directories distributions install side by side:
   ``/usr/lib/postgresql/<major>/bin`` (Debian, Ubuntu), ``/usr/pgsql-<major>/bin`` (RHEL and
   the PGDG RPMs), ``/opt/homebrew/opt/postgresql@<major>/bin`` and
   ``/usr/local/opt/postgresql@<major>/bin`` (Homebrew);
3. ``pg_dump`` on ``PATH``.

A pg_dump of exactly the server's major version is used when there is one; otherwise the
newest newer one (and the report says so); an older one, or none, is a
:class:`~.errors.ClientToolError` that names the version needed and how to install it. psql is
taken from the same directory as the chosen pg_dump.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from shipflow.proc import run_bounded

from .errors import ClientToolError

__all__ = ["PG_BIN_ENV", "PgTools", "dump_schema", "find_pg_tools", "restore_schema"]

PG_BIN_ENV = "SHIPFLOW_PG_BIN"
_VERSION = re.compile(rb"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class PgTools:
    """A pg_dump and a psql of one version."""

    pg_dump: Path
    psql: Path
    version: str  # "15.18"
    major: int
    exact: bool  # the server's major version (else newer: the report says so)


def _candidate_dirs(server_major: int, environ: Mapping[str, str]) -> Iterator[Path]:
    explicit = environ.get(PG_BIN_ENV)
    if explicit:
        yield Path(explicit)
        return
    yield Path(f"/usr/lib/postgresql/{server_major}/bin")
    yield Path(f"/usr/pgsql-{server_major}/bin")
    yield Path(f"/opt/homebrew/opt/postgresql@{server_major}/bin")
    yield Path(f"/usr/local/opt/postgresql@{server_major}/bin")
    # Newer versions installed side by side (Debian keeps one directory per major).
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        majors = sorted((int(p.name) for p in root.iterdir() if p.name.isdigit()), reverse=True)
        for major in majors:
            if major != server_major:
                yield root / str(major) / "bin"
    on_path = shutil.which("pg_dump", path=environ.get("PATH"))
    if on_path:
        yield Path(on_path).resolve().parent


def _tool_version(binary: Path) -> tuple[int, str] | None:
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, timeout=10, check=False, stdin=subprocess.DEVNULL
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    if match is None:
        return None
    major = int(match.group(1))
    minor = match.group(2)
    return major, f"{major}.{minor.decode()}" if minor is not None else str(major)


def find_pg_tools(server_major: int, *, environ: Mapping[str, str] | None = None) -> PgTools:
    """The pg_dump/psql pair to copy a schema from a server of ``server_major``."""
    env = os.environ if environ is None else environ
    seen: set[Path] = set()
    found: list[PgTools] = []
    for directory in _candidate_dirs(server_major, env):
        if directory in seen:
            continue
        seen.add(directory)
        pg_dump, psql = directory / "pg_dump", directory / "psql"
        if not (pg_dump.is_file() and psql.is_file()):
            continue
        version = _tool_version(pg_dump)
        if version is None:
            continue
        major, text = version
        tools = PgTools(pg_dump=pg_dump, psql=psql, version=text, major=major, exact=major == server_major)
        if major == server_major:
            return tools
        found.append(tools)
    newer = sorted((t for t in found if t.major > server_major), key=lambda t: t.major)
    if newer:
        return newer[0]
    where = f"${PG_BIN_ENV}={env[PG_BIN_ENV]}" if env.get(PG_BIN_ENV) else "this machine"
    have = ", ".join(f"{t.pg_dump} ({t.version})" for t in found) or "none"
    raise ClientToolError(
        f"no pg_dump for PostgreSQL {server_major} on {where} (found: {have}); pg_dump must be at "
        "least the server's major version to copy its schema",
        hint=f"install the client tools of version {server_major} (Debian/Ubuntu: apt-get install "
        f"postgresql-client-{server_major}, from the PostgreSQL apt repository if the release lacks "
        f"it; RHEL: postgresql{server_major}), or set {PG_BIN_ENV} to the directory holding its "
        "pg_dump and psql, or use --copy template (needs no client tools)",
    )


def dump_schema(
    tools: PgTools, *, env: Mapping[str, str], output: Path, timeout: float, conninfo: str
) -> None:
    """``pg_dump --schema-only`` of the database ``conninfo`` names into ``output``.

    ``conninfo`` holds no password; it comes through ``PGPASSWORD`` in ``env``. Only reads the
    target: pg_dump takes ACCESS SHARE locks (waiting at most 30 s for them) and reads catalogs.
    """
    argv = [
        str(tools.pg_dump),
        "--schema-only",
        "--no-owner",
        "--no-privileges",
        "--no-tablespaces",
        "--no-publications",
        "--no-subscriptions",
        "--no-security-labels",
        "--lock-wait-timeout=30000",
        f"--file={output}",
        f"--dbname={conninfo}",
    ]
    result = run_bounded(argv, env=env, timeout=timeout)
    if not result.ok:
        raise ClientToolError(
            f"pg_dump {tools.version} could not read the target's schema ({result.describe()}):\n"
            f"{result.output.strip()}",
            hint=_dump_hint(result.output),
        )


def restore_schema(tools: PgTools, *, env: Mapping[str, str], dump: Path, timeout: float) -> None:
    """Load ``dump`` into the database ``env`` (PG* variables) points at, in one transaction,
    stopping at the first error."""
    argv = [str(tools.psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", str(dump)]
    result = run_bounded(argv, env=env, timeout=timeout)
    if not result.ok:
        mismatch = (
            "" if tools.exact else f" (pg_dump {tools.version} is newer than the server: a likely cause)"
        )
        raise ClientToolError(
            f"the target's schema could not be loaded into the scratch database{mismatch} "
            f"({result.describe()}):\n{result.output.strip()}",
            hint="an object the role may not create (an untrusted extension needs a superuser), or "
            "client tools of another major version than the server; see the message",
        )


def _dump_hint(output: str) -> str:
    low = output.lower()
    if "server version mismatch" in low:
        return f"pg_dump is older than the server: install the matching client tools or set {PG_BIN_ENV}"
    if "permission denied" in low:
        return "the role must be able to read (SELECT) every table of the target for pg_dump to lock it"
    if "lock" in low and "timeout" in low:
        return "another session holds an exclusive lock on a table of the target (a running migration?)"
    return "see pg_dump's message above"
