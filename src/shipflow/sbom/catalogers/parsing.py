"""Bounded decoding of lock files (JSON, TOML, YAML, text) for catalogers.

Every loader raises :class:`Unreadable` with a short reason a "not read" warning can carry,
never a foreign exception: not UTF-8, not valid JSON/TOML/YAML, nested deeper than any real
lock file (``RecursionError`` in the standard parsers), or a YAML document that uses anchors
and aliases (no lock file writer emits them, and they are how "billion laughs" documents
explode) or has more nodes than :data:`MAX_YAML_NODES`.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, TypeVar

import yaml

# Deeper than any lock file (pnpm and yarn nest five or six levels); counted while composing.
MAX_YAML_DEPTH = 64
# A pnpm-lock.yaml of 10,000 packages has about 400,000 nodes.
MAX_YAML_NODES = 5_000_000

_YamlLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

K = TypeVar("K", bound=Hashable)


class Unreadable(Exception):
    """A recognised file that cannot be parsed; ``str(exc)`` is the reason."""


def text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 text (invalid byte at offset {exc.start})") from exc


def load_json(data: bytes) -> Any:
    try:
        return json.loads(text(data))
    except RecursionError as exc:
        raise Unreadable("JSON nested too deeply") from exc
    except ValueError as exc:
        raise Unreadable(f"not valid JSON: {exc}") from exc


def load_json_object(data: bytes) -> dict[str, Any]:
    doc = load_json(data)
    if not isinstance(doc, dict):
        raise Unreadable(f"expected a JSON object, found {type(doc).__name__}")
    return doc


def load_toml(data: bytes) -> dict[str, Any]:
    try:
        return tomllib.loads(text(data))
    except RecursionError as exc:
        raise Unreadable("TOML nested too deeply") from exc
    except tomllib.TOMLDecodeError as exc:
        raise Unreadable(f"not valid TOML: {exc}") from exc


def _check_yaml_nodes(root: yaml.Node) -> None:
    """Depth and node-count caps, checked on the composed tree before anything is built. The
    composer turns an alias into a second reference to the anchored node, so a node met twice
    is an alias."""
    seen: set[int] = set()
    todo: list[tuple[yaml.Node, int]] = [(root, 1)]
    while todo:
        node, depth = todo.pop()
        if id(node) in seen:
            raise Unreadable("YAML anchors and aliases are not allowed in a lock file")
        seen.add(id(node))
        if len(seen) > MAX_YAML_NODES:
            raise Unreadable(f"YAML document has more than {MAX_YAML_NODES} nodes")
        if depth > MAX_YAML_DEPTH:
            raise Unreadable(f"YAML nested deeper than {MAX_YAML_DEPTH} levels")
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                todo.append((key, depth + 1))
                todo.append((value, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, depth + 1) for item in node.value)


def load_yaml(data: bytes) -> Any:
    """One YAML document with PyYAML's safe loader (libyaml when available), refusing
    anchors/aliases and capping depth and size before any Python object is built."""
    loader = _YamlLoader(text(data))
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_yaml_nodes(node)
        return loader.construct_document(node)
    except RecursionError as exc:
        raise Unreadable("YAML nested too deeply") from exc
    except yaml.YAMLError as exc:
        raise Unreadable(f"not valid YAML: {_yaml_problem(exc)}") from exc
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        return f"{exc.problem} (line {mark.line + 1})" if mark is not None else exc.problem
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping with string keys, else an empty one."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if isinstance(k, str)}
    return {}


def reachable(roots: Iterable[K], edges: Callable[[K], Iterable[K]]) -> set[K]:
    """Every node reachable from ``roots`` (iteratively: dependency graphs can be deep)."""
    seen: set[K] = set()
    todo = list(roots)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo.extend(edges(node))
    return seen


def dev_only(prod_roots: Iterable[K], dev_roots: Iterable[K], edges: Callable[[K], Iterable[K]]) -> set[K]:
    """Nodes reachable from the dev roots but not from the production ones: what a
    production install (``npm ci --omit=dev``, ``pnpm install --prod``) leaves out."""
    prod = reachable(prod_roots, edges)
    return reachable(dev_roots, edges) - prod


def lines(data: bytes) -> Iterator[str]:
    yield from text(data).splitlines()
