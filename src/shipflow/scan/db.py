"""The local advisory database: OSV records indexed in SQLite.

Location: ``--db`` > ``$SHIPFLOW_DB`` > ``$XDG_CACHE_HOME/shipflow/advisories.db`` >
``~/.cache/shipflow/advisories.db``.

Imports are atomic: the current database is copied next to itself, the records are upserted
into the copy (a record replaces a stored one with the same id only when its ``modified`` is
newer), and the copy is renamed over the original. A scan that is reading the old file keeps
reading it; a failed import leaves the old file untouched.

The database's identity is a SHA-256 over every stored ``id`` and ``modified``: two databases
with the same identity answer every scan the same way. Scans record it in their reports.

Records are checked against the OSV schema's shape as they are imported
(:func:`~shipflow.scan._osv_source.record_problem`); a malformed one is skipped and reported
(``ImportResult.problems``) so that it cannot break a later scan. Reading is defensive too: a
malformed range already stored by an older shipflow is reported by the matcher, not raised.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipflow.errors import InfrastructureError
from shipflow.scan._ranges import ParsedEntry, parse_entry
from shipflow.scan.severity import Severity
from shipflow.timeutil import utc_timestamp

if TYPE_CHECKING:
    from shipflow.scan._osv_source import SourcedRecord

# What only an import needs (the OSV readers, filelock, tempfile: 30-60 ms of start-up, python
# -X importtime) is imported by import_paths; a scan only opens and reads.

SCHEMA_VERSION = "1"
IMPORT_HINT = "import advisories first: shipflow db import PATH... (OSV JSON/YAML files, directories or zips)"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS advisories (
    id TEXT PRIMARY KEY,
    modified TEXT NOT NULL,
    published TEXT,
    summary TEXT,
    aliases TEXT NOT NULL,
    severity TEXT NOT NULL,
    cvss_score REAL,
    cvss_vector TEXT,
    refs TEXT NOT NULL,
    source TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS affected (
    advisory_id TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS affected_by_package ON affected (ecosystem, name);
CREATE INDEX IF NOT EXISTS affected_by_advisory ON affected (advisory_id);
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY,
    imported_at TEXT NOT NULL,
    records INTEGER NOT NULL
);
"""


def default_db_path() -> Path:
    explicit = os.environ.get("SHIPFLOW_DB")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "shipflow" / "advisories.db"


def _now() -> str:
    return utc_timestamp()


@dataclass(frozen=True, slots=True)
class SourceInfo:
    path: str
    imported_at: str
    records: int


@dataclass(frozen=True, slots=True)
class DbInfo:
    """What ``db status`` shows and what a scan report records about the database."""

    path: str
    identity: str
    advisories: int
    per_ecosystem: dict[str, int]
    last_import: str | None
    newest_modified: str | None
    sources: tuple[SourceInfo, ...] = ()

    def age_seconds(self, now: datetime | None = None) -> float | None:
        if not self.last_import:
            return None
        imported = datetime.strptime(self.last_import, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return ((now or datetime.now(UTC)) - imported).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "identity": self.identity,
            "advisories": self.advisories,
            "perEcosystem": dict(sorted(self.per_ecosystem.items())),
            "lastImport": self.last_import,
            "newestModified": self.newest_modified,
            "sources": [
                {"path": s.path, "importedAt": s.imported_at, "records": s.records} for s in self.sources
            ],
        }


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    updated: int
    unchanged: int
    withdrawn: int
    skipped: int  # not imported: withdrawn before we saw them, no package, or malformed
    info: DbInfo
    problems: tuple[str, ...] = ()  # one line per skipped record: where, which, why
    rejected: int = 0  # of ``skipped``: records without the OSV schema's shape


@dataclass(frozen=True, slots=True)
class Advisory:
    """The fields of a stored record a report needs."""

    id: str
    modified: str
    published: str | None
    summary: str | None
    aliases: tuple[str, ...]
    severity: Severity
    cvss_score: float | None
    cvss_vector: str | None
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AffectedEntry:
    advisory: Advisory
    ecosystem: str
    entry: Mapping[str, Any] = field(hash=False)
    parsed: ParsedEntry = field(hash=False, compare=False)


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        uri = f"file:{path}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def _counts(conn: sqlite3.Connection) -> tuple[int, dict[str, int]]:
    """(advisories, advisories per ecosystem), counted over the whole database."""
    per_ecosystem = {
        row["ecosystem"]: row["n"]
        for row in conn.execute(
            "SELECT ecosystem, COUNT(DISTINCT advisory_id) AS n FROM affected GROUP BY ecosystem"
        )
    }
    count = conn.execute("SELECT COUNT(*) FROM advisories").fetchone()[0]
    return int(count), per_ecosystem


