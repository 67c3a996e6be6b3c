"""The merged filesystem view of an image, held in memory as a tree of names.

Layers are applied in order with the OCI whiteout rules (``image-spec/layer.md``): a
``.wh.NAME`` file hides ``NAME`` from *lower* layers, a ``.wh..wh..opq`` file hides every
lower-layer entry of its directory, and what a layer adds itself stays visible. Entries are
merged by path, as overlayfs does: a directory in an upper layer replaces a lower symlink or
file of the same name instead of writing through it.

Only the contents of files a cataloger asked for are kept (``content``); everything else is
metadata only. Symlinks are resolved with chroot semantics: absolute targets start at the
image root and ``..`` never climbs above it, so a link can never lead outside the view.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

NodeKind = Literal["file", "dir", "symlink", "other"]

# Linux gives up after 40 symlink hops (ELOOP); so do we.
MAX_SYMLINK_HOPS = 40


@dataclass(slots=True)
class Node:
    kind: NodeKind
    layer: int  # index of the layer that last wrote this entry
    touched: int  # highest layer index that wrote this entry or anything below it
    size: int = 0
    content: bytes | None = None  # only for files a cataloger wanted (or reduced)
    reduced: str | None = None  # the Reducer whose small result ``content`` is, if any
    target: str | None = None  # symlink target as written in the layer
    children: dict[str, Node] | None = None

    @classmethod
    def directory(cls, layer: int) -> Node:
        return cls("dir", layer, layer, children={})


@dataclass(slots=True)
class FileTree:
    """The final filesystem of an image; paths are ``/``-separated, relative to the root."""

    layers: list[str] = field(default_factory=list)  # layer digests, by layer index
    root: Node = field(default_factory=lambda: Node.directory(-1))

    # -- building ---------------------------------------------------------------------------

    def _parent_for_write(self, parts: list[str], layer: int) -> Node:
        """The directory that will hold ``parts[-1]``, creating (or replacing non-directories
        with) directories on the way, and marking each as touched by ``layer``."""
        node = self.root
        node.touched = max(node.touched, layer)
        for name in parts[:-1]:
            assert node.children is not None
            child = node.children.get(name)
            if child is None or child.kind != "dir":
                child = Node.directory(layer)
                node.children[name] = child
            child.touched = max(child.touched, layer)
            node = child
        return node

    def add(self, parts: list[str], node: Node) -> None:
        """Write an entry: a directory onto a directory merges, anything else replaces."""
        parent = self._parent_for_write(parts, node.layer)
        assert parent.children is not None
        existing = parent.children.get(parts[-1])
        if node.kind == "dir" and existing is not None and existing.kind == "dir":
            existing.layer = node.layer
            existing.touched = max(existing.touched, node.layer)
            return
        parent.children[parts[-1]] = node

    def whiteout(self, parts: list[str], layer: int) -> None:
        """Hide ``parts`` as it was in layers below ``layer``."""
        parent = self._find_dir(parts[:-1])
        if parent is None or parent.children is None:
            return
        child = parent.children.get(parts[-1])
        if child is None:
            return
        if child.touched < layer:
            del parent.children[parts[-1]]
        elif child.children is not None:
            _prune_lower(child.children, layer)

    def opaque(self, dir_parts: list[str], layer: int) -> None:
        """Hide every lower-layer entry inside ``dir_parts`` (the directory itself stays)."""
        directory = self._parent_for_write([*dir_parts, ""], layer) if dir_parts else self.root
        if directory.children is not None:
            _prune_lower(directory.children, layer)

    # -- reading ----------------------------------------------------------------------------

    def _find_dir(self, parts: list[str]) -> Node | None:
        """Path-based lookup without following symlinks (how tar hardlinks and whiteouts name
        entries)."""
        node = self.root
        for name in parts:
            if node.children is None:
                return None
            child = node.children.get(name)
            if child is None:
                return None
            node = child
        return node

    def lookup_exact(self, path: str) -> Node | None:
        return self._find_dir([p for p in path.split("/") if p])

    def resolve(self, path: str) -> tuple[str, Node] | None:
        """Follow symlinks (in every component) inside the view; ``(real path, node)``."""
        pending = [p for p in reversed(path.split("/")) if p]
        stack: list[tuple[str, Node]] = []  # (name, node) of the directories walked
        node = self.root
        hops = 0
        while pending:
            name = pending.pop()
            if name == ".":
                continue
            if name == "..":
                if stack:
                    stack.pop()
                node = stack[-1][1] if stack else self.root
                continue
            if node.children is None:
                return None
            child = node.children.get(name)
            if child is None:
                return None
            if child.kind == "symlink":
                hops += 1
                if hops > MAX_SYMLINK_HOPS or not child.target:
                    return None
                if child.target.startswith("/"):
                    stack = []
                    node = self.root
                pending.extend(p for p in reversed(child.target.split("/")) if p)
                continue
            stack.append((name, child))
            node = child
        return "/".join(name for name, _ in stack), node

    def files(self) -> Iterator[tuple[str, Node]]:
        """Every regular file whose content (or reduced content) was kept, in a deterministic
        order."""
        todo: list[tuple[str, Node]] = [("", self.root)]
        while todo:
            prefix, node = todo.pop()
            assert node.children is not None
            for name in sorted(node.children, reverse=True):
                child = node.children[name]
                path = f"{prefix}{name}"
                if child.kind == "dir":
                    todo.append((f"{path}/", child))
                elif child.kind == "file" and child.content is not None:
                    yield path, child

    def count(self) -> int:
        """Number of entries in the view (for summaries and tests)."""
        total = 0
        todo = [self.root]
        while todo:
            node = todo.pop()
            if node.children:
                total += len(node.children)
                todo.extend(node.children.values())
        return total


def _prune_lower(children: dict[str, Node], layer: int) -> None:
    """Remove every entry below ``layer``, keeping what ``layer`` itself wrote (and the
    directories leading to it)."""
    for name in list(children):
        child = children[name]
        if child.touched < layer:
            del children[name]
        elif child.children is not None:
            _prune_lower(child.children, layer)
