"""Go modules of a source tree: ``go.mod``, with ``go.sum`` beside it where present.

``go.mod`` (https://go.dev/ref/mod#go-mod-file) lists the required modules (one per line, or
in ``require ( … )`` blocks); ``replace`` directives swap a module (every version, or one)
for another module version, or for a local directory. Replacements are applied: what is
cataloged is the module that is built. A module replaced by a directory has no version
advisories can name and is skipped.

Since Go 1.17 ``go.mod`` lists every module of the build, indirect ones included (``//
indirect``). For an older ``go`` directive it lists only direct requirements, so the modules
whose content ``go.sum`` records (lines without the ``/go.mod`` suffix) are added, each at the
highest version listed (``go mod`` keeps go.sum sorted by semantic version).

The main module itself is the project, not a dependency, and is not listed.
"""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.lockfiles import in_dependency_dir
from shipflow.sbom.catalogers.packages import golang_package
from shipflow.sbom.catalogers.parsing import Unreadable, text
from shipflow.sbom.model import Distro, Package
from shipflow.sbom.source import FileSource

log = logging.getLogger(__name__)

_GO_VERSION = re.compile(r"^(\d+)\.(\d+)")
# go.mod is line-oriented and small; a file this large is not a go.mod.
MAX_LINES = 200_000


@dataclass
class GoMod:
    module: str | None = None
    go: str | None = None
    requires: list[tuple[str, str, bool]] = field(default_factory=list)  # (path, version, indirect)
    # (old path, old version or None for all, new path, new version or None for a directory)
    replaces: list[tuple[str, str | None, str, str | None]] = field(default_factory=list)
    excludes: set[tuple[str, str]] = field(default_factory=set)

    def replacement(self, path: str, version: str) -> tuple[str, str | None]:
        """The module built for ``path@version``: a version-specific replace wins over one
        for every version."""
        general: tuple[str, str | None] | None = None
        for old, old_version, new, new_version in self.replaces:
            if old != path:
                continue
            if old_version == version:
                return new, new_version
            if old_version is None:
                general = (new, new_version)
        return general if general is not None else (path, version)


def _fields(line: str) -> list[str]:
    """Whitespace-separated fields; ``"quoted"`` and ```raw``` strings are one field."""
    out: list[str] = []
    pos = 0
    while pos < len(line):
        char = line[pos]
        if char.isspace():
            pos += 1
        elif char in '"`':
            end = line.find(char, pos + 1)
            while char == '"' and end > 0 and line[end - 1] == "\\":
                end = line.find(char, end + 1)
            if end < 0:
                raise Unreadable(f"unterminated string in {line[:80]!r}")
            out.append(line[pos + 1 : end])
            pos = end + 1
        else:
            end = pos
            while end < len(line) and not line[end].isspace():
                end += 1
            out.append(line[pos:end])
            pos = end
    return out


def _statements(source: str) -> Iterator[tuple[int, str, list[str], bool]]:
    """(line number, verb, arguments, indirect) for each directive, blocks expanded."""
    block: str | None = None
    lines = source.splitlines()
    if len(lines) > MAX_LINES:
        raise Unreadable(f"more than {MAX_LINES} lines")
    for number, raw in enumerate(lines, start=1):
        code, _, comment = raw.partition("//")
        indirect = comment.strip().startswith("indirect")
        words = _fields(code)
        if not words:
            continue
        if block is not None:
            if words == [")"]:
                block = None
                continue
            yield number, block, words, indirect
            continue
        verb, args = words[0], words[1:]
        if args == ["("]:
            block = verb
            continue
        if args[:1] == ["("] and args[-1:] == [")"]:
            args = args[1:-1]  # "require ( )" on one line
            if not args:
                continue
        yield number, verb, args, indirect
    if block is not None:
        raise Unreadable(f"'{block} (' block is never closed")


def _is_local(path: str) -> bool:
    return path.startswith(("./", "../", "/")) or path in (".", "..") or (len(path) > 1 and path[1] == ":")