def _stored_counts(meta: Mapping[str, str]) -> tuple[int, dict[str, int]] | None:
    """The counts the last import stored in ``meta``; None when absent or unusable (a database
    written by an older shipflow)."""
    try:
        count = int(meta["advisories"])
        per_ecosystem = json.loads(meta["per_ecosystem"])
    except (KeyError, ValueError, TypeError, RecursionError):
        return None
    if not isinstance(per_ecosystem, dict) or not all(
        isinstance(k, str) and type(v) is int for k, v in per_ecosystem.items()
    ):
        return None
    return count, per_ecosystem


def _info(conn: sqlite3.Connection, path: Path) -> DbInfo:
    meta = {row["key"]: row["value"] for row in conn.execute("SELECT key, value FROM meta")}
    # Counting on every open scans the whole affected table: 0.4 s for 50,000 advisories,
    # paid by every scan (measured, benchmarks/RESULTS.md). The import stores the counts; they
    # change only with an import, which rewrites the file.
    stored = _stored_counts(meta)
    count, per_ecosystem = stored if stored is not None else _counts(conn)
    sources = tuple(
        SourceInfo(row["path"], row["imported_at"], row["records"])
        for row in conn.execute("SELECT path, imported_at, records FROM sources ORDER BY path")
    )
    return DbInfo(
        path=str(path),
        identity=meta.get("identity", ""),
        advisories=int(count),
        per_ecosystem=per_ecosystem,
        last_import=meta.get("last_import"),
        newest_modified=meta.get("newest_modified"),
        sources=sources,
    )


def _identity(conn: sqlite3.Connection) -> str:
    digest = hashlib.sha256()
    for row in conn.execute("SELECT id, modified FROM advisories ORDER BY id"):
        digest.update(f"{row[0]}\0{row[1]}\n".encode())
    return "sha256:" + digest.hexdigest()


def _entry_payload(entry: Mapping[str, Any]) -> str:
    # Only what matching needs; the full record is stored once per advisory.
    keep = {k: entry[k] for k in ("ranges", "versions") if k in entry}
    return json.dumps(keep, separators=(",", ":"), sort_keys=True)


def _references(record: Mapping[str, Any]) -> list[str]:
    refs = []
    for ref in record.get("references") or ():
        if isinstance(ref, Mapping) and isinstance(ref.get("url"), str):
            refs.append(ref["url"])
    return refs


class _Importer:
    def __init__(self, conn: sqlite3.Connection) -> None:
        from shipflow.scan._ecosystems import normalise_name
        from shipflow.scan._osv_source import record_problem
        from shipflow.scan.severity import rate

        self._normalise_name, self._record_problem, self._rate = normalise_name, record_problem, rate
        self.conn = conn
        self.added = self.updated = self.unchanged = self.withdrawn = self.skipped = self.rejected = 0
        self.problems: list[str] = []

    def add(self, item: SourcedRecord) -> None:
        record = item.record
        advisory_id = str(record["id"])
        problem = self._record_problem(record)
        if problem is not None:
            self.skipped += 1
            self.rejected += 1
            self.problems.append(
                f"{item.origin}: {advisory_id[:200]} is not a valid OSV record ({problem}); skipped"
            )
            return
        modified = _timestamp_text(record.get("modified"))
        existing = self.conn.execute(
            "SELECT modified FROM advisories WHERE id = ?", (advisory_id,)
        ).fetchone()
        if record.get("withdrawn"):
            if existing is not None:
                self._delete(advisory_id)
                self.withdrawn += 1
            else:
                self.skipped += 1
            return
        if existing is not None and existing["modified"] >= modified:
            self.unchanged += 1
            return
        entries = []
        for affected in record.get("affected") or ():
            package = affected.get("package") if isinstance(affected, Mapping) else None
            if not isinstance(package, Mapping):
                continue
            ecosystem, name = package.get("ecosystem"), package.get("name")
            if isinstance(ecosystem, str) and isinstance(name, str) and ecosystem and name:
                entries.append((ecosystem, self._normalise_name(ecosystem, name), _entry_payload(affected)))
        if not entries:
            self.skipped += 1
            self.problems.append(f"{item.origin}: {advisory_id} names no package; not imported")
            return
        severity, score, vector = self._rate(record)
        aliases = [a for a in record.get("aliases") or () if isinstance(a, str)]
        aliases += [a for a in record.get("upstream") or () if isinstance(a, str) and a not in aliases]
        if existing is not None:
            self._delete(advisory_id)
            self.updated += 1
        else:
            self.added += 1
        self.conn.execute(
            "INSERT INTO advisories (id, modified, published, summary, aliases, severity, cvss_score,"
            " cvss_vector, refs, source, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                advisory_id,
                modified,
                record.get("published"),
                record.get("summary") or _first_line(record.get("details")),
                json.dumps(aliases),
                severity.name,
                score,
                vector,
                json.dumps(_references(record)[:5]),
                item.origin,
                json.dumps(record, separators=(",", ":"), default=str),
            ),
        )
        self.conn.executemany(
            "INSERT INTO affected (advisory_id, ecosystem, name, entry) VALUES (?, ?, ?, ?)",
            [(advisory_id, eco, name, payload) for eco, name, payload in entries],
        )

    def _delete(self, advisory_id: str) -> None:
        self.conn.execute("DELETE FROM affected WHERE advisory_id = ?", (advisory_id,))
        self.conn.execute("DELETE FROM advisories WHERE id = ?", (advisory_id,))


