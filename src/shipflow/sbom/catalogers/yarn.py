"""``yarn.lock``: yarn classic (v1, its own indented format) and berry (yarn 2+, YAML).

Classic entries are keyed by one or more comma-separated ``name@range`` descriptors and hold
``version``, ``resolved`` and nested ``dependencies``/``optionalDependencies`` blocks. Berry
entries are keyed by descriptors with a protocol (``name@npm:^1.0.0``) and hold ``version``,
``resolution`` (``name@npm:1.2.3``), ``dependencies`` and ``linkType``; ``__metadata``
carries the format version. An alias (``string-width-cjs@npm:string-width@^4``) installs the
package after ``npm:``, so that is the name cataloged.

Only registry packages are cataloged: workspaces, ``link:``/``portal:``/``file:`` packages,
git and tarball-URL dependencies are not in the npm registry, so advisories cannot name them.
A berry ``patch:`` of a registry package is that package.

The lock file does not say which packages are dev dependencies; the ``package.json`` beside
it does. When it is there, packages reachable only from its ``devDependencies`` are dev;
without it no package is marked.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.lockfiles import in_dependency_dir
from shipflow.sbom.catalogers.packages import npm_package
from shipflow.sbom.catalogers.parsing import (
    Unreadable,
    dev_only,
    load_json_object,
    load_lock_yaml,
    mapping,
    text,
)
from shipflow.sbom.model import Distro, Location
from shipflow.sbom.source import FileSource

_PLAIN_VERSION = re.compile(r"^[0-9][^:/\s]*$")
# Protocols of descriptors and resolutions that are not the npm registry.
_NON_REGISTRY = ("workspace:", "link:", "portal:", "file:", "exec:", "git", "http:", "https:", "github:")
_BERRY_MARKER = "__metadata:"
_V1_MARKER = "# yarn lockfile v1"
# The package.json roots whose dependencies are production ones.
_PROD_FIELDS = ("dependencies", "optionalDependencies", "peerDependencies")


@dataclass
class Entry:
    """One lock entry: the descriptors that resolve to it and what it resolved to."""

    descriptors: list[str]
    name: str
    version: str
    registry: bool
    dependencies: dict[str, str] = field(default_factory=dict)


def split_descriptor(descriptor: str) -> tuple[str, str]:
    """``@scope/name@range`` -> (``@scope/name``, ``range``)."""
    at = descriptor.find("@", 1)
    if at < 0:
        return descriptor, ""
    return descriptor[:at], descriptor[at + 1 :]


def _target(name: str, spec: str) -> tuple[str, str]:
    """What a dependency spec installs: an ``npm:other@range`` alias names another package."""
    if spec.startswith("npm:"):
        rest = spec[4:]
        if "@" in rest[1:]:
            return split_descriptor(rest)
        return name, rest
    return name, spec


# -- yarn classic --------------------------------------------------------------------------


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def _split_keys(line: str) -> list[str]:
    keys: list[str] = []
    for part in line.rstrip(":").split(","):
        part = _unquote(part)
        if part:
            keys.append(part)
    return keys


def _split_field(line: str) -> tuple[str, str]:
    """``name "value"`` or ``"@scope/name" value`` -> (name, value)."""
    line = line.strip()
    if line.startswith('"'):
        end = line.find('"', 1)
        while end > 0 and line[end - 1] == "\\":
            end = line.find('"', end + 1)
        if end < 0:
            raise Unreadable(f"unterminated quoted key: {line[:80]!r}")
        return line[1:end], _unquote(line[end + 1 :])
    key, _, value = line.partition(" ")
    return key, _unquote(value)


def parse_v1(data: bytes) -> list[Entry]:
    entries: list[Entry] = []
    current: dict[str, Any] | None = None
    keys: list[str] = []
    block: str | None = None
    for number, raw in enumerate(text(data).splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        if indent == 0:
            if current is not None:
                entries.append(_v1_entry(keys, current))
            if not line.endswith(":"):
                raise Unreadable(f"line {number}: expected 'descriptor:' at the start of an entry")
            keys, current, block = _split_keys(line), {}, None
        elif current is None:
            raise Unreadable(f"line {number}: indented line outside an entry")
        elif indent == 2:
            if line.endswith(":"):
                block = _unquote(line[:-1])
                current[block] = {}
            else:
                key, value = _split_field(line)
                current[key], block = value, None
        elif indent >= 4 and block is not None:
            key, value = _split_field(line)
            current[block][key] = value
        else:
            raise Unreadable(f"line {number}: unexpected indentation")
    if current is not None:
        entries.append(_v1_entry(keys, current))
    return entries


def _v1_entry(keys: list[str], fields: dict[str, Any]) -> Entry:
    name, spec = _target(*split_descriptor(keys[0])) if keys else ("", "")
    version = fields.get("version")
    resolved = fields.get("resolved", "")
    registry = (
        isinstance(version, str)
        and _PLAIN_VERSION.match(version) is not None
        and not any(spec.startswith(p) for p in _NON_REGISTRY)
        and (not resolved or (".tgz" in resolved and "/-/" in resolved))
    )
    deps: dict[str, str] = {}
    for block in ("dependencies", "optionalDependencies"):
        deps.update(mapping(fields.get(block)))
    return Entry(keys, name, version if isinstance(version, str) else "", bool(registry), deps)


# -- yarn berry ----------------------------------------------------------------------------


def _berry_resolution(resolution: str) -> tuple[str, str] | None:
    """``name@npm:1.2.3`` -> (name, version); a patch of a registry package is that package;
    None for any other protocol."""
    name, ref = split_descriptor(resolution)
    if ref.startswith("patch:"):
        inner = unquote(ref[len("patch:") :].split("#", 1)[0])
        name, ref = split_descriptor(inner)
    if ref.startswith("npm:"):
        return name, ref[4:]
    return None


def parse_berry(data: bytes) -> list[Entry]:
    doc = load_lock_yaml(data)
    if not isinstance(doc, dict):
        raise Unreadable("not a YAML mapping of lock entries")
    metadata = mapping(doc.get("__metadata"))
    if "version" not in metadata:
        raise Unreadable("no __metadata.version")
    entries: list[Entry] = []
    for key, value in doc.items():
        if key == "__metadata" or not isinstance(key, str) or not isinstance(value, dict):
            continue
        resolution = value.get("resolution")
        version = value.get("version")
        if not isinstance(resolution, str) or not isinstance(version, (str, int, float)):
            continue
        version = str(version)
        resolved = _berry_resolution(resolution)
        descriptors = [d.strip() for d in key.split(",") if d.strip()]
        deps = {str(k): str(v) for k, v in mapping(value.get("dependencies")).items()}
        if resolved is None:
            name = split_descriptor(resolution)[0]
            entries.append(Entry(descriptors, name, version, False, deps))
        else:
            name, resolved_version = resolved
            registry = _PLAIN_VERSION.match(resolved_version) is not None
            entries.append(Entry(descriptors, name, resolved_version, registry, deps))
    return entries


# -- dev dependencies from package.json ----------------------------------------------------


def _normalise_descriptor(name: str, spec: str, berry: bool) -> str:
    """The lock key a package.json dependency (or a lock entry's dependency) resolves by."""
    if berry and not any(spec.startswith(p) for p in ("npm:", "patch:", *_NON_REGISTRY)):
        spec = f"npm:{spec}"
    return f"{name}@{spec}"


def dev_entries(entries: list[Entry], manifest: dict[str, Any], berry: bool) -> set[int]:
    """Indexes of the entries only ``devDependencies`` reach."""
    by_descriptor: dict[str, int] = {}
    for index, entry in enumerate(entries):
        for descriptor in entry.descriptors:
            by_descriptor[descriptor] = index

    def lookup(name: str, spec: str) -> Iterator[int]:
        found = by_descriptor.get(_normalise_descriptor(name, spec, berry))
        if found is not None:
            yield found

    def edges(index: int) -> Iterator[int]:
        for dep_name, spec in entries[index].dependencies.items():
            yield from lookup(dep_name, spec)

    def roots(fields: tuple[str, ...]) -> list[int]:
        found: list[int] = []
        for name_field in fields:
            for dep_name, spec in mapping(manifest.get(name_field)).items():
                if isinstance(spec, str):
                    found.extend(lookup(dep_name, spec))
        return found

    return dev_only(roots(_PROD_FIELDS), roots(("devDependencies",)), edges)


class YarnLockCataloger:
    name = "yarn-lock"
    wanted_names = frozenset({"yarn.lock", "package.json"})

    def __init__(self, *, include_dev: bool = True) -> None:
        self.include_dev = include_dev

    def wants(self, path: str) -> bool:
        # The project's package.json too: it says which dependencies are dev ones.
        return posixpath.basename(path) in ("yarn.lock", "package.json") and not in_dependency_dir(path)

    @staticmethod
    def _is_lock(path: str) -> bool:
        return posixpath.basename(path) == "yarn.lock" and not in_dependency_dir(path)

    def _manifest(self, source: FileSource, lock_path: str) -> dict[str, Any] | None:
        directory = posixpath.dirname(lock_path)
        found = source.read(posixpath.join(directory, "package.json") if directory else "package.json")
        if found is None:
            return None
        try:
            return load_json_object(found.data)
        except Unreadable:
            return None

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        for found in source.find(self._is_lock):
            head = found.data[:4096].decode("utf-8", "replace")
            berry = _BERRY_MARKER in head
            try:
                if not berry and _V1_MARKER not in head and found.data.strip():
                    raise Unreadable("neither a yarn v1 lock file nor a yarn berry (__metadata) one")
                entries = parse_berry(found.data) if berry else parse_v1(found.data)
            except Unreadable as exc:
                result.skip(found.location, self.name, str(exc))
                continue
            manifest = self._manifest(source, found.path)
            dev = dev_entries(entries, manifest, berry) if manifest is not None else set()
            self._emit(entries, dev, found.location, result)
        return result

    def _emit(self, entries: list[Entry], dev: set[int], location: Location, result: Cataloged) -> None:
        for index, entry in enumerate(entries):
            if not entry.registry or not entry.name or not entry.version:
                continue
            is_dev = index in dev
            if is_dev and not self.include_dev:
                continue
            result.packages.append(npm_package(entry.name, entry.version, location, dev=is_dev))
