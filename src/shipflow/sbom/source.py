"""Where catalogers read files from: an image's merged view, or a directory on disk.

Both give the same three operations: the files a cataloger wants (by path pattern), one file
by path with symlinks resolved inside the subject's root, and the small results a
:class:`Reducer` made of big files (Go executables, Java archives) as they were read.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from shipflow.errors import UnsafeContentError
from shipflow.sbom._filetree import FileTree, Node
from shipflow.sbom.model import Location

log = logging.getLogger(__name__)

Wants = Callable[[str], bool]

# Directories a source-tree walk never enters: VCS metadata and caches, never installed code.
SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
)


@dataclass(frozen=True, slots=True)
class FoundFile:
    path: str  # relative to the root, "/"-separated, no leading slash
    data: bytes
    location: Location


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@runtime_checkable
class Reducer(Protocol):
    """Turns a big file into the small result a cataloger needs, while the file streams past
    (a layer is read once, front to back): the Go build info of an executable, the package
    records of a Java archive. Only the result is kept in memory.

    ``accepts`` decides from the path, the mode bits and the size alone. ``reduce`` reads at
    most ``size`` bytes from ``stream`` and must bound its own memory (its caps are its
    own); it returns the result, or None when the file is not one of its kind after all.
    """

    name: str

    def accepts(self, path: str, mode: int, size: int) -> bool: ...

    def reduce(self, path: str, stream: Readable, size: int) -> bytes | None: ...


class FileSource(Protocol):
    def find(self, wants: Wants) -> Iterator[FoundFile]:
        """Every file whose path ``wants`` accepts (and whose content is available)."""
        ...

    def read(self, path: str) -> FoundFile | None:
        """One file, following symlinks inside the root; None if absent or not a file."""
        ...

    def find_reduced(self, reducer: str) -> Iterator[FoundFile]:
        """The results the reducer named ``reducer`` made (``data`` is its result)."""
        ...


class TreeSource:
    """The merged view of an image's layers."""

    def __init__(self, tree: FileTree) -> None:
        self.tree = tree
        self._files: list[tuple[str, Node]] | None = None

    def _location(self, path: str, layer: int) -> Location:
        digest = self.tree.layers[layer] if 0 <= layer < len(self.tree.layers) else None
        return Location(path=f"/{path}", layer=digest)

    def _kept(self) -> list[tuple[str, Node]]:
        # Every cataloger asks; the tree is complete when it is read, so walk it once.
        if self._files is None:
            self._files = list(self.tree.files())
        return self._files

    def find(self, wants: Wants) -> Iterator[FoundFile]:
        for path, node in self._kept():
            if node.content is not None and node.reduced is None and wants(path):
                yield FoundFile(path, node.content, self._location(path, node.layer))

    def find_reduced(self, reducer: str) -> Iterator[FoundFile]:
        for path, node in self._kept():
            if node.content is not None and node.reduced == reducer:
                yield FoundFile(path, node.content, self._location(path, node.layer))

    def read(self, path: str) -> FoundFile | None:
        found = self.tree.resolve(path)
        if found is None:
            return None
        real, node = found
        if node.kind != "file" or node.content is None or node.reduced is not None:
            return None
        return FoundFile(real, node.content, self._location(real, node.layer))


class DirectorySource:
    """A directory on disk (a source checkout or an unpacked root filesystem).

    The walk never follows symlinks (a link out of the tree is not part of it), and reads
    only files the catalogers want, each capped at ``max_file_bytes``, plus the regular files
    a reducer accepts (read through the reducer, which caps itself).
    """

    def __init__(
        self,
        root: Path,
        wants: Wants,
        *,
        reducers: Sequence[Reducer] = (),
        max_file_bytes: int = 64 * 1024**2,
    ) -> None:
        self.root = root.resolve()
        self.max_file_bytes = max_file_bytes
        self._reducers = {r.name: r for r in reducers}
        self._reduced: dict[str, list[str]] = {name: [] for name in self._reducers}
        self._paths = sorted(self._walk(wants))

    def _walk(self, wants: Wants) -> Iterator[str]:
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
            rel_dir = os.path.relpath(dirpath, self.root)
            prefix = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            for name in sorted(filenames):
                path = prefix + name
                if wants(path):
                    yield path
                elif self._reducers:
                    self._note_reducible(dirpath, name, path)

    def _note_reducible(self, dirpath: str, name: str, path: str) -> None:
        try:
            info = os.lstat(os.path.join(dirpath, name))
        except OSError:
            return
        if not stat.S_ISREG(info.st_mode):
            return
        for reducer in self._reducers.values():
            if reducer.accepts(path, info.st_mode, info.st_size):
                self._reduced[reducer.name].append(path)
                return

    def _load(self, path: str) -> FoundFile | None:
        full = self.root / path
        try:
            real = full.resolve()
            real.relative_to(self.root)  # a symlink leading out of the tree is not followed
        except (OSError, ValueError):
            log.debug("skipping %s: resolves outside %s", path, self.root)
            return None
        if not real.is_file():
            return None
        size = real.stat().st_size
        if size > self.max_file_bytes:
            raise UnsafeContentError(
                f"{full} is {size} bytes, over the {self.max_file_bytes} byte limit for a package file",
                hint="remove or exclude the file",
            )
        rel = real.relative_to(self.root).as_posix()
        return FoundFile(rel, real.read_bytes(), Location(path=rel))

    def find(self, wants: Wants) -> Iterator[FoundFile]:
        for path in self._paths:
            if wants(path):
                found = self._load(path)
                if found is not None:
                    yield found

    def read(self, path: str) -> FoundFile | None:
        return self._load(path.lstrip("/"))

    def find_reduced(self, reducer: str) -> Iterator[FoundFile]:
        chosen = self._reducers.get(reducer)
        if chosen is None:
            return
        for path in self._reduced[reducer]:
            full = self.root / path
            try:
                with full.open("rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    result = chosen.reduce(path, handle, size)
            except OSError as exc:
                log.warning("cannot read %s: %s", full, exc)
                continue
            if result is not None:
                yield FoundFile(path, result, Location(path=path))
