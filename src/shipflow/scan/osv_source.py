"""Read OSV records from what users hand to ``shipflow db import``.

Files (``.json``, ``.yaml``, ``.yml``), directories (walked recursively) and zip archives as
osv.dev publishes them per ecosystem (``npm/all.zip``). A JSON file may hold one record or a
list of them. Every parse failure names the file (and archive member) it came from.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shipflow.errors import ConfigError

_SUFFIXES = (".json", ".yaml", ".yml")
# A single OSV record is kilobytes; anything this large is not one.
MAX_RECORD_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SourcedRecord:
    record: Mapping[str, Any]
    origin: str  # "path" or "archive.zip!member" — for messages and `db status`
    source: str  # the path the user named


def _decode(data: bytes, name: str, origin: str) -> list[Mapping[str, Any]]:
    try:
        if name.endswith(".json"):
            loaded: Any = json.loads(data)
        else:
            loaded = yaml.safe_load(data)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{origin} is not valid {'JSON' if name.endswith('.json') else 'YAML'}: {exc}",
            hint="import OSV records as published (osv.dev zips, advisory-database JSON/YAML)",
        ) from exc
    records = loaded if isinstance(loaded, list) else [loaded]
    for record in records:
        if not isinstance(record, Mapping) or not isinstance(record.get("id"), str):
            raise ConfigError(
                f"{origin} does not look like an OSV record (no string 'id')",
                hint="each file must hold an OSV record object or a list of them",
            )
    return records


def _from_zip(path: Path) -> Iterator[SourcedRecord]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ConfigError(f"{path} is not a readable zip archive: {exc}") from exc
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.endswith(_SUFFIXES):
                continue
            origin = f"{path}!{info.filename}"
            if info.file_size > MAX_RECORD_BYTES:
                raise ConfigError(f"{origin} is {info.file_size} bytes, too large for an OSV record")
            try:
                data = archive.read(info)
            except (zipfile.BadZipFile, OSError) as exc:
                raise ConfigError(f"cannot read {origin}: {exc}") from exc
            for record in _decode(data, info.filename, origin):
                yield SourcedRecord(record, origin, str(path))


def _from_file(path: Path, source: str) -> Iterator[SourcedRecord]:
    if path.stat().st_size > MAX_RECORD_BYTES and path.suffix != ".json":
        raise ConfigError(f"{path} is too large for an OSV record")
    for record in _decode(path.read_bytes(), path.name, str(path)):
        yield SourcedRecord(record, str(path), source)


def read_records(path: Path) -> Iterator[SourcedRecord]:
    """Every OSV record under ``path`` (file, directory or zip), in a stable order."""
    if not path.exists():
        raise ConfigError(f"{path} does not exist", hint="give OSV files, directories or zip archives")
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
        raise ConfigError(f"{path}: not a .json, .yaml, .yml or .zip file")
    yield from _from_file(path, str(path))