def _timestamp_text(value: Any) -> str:
    """``modified`` as stored and compared: RFC 3339 text (YAML may have made a datetime)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")
    return str(value or "")


def _write_error(target: Path, exc: OSError) -> InfrastructureError:
    """A failed write of the database: exit 3, the old database untouched."""
    hint = (
        "the disk is full: free some space and run the import again (the database was not changed)"
        if exc.errno == errno.ENOSPC
        else "check the directory's permissions and free space (the database was not changed)"
    )
    return InfrastructureError(
        f"cannot write the advisory database {target}: {exc.strerror or exc}", hint=hint
    )


def _first_line(details: Any) -> str | None:
    if isinstance(details, str) and details.strip():
        # Records without a summary: the first sentence of the details stands in for one.
        line = details.strip().splitlines()[0].split(". ", 1)[0]
        return line if len(line) <= 120 else line[:117] + "..."
    return None


def import_paths(paths: Iterable[Path], db_path: Path | None = None) -> ImportResult:
    """Import OSV records from ``paths`` into the database at ``db_path`` (atomically)."""
    target = db_path or default_db_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InfrastructureError(f"cannot create {target.parent}: {exc}") from exc
    import tempfile

    from filelock import FileLock

    lock = FileLock(str(target) + ".lock")
    try:
        lock.acquire()
        fd, tmp_name = tempfile.mkstemp(prefix=".advisories-", suffix=".db", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        if lock.is_locked:
            lock.release()
        raise _write_error(target, exc) from exc
    tmp = Path(tmp_name)
    try:
        result = _import_into_copy(list(paths), target, tmp)
        os.replace(tmp, target)
    except sqlite3.DatabaseError as exc:
        if "full" in str(exc):  # SQLITE_FULL: "database or disk is full"
            raise _write_error(target, OSError(errno.ENOSPC, "No space left on device")) from exc
        raise InfrastructureError(
            f"advisory database {target} is unreadable: {exc}",
            hint=f"remove {target} and import again",
        ) from exc
    except OSError as exc:  # the rename (read errors of the inputs are usage errors, raised above)
        raise _write_error(target, exc) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        lock.release()
    return ImportResult(
        result.added,
        result.updated,
        result.unchanged,
        result.withdrawn,
        result.skipped,
        _read_info(target),
        result.problems,
        result.rejected,
    )


def _import_into_copy(paths: list[Path], target: Path, tmp: Path) -> ImportResult:
    from shipflow.scan._osv_source import read_records

    conn = _connect(tmp, readonly=False)
    try:
        if target.exists():
            source = _connect(target, readonly=True)
            try:
                source.backup(conn)
            finally:
                source.close()
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is None or version[0] != SCHEMA_VERSION:
                raise sqlite3.DatabaseError("not a shipflow advisory database (schema version mismatch)")
        conn.executescript(_SCHEMA)
        conn.execute("BEGIN")
        importer = _Importer(conn)
        for path in paths:
            count = 0
            for item in read_records(path):
                importer.add(item)
                count += 1
            conn.execute(
                "INSERT OR REPLACE INTO sources (path, imported_at, records) VALUES (?, ?, ?)",
                (str(path.resolve()), _now(), count),
            )
        newest = conn.execute("SELECT MAX(modified) FROM advisories").fetchone()[0]
        count, per_ecosystem = _counts(conn)
        meta = {
            "schema_version": SCHEMA_VERSION,
            "last_import": _now(),
            "newest_modified": newest or "",
            "identity": _identity(conn),
            "advisories": str(count),
            "per_ecosystem": json.dumps(per_ecosystem, sort_keys=True),
        }
        conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(meta.items()))
        conn.execute("COMMIT")
        return ImportResult(
            importer.added,
            importer.updated,
            importer.unchanged,
            importer.withdrawn,
            importer.skipped,
            _info(conn, target),
            tuple(importer.problems),
            importer.rejected,
        )
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


def _read_info(path: Path) -> DbInfo:
    with contextlib.closing(AdvisoryDB.open(path)) as db:
        return db.info


class AdvisoryDB:
    """A read-only view of an imported database, for matching."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self.info = _info(conn, path)
        self._advisories: dict[str, Advisory] = {}
        self._entries: dict[tuple[str, str], list[AffectedEntry]] = {}

    @classmethod
    def open(cls, path: Path | None = None) -> AdvisoryDB:
        target = path or default_db_path()
        if not target.is_file():
            raise InfrastructureError(f"no advisory database at {target}", hint=IMPORT_HINT)
        try:
            conn = _connect(target, readonly=True)
            version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is None or version[0] != SCHEMA_VERSION:
                conn.close()
                raise InfrastructureError(
                    f"{target} is not a shipflow advisory database (schema {version[0] if version else '?'})",
                    hint=f"remove it and {IMPORT_HINT}",
                )
            return cls(conn, target)
        except sqlite3.DatabaseError as exc:
            raise InfrastructureError(
                f"advisory database {target} is unreadable: {exc}", hint=f"remove it and {IMPORT_HINT}"
            ) from exc

    def close(self) -> None:
        self._conn.close()

    _SELECT = (
        "SELECT f.ecosystem, f.name, f.advisory_id, f.entry, a.modified, a.published, a.summary, a.aliases,"
        " a.severity, a.cvss_score, a.cvss_vector, a.refs FROM affected AS f"
        " JOIN advisories AS a ON a.id = f.advisory_id"
    )

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        """Load the entries of many (ecosystem, name) pairs in a few queries instead of one each."""
        wanted: dict[str, list[str]] = {}
        for ecosystem, name in set(keys):
            if (ecosystem, name) not in self._entries:
                wanted.setdefault(ecosystem, []).append(name)
                self._entries[(ecosystem, name)] = []
        for ecosystem, names in wanted.items():
            for start in range(0, len(names), 500):
                chunk = names[start : start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"{self._SELECT} WHERE f.ecosystem = ? AND f.name IN ({marks})"
                for row in self._rows(query, (ecosystem, *chunk)):
                    self._entries[(row["ecosystem"], row["name"])].append(self._entry(row))

    def lookup(self, ecosystem: str, name: str) -> list[AffectedEntry]:
        """Every stored ``affected`` entry for the (ecosystem, normalised name) pair."""
        key = (ecosystem, name)
        cached = self._entries.get(key)
        if cached is None:
            query = f"{self._SELECT} WHERE f.ecosystem = ? AND f.name = ?"
            cached = [self._entry(row) for row in self._rows(query, key)]
            self._entries[key] = cached
        return cached

    def _rows(self, query: str, params: tuple[str, ...]) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(query, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise InfrastructureError(
                f"advisory database {self.path} is unreadable: {exc}", hint=f"remove it and {IMPORT_HINT}"
            ) from exc

    def _entry(self, row: sqlite3.Row) -> AffectedEntry:
        advisory = self._advisories.get(row["advisory_id"])
        if advisory is None:
            try:
                advisory = Advisory(
                    id=str(row["advisory_id"]),
                    modified=row["modified"],
                    published=row["published"],
                    summary=row["summary"],
                    aliases=tuple(str(a) for a in json.loads(row["aliases"])),
                    severity=Severity[row["severity"]],
                    cvss_score=row["cvss_score"],
                    cvss_vector=row["cvss_vector"],
                    references=tuple(str(r) for r in json.loads(row["refs"])),
                )
            except (ValueError, TypeError, KeyError, RecursionError) as exc:
                name = str(row["advisory_id"])[:80]
                raise InfrastructureError(
                    f"advisory database {self.path}: advisory {name} is corrupt ({exc})",
                    hint=f"remove it and {IMPORT_HINT}",
                ) from exc
            self._advisories[advisory.id] = advisory
        try:
            entry: Any = json.loads(row["entry"])
        except (ValueError, TypeError, RecursionError):
            entry = None  # not JSON: parse_entry reports it as malformed
        parsed = parse_entry(entry, label=advisory.id)
        return AffectedEntry(advisory, row["ecosystem"], entry if isinstance(entry, Mapping) else {}, parsed)

    def record(self, advisory_id: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT record FROM advisories WHERE id = ?", (advisory_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))
