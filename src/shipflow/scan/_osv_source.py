"""Read OSV records from what users hand to ``shipflow db import``.

Files (``.json``, ``.yaml``, ``.yml``), directories (walked recursively) and zip archives as
osv.dev publishes them per ecosystem (``npm/all.zip``). A JSON file may hold one record or a
list of them. Every parse failure names the file (and archive member) it came from.

Everything is bounded: a record file or archive member is at most :data:`MAX_RECORD_BYTES`
(YAML :data:`MAX_YAML_RECORD_BYTES`, a JSON list file :data:`MAX_FILE_BYTES`), an archive expands to at most
:data:`MAX_ARCHIVE_BYTES` over at most :data:`MAX_ARCHIVE_MEMBERS` members (counted on the
bytes really inflated, not on what the zip directory claims), and documents nest at most
:data:`~shipflow.signing.jsondoc.MAX_DEPTH` levels.

Two kinds of failure, two treatments:

* bytes that are not a document (not JSON/YAML, too big, too deep, not an object with an
  ``id``) fail the whole import: it is all or nothing, and nobody knows what such a file held;
* a record that parses but does not have the OSV schema's shape (:func:`record_problem`:
  ``"events": "introduced"``, a range type that does not exist, a version that is a number)
  is skipped and reported with the reason, so one bad record never breaks the database or a
  later scan.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from shipflow.errors import ConfigError
from shipflow.fsutil import read_capped
from shipflow.signing.jsondoc import parse_json, parse_yaml

_SUFFIXES = (".json", ".yaml", ".yml")
# A single OSV record is kilobytes (the largest osv.dev publishes, Linux kernel records with
# thousands of versions, are a few MB); anything this large is not one.
MAX_RECORD_BYTES = 32 * 1024 * 1024
# YAML is parsed ~10x slower than JSON; the PyPA database's YAML records are a few KB.
MAX_YAML_RECORD_BYTES = 4 * 1024 * 1024
# A JSON file holding a list of records (an export of a whole ecosystem).
MAX_FILE_BYTES = 1024 * 1024 * 1024
# osv.dev's largest per-ecosystem all.zip expands to a few GB.
MAX_ARCHIVE_BYTES = 16 * 1024 * 1024 * 1024
MAX_ARCHIVE_MEMBERS = 2_000_000

_HINT = "import OSV records as published (osv.dev zips, advisory-database JSON/YAML)"


@dataclass(frozen=True, slots=True)
class SourcedRecord:
    record: Mapping[str, Any]
    origin: str  # "path" or "archive.zip!member" — for messages and `db status`
    source: str  # the path the user named


def _decode(data: bytes, name: str, origin: str) -> list[Mapping[str, Any]]:
    if name.endswith(".json"):
        loaded: Any = parse_json(data, what=origin, error=ConfigError, hint=_HINT)
    else:
        loaded = parse_yaml(data, what=origin, error=ConfigError, hint=_HINT)
    records = loaded if isinstance(loaded, list) else [loaded]
    for record in records:
        if not isinstance(record, Mapping) or not isinstance(record.get("id"), str):
            raise ConfigError(
                f"{origin} does not look like an OSV record (no string 'id')",
                hint="each file must hold an OSV record object or a list of them",
            )
    return records


def _describe(path: Path) -> str:
    """What the bytes of a file that should be a zip are, for the error message."""
    from shipflow.sbom.layers import describe_magic

    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError:
        return ""
    kind = describe_magic(head)
    return f" (this is {kind}, not a zip archive)" if kind and kind != "a zip archive" else ""


def _from_zip(path: Path) -> Iterator[SourcedRecord]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a readable zip archive{_describe(path)}: {exc}") from exc
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ARCHIVE_MEMBERS:
            raise ConfigError(f"{path} has {len(members)} members, more than {MAX_ARCHIVE_MEMBERS}")
        total = 0
        for info in members:
            if info.is_dir() or not info.filename.endswith(_SUFFIXES):
                continue
            origin = f"{path}!{info.filename}"
            data = _read_member(archive, info, origin)
            total += len(data)
            if total > MAX_ARCHIVE_BYTES:
                raise ConfigError(
                    f"{path} expands to more than {MAX_ARCHIVE_BYTES} bytes (a zip bomb?)",
                    hint="import the archive osv.dev publishes, or split it",
                )
            for record in _decode(data, info.filename, origin):
                yield SourcedRecord(record, origin, str(path))


def _record_limit(name: str) -> int:
    return MAX_RECORD_BYTES if name.endswith(".json") else MAX_YAML_RECORD_BYTES


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, origin: str) -> bytes:
    """One member's bytes, never more than the record limit inflated (whatever the zip's
    directory claims about its size)."""
    limit = _record_limit(info.filename)
    if info.file_size > limit:
        raise ConfigError(f"{origin} is {info.file_size} bytes, too large for an OSV record")
    try:
        with archive.open(info) as handle:
            data = handle.read(limit + 1)
    except Exception as exc:
        # One member read, and its failures are many: BadZipFile, zlib.error, lzma/bz2 errors,
        # RuntimeError for an encrypted member, NotImplementedError for an unknown compression.
        raise ConfigError(f"cannot read {origin}: {exc}") from exc
    if len(data) > limit:
        raise ConfigError(f"{origin} inflates to more than {limit} bytes, too large for an OSV record")
    return data


def _from_file(path: Path, source: str) -> Iterator[SourcedRecord]:
    limit = MAX_FILE_BYTES if path.suffix == ".json" else MAX_YAML_RECORD_BYTES
    data = read_capped(path, limit, what="OSV record file")
    for record in _decode(data, path.name, str(path)):
        yield SourcedRecord(record, str(path), source)


def read_records(path: Path) -> Iterator[SourcedRecord]:
    """Every OSV record under ``path`` (file, directory or zip), in a stable order."""
    if not path.exists():
        raise ConfigError(
            f"{path}: no such file or directory", hint="give OSV files, directories or zip archives"
        )
    if not path.is_dir() and not path.is_file():  # a FIFO would block the zip sniffing below
        raise ConfigError(
            f"{path} is not a regular file or directory", hint="give OSV files, directories or zips"
        )
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and child.suffix == ".zip":
                yield from _from_zip(child)
            elif child.is_file() and child.name.endswith(_SUFFIXES):
                yield from _from_file(child, str(path))
        return
    if path.suffix == ".zip" or zipfile.is_zipfile(path):
        yield from _from_zip(path)
        return
    if not path.name.endswith(_SUFFIXES):
        raise ConfigError(f"{path}: not a .json, .yaml, .yml or .zip file{_describe(path)}")
    yield from _from_file(path, str(path))


# --- the OSV schema's shape ---------------------------------------------------------------------

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")
_RANGE_TYPES = frozenset({"GIT", "SEMVER", "ECOSYSTEM"})
_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


class _Bad(Exception):
    """A shape violation; its text is the reason reported for the skipped record."""


def _string(value: Any, where: str, *, required: bool = False) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise _Bad(f"{where} must be a string, not {_type(value)}")


def _timestamp(value: Any, where: str, *, required: bool = False) -> None:
    if value is None and not required:
        return
    if isinstance(value, datetime | date):  # YAML reads unquoted timestamps as datetimes
        return
    _string(value, where, required=True)
    if not _RFC3339.match(value):
        raise _Bad(f"{where} must be an RFC 3339 timestamp, not {value[:40]!r}")


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(f"{where} must be a list, not {_type(value)}")
    return value


def _object(value: Any, where: str, *, required: bool = False) -> Mapping[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise _Bad(f"{where} must be an object, not {_type(value)}")
    return value


def _type(value: Any) -> str:
    return "missing" if value is None else type(value).__name__


def _severity(value: Any, where: str) -> None:
    for index, item in enumerate(_list(value, where)):
        entry = _object(item, f"{where}[{index}]", required=True)
        _string(entry.get("type"), f"{where}[{index}].type", required=True)
        _string(entry.get("score"), f"{where}[{index}].score", required=True)


def _range(raw: Any, where: str) -> None:
    item = _object(raw, where, required=True)
    kind = item.get("type")
    if not isinstance(kind, str) or kind not in _RANGE_TYPES:
        raise _Bad(f"{where}.type must be one of GIT, SEMVER, ECOSYSTEM, not {str(kind)[:40]!r}")
    _string(item.get("repo"), f"{where}.repo", required=kind == "GIT")
    events = item.get("events")
    if not isinstance(events, list) or not events:
        raise _Bad(f"{where}.events must be a non-empty list of events, not {_type(events)}")
    introduced = False
    for index, raw_event in enumerate(events):
        event = _object(raw_event, f"{where}.events[{index}]", required=True)
        present = [k for k in _EVENT_KINDS if k in event]
        if len(present) != 1:
            raise _Bad(f"{where}.events[{index}] must have exactly one of {', '.join(_EVENT_KINDS)}")
        _string(event[present[0]], f"{where}.events[{index}].{present[0]}", required=True)
        introduced = introduced or present[0] == "introduced"
    if not introduced:
        raise _Bad(f"{where}.events has no 'introduced' event")
    _object(item.get("database_specific"), f"{where}.database_specific")


def _affected(raw: Any, where: str) -> None:
    entry = _object(raw, where, required=True)
    package = _object(entry.get("package"), f"{where}.package")
    if package:
        _string(package.get("ecosystem"), f"{where}.package.ecosystem", required=True)
        _string(package.get("name"), f"{where}.package.name", required=True)
        _string(package.get("purl"), f"{where}.package.purl")
    _severity(entry.get("severity"), f"{where}.severity")
    for index, item in enumerate(_list(entry.get("ranges"), f"{where}.ranges")):
        _range(item, f"{where}.ranges[{index}]")
    for index, version in enumerate(_list(entry.get("versions"), f"{where}.versions")):
        _string(version, f"{where}.versions[{index}]", required=True)
    _object(entry.get("ecosystem_specific"), f"{where}.ecosystem_specific")
    _object(entry.get("database_specific"), f"{where}.database_specific")


def record_problem(record: Mapping[str, Any]) -> str | None:
    """Why ``record`` does not have the OSV schema's shape, or None when it does.

    Checked: the types and required fields of everything shipflow reads (id, modified,
    published, withdrawn, aliases, related, upstream, summary, details, severity, affected
    with its package, ranges, events and versions, references). Not checked: values the
    schema leaves open (new severity types, ecosystem names, reference types), so a record
    from a newer schema version still imports.
    """
    try:
        _string(record.get("id"), "id", required=True)
        if not record["id"].strip():
            raise _Bad("id must not be empty")
        _timestamp(record.get("modified"), "modified", required=True)
        _timestamp(record.get("published"), "published")
        _timestamp(record.get("withdrawn"), "withdrawn")
        for key in ("aliases", "upstream"):
            for index, alias in enumerate(_list(record.get(key), key)):
                _string(alias, f"{key}[{index}]", required=True)
        for index, related in enumerate(_list(record.get("related"), "related")):
            if not isinstance(related, str | Mapping):
                raise _Bad(f"related[{index}] must be a string or an object, not {_type(related)}")
        _string(record.get("summary"), "summary")
        _string(record.get("details"), "details")
        _severity(record.get("severity"), "severity")
        for index, entry in enumerate(_list(record.get("affected"), "affected")):
            _affected(entry, f"affected[{index}]")
        for index, item in enumerate(_list(record.get("references"), "references")):
            ref = _object(item, f"references[{index}]", required=True)
            _string(ref.get("url"), f"references[{index}].url", required=True)
            _string(ref.get("type"), f"references[{index}].type")
        _object(record.get("database_specific"), "database_specific")
    except _Bad as exc:
        return str(exc)
    return None
