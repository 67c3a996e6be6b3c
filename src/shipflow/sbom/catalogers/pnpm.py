"""``pnpm-lock.yaml``, lockfile versions 5.x (pnpm 6 and 7), 6.x (pnpm 8) and 9.x (pnpm 9+).

The ``packages`` map is keyed by the resolved package, in a syntax that changed with each
version:

* 5.x: ``/name/1.2.3``, ``/@scope/name/1.2.3``, peer sets after ``_`` (``/a/1.0.0_b@2.0.0``);
* 6.x: ``/name@1.2.3``, peer sets in parentheses (``/a@1.0.0(b@2.0.0)``);
* 9.x: ``name@1.2.3`` in ``packages``; the dependency graph moved to ``snapshots``, whose keys
  carry the peer sets.

Keys without the registry form (git, tarball URLs, ``file:``/``link:``) are not in the npm
registry and are skipped. Projects are ``importers`` (the top level for a single project in
5.x/6.x) with ``dependencies``, ``optionalDependencies`` and ``devDependencies``.

Dev dependencies: 5.x and 6.x write ``dev: true`` on packages only ``devDependencies`` reach
(``dev: false`` for the others). 9.x dropped the flag, so the graph is walked from the
importers: a package is dev when only ``devDependencies`` reach it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.lockfiles import in_dependency_dir
from shipflow.sbom.catalogers.packages import npm_package
from shipflow.sbom.catalogers.parsing import Unreadable, dev_only, load_lock_yaml, mapping
from shipflow.sbom.model import Distro, Location
from shipflow.sbom.source import FileSource

_PLAIN_VERSION = re.compile(r"^[0-9][^:/\s()]*$")
_PROD_FIELDS = ("dependencies", "optionalDependencies")


@dataclass
class Snapshot:
    name: str
    version: str
    dependencies: dict[str, str] = field(default_factory=dict)
    dev: bool | None = None  # as the lock file says (5.x/6.x), None when it does not


def _major(doc: dict[str, Any]) -> int:
    raw = doc.get("lockfileVersion")
    try:
        return int(str(raw).split(".", 1)[0])
    except ValueError:
        raise Unreadable(f"lockfileVersion {raw!r} is not a number") from None


def _strip_peers(text: str) -> str:
    paren = text.find("(")
    return text[:paren] if paren > 0 else text


def split_name_version(spec: str) -> tuple[str, str]:
    """``@scope/name@1.2.3`` -> (``@scope/name``, ``1.2.3``)."""
    at = spec.find("@", 1)
    return (spec[:at], spec[at + 1 :]) if at > 0 else (spec, "")


def parse_key(key: str, major: int) -> tuple[str, str] | None:
    """(name, version) of a ``packages``/``snapshots`` key, None when it is not a registry
    package of that lockfile version's syntax."""
    if major >= 9:
        name, version = split_name_version(_strip_peers(key))
    elif not key.startswith("/"):
        return None  # git, tarball and registry-host keys
    elif major >= 6:
        name, version = split_name_version(_strip_peers(key[1:]))
    else:
        parts = key[1:].split("/")
        if parts[0].startswith("@") and len(parts) == 3:
            name, version = f"{parts[0]}/{parts[1]}", parts[2]
        elif len(parts) == 2:
            name, version = parts
        else:
            return None
        version = version.split("_", 1)[0]
    if not name or not _PLAIN_VERSION.match(version):
        return None
    return name, version


def reference_key(name: str, reference: str, major: int) -> str:
    """The key a dependency reference points at: ``4.18.2`` (of ``name``), an alias
    (``string-width@4.2.3``, ``/string-width@4.2.3``, ``/string-width/4.2.3``), or a key as is."""
    if reference.startswith("/"):
        return reference if major < 9 else reference[1:]
    if major >= 9:
        if "@" in reference[1:] and not reference[0].isdigit():
            return reference  # an alias: name@version of the package installed
        return f"{name}@{reference}"
    return f"/{name}@{reference}" if major >= 6 else f"/{name}/{reference}"


def _references(entry: dict[str, Any], fields: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    for field_name in fields:
        for dep_name, value in mapping(entry.get(field_name)).items():
            if isinstance(value, dict):  # 6.x/9.x importers: {specifier, version}
                value = value.get("version")
            if isinstance(value, (str, int, float)):
                yield dep_name, str(value)


def _importers(doc: dict[str, Any], major: int) -> list[dict[str, Any]]:
    importers = mapping(doc.get("importers"))
    if importers:
        return [mapping(v) for v in importers.values()]
    return [doc] if major < 9 else []


def parse(doc: dict[str, Any]) -> tuple[dict[str, Snapshot], set[str]]:
    """The registry packages by key, and the keys only dev dependencies reach."""
    major = _major(doc)
    if major not in (5, 6, 9):
        raise Unreadable(
            f"lockfileVersion {doc.get('lockfileVersion')!r} is not one shipflow reads (5.x, 6.x, 9.x)"
        )
    graph_source = mapping(doc.get("packages"))
    if major >= 9 and "snapshots" in doc:
        graph_source = mapping(doc.get("snapshots"))
    snapshots: dict[str, Snapshot] = {}
    for key, value in graph_source.items():
        parsed = parse_key(key, major)
        entry = mapping(value)
        if parsed is None:
            continue
        deps = dict(_references(entry, _PROD_FIELDS))
        flag = entry.get("dev")
        snapshots[key] = Snapshot(*parsed, dependencies=deps, dev=flag if isinstance(flag, bool) else None)

    def edges(key: str) -> Iterator[str]:
        snapshot = snapshots.get(key)
        if snapshot is not None:
            for dep_name, reference in snapshot.dependencies.items():
                yield reference_key(dep_name, reference, major)

    def roots(fields: tuple[str, ...]) -> list[str]:
        return [
            reference_key(dep_name, reference, major)
            for importer in _importers(doc, major)
            for dep_name, reference in _references(importer, fields)
        ]

    if snapshots and all(s.dev is not None for s in snapshots.values()):
        dev = {key for key, s in snapshots.items() if s.dev}
    else:
        dev = dev_only(roots(_PROD_FIELDS), roots(("devDependencies",)), edges)
    return snapshots, dev


class PnpmLockCataloger:
    name = "pnpm-lock"
    wanted_names = frozenset({"pnpm-lock.yaml"})

    def __init__(self, *, include_dev: bool = True) -> None:
        self.include_dev = include_dev

    def wants(self, path: str) -> bool:
        return posixpath.basename(path) == "pnpm-lock.yaml" and not in_dependency_dir(path)

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        for found in source.find(self.wants):
            try:
                doc = load_lock_yaml(found.data)
                if not isinstance(doc, dict):
                    raise Unreadable("not a YAML mapping")
                snapshots, dev = parse(doc)
            except Unreadable as exc:
                result.skip(found.location, self.name, str(exc))
                continue
            self._emit(snapshots, dev, found.location, result)
        return result

    def _emit(
        self, snapshots: dict[str, Snapshot], dev: set[str], location: Location, result: Cataloged
    ) -> None:
        # 9.x snapshots of one package differ by peer set: a package is dev when all are.
        packages: dict[tuple[str, str], bool] = {}
        for key, snapshot in snapshots.items():
            ident = (snapshot.name, snapshot.version)
            packages[ident] = packages.get(ident, True) and key in dev
        for (name, version), is_dev in sorted(packages.items()):
            if is_dev and not self.include_dev:
                continue
            result.packages.append(npm_package(name, version, location, dev=is_dev))