def parse_go_mod(data: bytes) -> GoMod:
    mod = GoMod()
    for number, verb, args, indirect in _statements(text(data)):
        if verb == "module" and len(args) == 1:
            mod.module = args[0]
        elif verb == "go" and len(args) == 1:
            mod.go = args[0]
        elif verb == "require":
            if len(args) != 2:
                raise Unreadable(f"line {number}: require needs a module path and a version")
            mod.requires.append((args[0], args[1], indirect))
        elif verb == "exclude" and len(args) == 2:
            mod.excludes.add((args[0], args[1]))
        elif verb == "replace":
            if "=>" not in args:
                raise Unreadable(f"line {number}: replace without =>")
            arrow = args.index("=>")
            old, new = args[:arrow], args[arrow + 1 :]
            if len(old) not in (1, 2) or len(new) not in (1, 2):
                raise Unreadable(f"line {number}: malformed replace")
            old_version = old[1] if len(old) == 2 else None
            if len(new) == 1 and not _is_local(new[0]):
                raise Unreadable(f"line {number}: replacement {new[0]!r} needs a version")
            mod.replaces.append((old[0], old_version, new[0], new[1] if len(new) == 2 else None))
        # go, toolchain, godebug, retract, tool, ignore: nothing to catalog.
    if mod.module is None:
        raise Unreadable("no module directive")
    return mod


def _go_before_1_17(version: str | None) -> bool:
    match = _GO_VERSION.match(version or "")
    return match is not None and (int(match[1]), int(match[2])) < (1, 17)


def go_sum_modules(data: bytes) -> dict[str, str]:
    """module path -> highest version whose content go.sum records."""
    found: dict[str, str] = {}
    for line in text(data).splitlines():
        words = line.split()
        if len(words) != 3 or words[1].endswith("/go.mod"):
            continue
        found[words[0]] = words[1]  # go.sum is sorted by version: the last is the highest
    return found


def modules(mod: GoMod, go_sum: dict[str, str] | None) -> Iterator[tuple[str, str]]:
    required = {path for path, _, _ in mod.requires}
    candidates = [(path, version) for path, version, _ in mod.requires]
    if go_sum is not None and _go_before_1_17(mod.go):
        candidates += sorted((p, v) for p, v in go_sum.items() if p not in required and p != mod.module)
    for path, version in candidates:
        if (path, version) in mod.excludes:
            continue
        new_path, new_version = mod.replacement(path, version)
        if new_version is None:
            log.debug("%s replaced by the directory %s; skipped", path, new_path)
            continue
        yield new_path, new_version


class GoModCataloger:
    name = "go-mod"
    wanted_names = frozenset({"go.mod", "go.sum"})

    def wants(self, path: str) -> bool:
        return posixpath.basename(path) in ("go.mod", "go.sum") and not in_dependency_dir(path)

    @staticmethod
    def _is_go_mod(path: str) -> bool:
        return posixpath.basename(path) == "go.mod" and not in_dependency_dir(path)

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        for found in source.find(self._is_go_mod):
            try:
                mod = parse_go_mod(found.data)
            except Unreadable as exc:
                result.skip(found.location, self.name, str(exc))
                continue
            go_sum = self._go_sum(source, found.path, result)
            seen: set[tuple[str, str]] = set()
            packages: list[Package] = []
            for path, version in modules(mod, go_sum):
                if (path, version) not in seen:
                    seen.add((path, version))
                    packages.append(golang_package(path, version, found.location))
            result.packages.extend(packages)
        return result

    def _go_sum(self, source: FileSource, mod_path: str, result: Cataloged) -> dict[str, str] | None:
        sum_path = posixpath.join(posixpath.dirname(mod_path), "go.sum")
        found = source.read(sum_path)
        if found is None:
            return None
        try:
            return go_sum_modules(found.data)
        except Unreadable as exc:
            result.skip(found.location, self.name, str(exc))
            return None
