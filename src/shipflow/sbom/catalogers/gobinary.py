"""Go executables: the modules a binary was built from, from its embedded build info.

Candidates are regular files with an execute bit (and ``*.exe``) whose first bytes are an
ELF, Mach-O or PE header; :mod:`shipflow.sbom.catalogers.executables` finds the build info.
The module lines (as ``go version -m`` prints them) give:

* the main module (``mod``), when it has a version (a VCS-stamped or tagged build; a plain
  ``go build`` says ``(devel)``, which no advisory can match);
* every dependency (``dep``), with its replacement (``=>``) applied: what was compiled is the
  replacement; a replacement by a local directory has no version and is skipped;
* the Go toolchain as the ``stdlib`` package (``go1.26.8`` -> ``v1.26.8``), which is how OSV
  names advisories of the standard library.

An executable over :data:`MAX_BINARY_BYTES` is not read into memory: it is scanned for the
build-info magic as it streams past, and a Go one is reported as not read.
"""

from __future__ import annotations

import json
import logging
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.executables import (
    MAGIC,
    ExecutableFormatError,
    is_executable_magic,
    read_build_info,
)
from shipflow.sbom.catalogers.packages import golang_package
from shipflow.sbom.model import Distro, Package
from shipflow.sbom.source import FileSource, Readable

log = logging.getLogger(__name__)

MAX_BINARY_BYTES = 256 * 1024**2
_MIN_BINARY_BYTES = 512
_CHUNK = 1024 * 1024
# A toolchain built with GOEXPERIMENT names its experiments after the version, with a space
# ("go1.22.1 X:boringcrypto") or, since Go 1.25, a dash ("go1.26.8-X:jsonv2"); the standard
# library's version (what advisories name) is the part before them.
_GO_VERSION = re.compile(r"^go(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(rc|beta)(\d+))?(?:-X:\S+)?$")


@dataclass
class Module:
    path: str
    version: str
    replace: Module | None = None


@dataclass
class BuildInfo:
    go_version: str
    main: Module | None = None
    deps: list[Module] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)


def parse_modinfo(go_version: str, modinfo: str) -> BuildInfo:
    """The ``path``/``mod``/``dep``/``=>``/``build`` lines of Go's module info."""
    info = BuildInfo(go_version=go_version)
    last: Module | None = None
    for line in modinfo.splitlines():
        fields = line.split("\t")
        kind = fields[0]
        if kind in ("mod", "dep") and len(fields) >= 3:
            last = Module(fields[1], fields[2])
            if kind == "mod":
                info.main = last
            else:
                info.deps.append(last)
        elif kind == "=>" and len(fields) >= 3 and last is not None:
            last.replace = Module(fields[1], fields[2])
            last = None
        elif kind == "build" and len(fields) >= 2:
            key, _, value = fields[1].partition("=")
            info.settings[key] = value
    return info


def stdlib_version(go_version: str) -> str | None:
    """``go1.26.8`` -> ``v1.26.8``, ``go1.21`` -> ``v1.21.0``, ``go1.22rc1`` ->
    ``v1.22.0-rc.1``; None for a development toolchain."""
    match = _GO_VERSION.match(go_version.split(" ", 1)[0])
    if match is None:
        return None
    major, minor, patch, pre, pre_number = match.groups()
    version = f"v{major}.{minor or 0}.{patch or 0}"
    return f"{version}-{pre}.{pre_number}" if pre else version


def _usable(version: str) -> bool:
    return bool(version) and version != "(devel)"


def modules(info: BuildInfo) -> Iterator[tuple[str, str]]:
    if info.main is not None and _usable(info.main.version):
        yield info.main.path, info.main.version
    for dep in info.deps:
        built = dep.replace or dep
        if _usable(built.version):
            yield built.path, built.version
        else:
            log.debug("%s replaced by the directory %s; skipped", dep.path, built.path)
    stdlib = stdlib_version(info.go_version)
    if stdlib is not None:
        yield "stdlib", stdlib


def _read_watching_for_magic(head: bytes, stream: Readable, size: int, keep: bool) -> tuple[bool, bytes]:
    """Read the rest of the file in chunks, watching for the build-info magic: (found, the
    whole file if ``keep`` and found, else b""). Nothing is joined for a file without the
    magic (almost every executable), and nothing is kept at all when ``keep`` is false."""
    chunks = [head] if keep else []
    found = MAGIC in head
    tail = head[-(len(MAGIC) - 1) :]
    remaining = size - len(head)
    while remaining > 0:
        chunk = stream.read(min(_CHUNK, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
        if not found:
            found = MAGIC in chunk or MAGIC in tail + chunk[: len(MAGIC) - 1]
            tail = chunk[-(len(MAGIC) - 1) :]
        if keep:
            chunks.append(chunk)
    return found, b"".join(chunks) if keep and found else b""


class GoBinaryCataloger:
    """A :class:`~shipflow.sbom.source.Reducer`: each executable becomes a small JSON
    result (the raw build info, or why it could not be read)."""

    name = "go-binary"
    wanted_names = frozenset[str]()  # wants nothing whole: read through reduce()

    def __init__(self, *, max_bytes: int | None = None) -> None:
        self.max_bytes = MAX_BINARY_BYTES if max_bytes is None else max_bytes

    def wants(self, path: str) -> bool:
        return False  # read through reduce(), never whole

    def accepts(self, path: str, mode: int, size: int) -> bool:
        if size < _MIN_BINARY_BYTES:
            return False
        return bool(mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)) or path.lower().endswith(".exe")

    def reduce(self, path: str, stream: Readable, size: int) -> bytes | None:
        head = stream.read(min(64, size))
        if not is_executable_magic(head):
            return None
        keep = size <= self.max_bytes
        magic, data = _read_watching_for_magic(head, stream, size, keep)
        if not magic:
            return None  # not a Go executable (the overwhelmingly common case)
        if not keep:
            return _result(error=f"a Go executable of {size} bytes, over the {self.max_bytes}-byte cap")
        try:
            found = read_build_info(data)
        except ExecutableFormatError as exc:
            return _result(error=f"malformed executable: {exc}")
        if found is None:
            return None
        return _result(go=found[0], modinfo=found[1])

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        for found in source.find_reduced(self.name):
            record = json.loads(found.data)
            if "error" in record:
                result.skip(found.location, self.name, record["error"])
                continue
            info = parse_modinfo(record["go"], record["modinfo"])
            packages: dict[tuple[str, str], Package] = {}
            for module, version in modules(info):
                packages.setdefault((module, version), golang_package(module, version, found.location))
            result.packages.extend(packages.values())
        return result


def _result(**fields: str) -> bytes:
    return json.dumps(fields, separators=(",", ":")).encode()
