"""Bounded decoding of lock files (JSON, TOML, YAML, text) for catalogers.

Every loader raises :class:`Unreadable` with a short reason a "not read" warning can carry,
never a foreign exception: not UTF-8, not valid JSON/TOML/YAML, nested deeper than any real
lock file (``RecursionError`` in the standard parsers), or a YAML document that uses anchors
and aliases (no lock file writer emits them, and they are how "billion laughs" documents
explode) or has more nodes than :data:`MAX_YAML_NODES`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import yaml

# tomllib and PyYAML are imported by the loaders that use them: every image and directory
# catalog imports this module, and most hold no TOML or YAML lock file (PyYAML alone is
# 25-30 ms of start-up, measured with python -X importtime).
# Deeper than any lock file (pnpm and yarn nest five or six levels); counted while composing.
MAX_YAML_DEPTH = 64
# A pnpm-lock.yaml of 10,000 packages has about 400,000 nodes.
MAX_YAML_NODES = 5_000_000

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
    import tomllib

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
    import yaml

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
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text(data))
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


class _NotSimple(Exception):
    """The document uses YAML beyond the block subset lock-file writers emit."""


_BOOLEANS = {"true": True, "false": False, "null": None, "~": None}


def _scalar(text: str) -> Any:
    """A flow scalar of the subset: '…' (with '' escapes), "…" (JSON escapes), or plain."""
    if not text:
        return None
    if text[0] == "'":
        if len(text) < 2 or text[-1] != "'" or "'" in text[1:-1].replace("''", ""):
            raise _NotSimple
        return text[1:-1].replace("''", "'")
    if text[0] == '"':
        try:
            value = json.loads(text)
        except ValueError:
            raise _NotSimple from None
        if not isinstance(value, str):
            raise _NotSimple
        return value
    if text[0] in "&*!|>%@`{[" or text.startswith(("- ", "? ")) or " #" in text:
        raise _NotSimple
    return _BOOLEANS.get(text, text)


def _split_flow(body: str) -> list[str]:
    """Items of a one-line flow collection, split at commas outside quotes."""
    items: list[str] = []
    current: list[str] = []
    quote: str | None = None
    for char in body:
        if quote:
            current.append(char)
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char in "{}[]":
            raise _NotSimple  # nested flow collections
        elif char == ",":
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if quote:
        raise _NotSimple
    tail = "".join(current).strip()
    if tail:
        items.append(tail)
    return items


def _key_and_rest(line: str) -> tuple[str, str]:
    """``key: value`` / ``key:`` with a plain, '…' or "…" key."""
    if line[0] in "'\"":
        quote = line[0]
        end = 1
        while True:
            end = line.find(quote, end)
            if end < 0:
                raise _NotSimple
            if quote == "'" and line[end + 1 : end + 2] == "'":
                end += 2
                continue
            if quote == '"' and line[end - 1] == "\\":
                end += 1
                continue
            break
        key, rest = _scalar(line[: end + 1]), line[end + 1 :]
        if not rest.startswith(":"):
            raise _NotSimple
        return str(key), rest[1:].strip()
    if line.endswith(":"):
        key, rest = line[:-1], ""
    else:
        key, sep, rest = line.partition(": ")
        if not sep:
            raise _NotSimple
    if not key or key[0] in "-?&*!|>%@`{[#":
        raise _NotSimple
    return key, rest.strip()


def _value(rest: str) -> Any:
    if rest.startswith("{") and rest.endswith("}"):
        return {k: _value(v) for k, v in (_key_and_rest(item) for item in _split_flow(rest[1:-1]))}
    if rest.startswith("[") and rest.endswith("]"):
        return [_scalar(item) for item in _split_flow(rest[1:-1])]
    return _scalar(rest)


def _load_block_subset(text: str) -> dict[str, Any]:
    """The YAML that yarn berry and pnpm write: nested block mappings by indentation, one
    ``key: value`` per line, quoted or plain scalars, one-line flow mappings and sequences,
    block sequences of scalars (``- item``). Anything else raises _NotSimple and the
    document goes to PyYAML instead.

    Why not PyYAML alone: composing and constructing a 350 KiB yarn.lock of 1,000 packages
    takes 0.6 to 0.8 s with libyaml's loader (measured here, benchmarks/catalogers.py), the
    same data as JSON 8 ms; this reader needs about a tenth of PyYAML's time."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(0, root)]
    pending: tuple[int, dict[str, Any], str] | None = None  # a "key:" awaiting its block
    sequence: tuple[int, list[Any]] | None = None  # the block sequence being read
    nodes = 0
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if raw[indent] == "\t" or stripped.startswith(("? ", "---", "...")) or stripped == "-":
            raise _NotSimple
        if stripped.startswith("- "):
            item = stripped[2:].strip()
            if pending is not None and indent >= pending[0]:
                sequence = (indent, [])
                pending[1][pending[2]] = sequence[1]
                pending = None
            elif sequence is None or indent != sequence[0]:
                raise _NotSimple
            if item.startswith(("- ", "? ")) or ": " in item or item.endswith(":"):
                raise _NotSimple  # nested collections in a sequence
            sequence[1].append(_value(item))
            nodes += 1
            continue
        sequence = None
        if pending is not None:
            parent_indent, parent, key = pending
            pending = None
            if indent > parent_indent:
                child: dict[str, Any] = {}
                parent[key] = child
                stack.append((indent, child))
                if len(stack) > MAX_YAML_DEPTH:
                    raise Unreadable(f"YAML nested deeper than {MAX_YAML_DEPTH} levels")
            else:
                parent[key] = None
        while indent < stack[-1][0]:
            stack.pop()
        if indent != stack[-1][0]:
            raise _NotSimple  # indentation that does not line up with any open mapping
        here = stack[-1][1]
        key, rest = _key_and_rest(stripped)
        if key in here:
            raise _NotSimple  # a duplicate key: let PyYAML decide
        nodes += 1
        if nodes > MAX_YAML_NODES:
            raise Unreadable(f"YAML document has more than {MAX_YAML_NODES} nodes")
        if rest:
            here[key] = _value(rest)
        else:
            pending = (indent, here, key)
    if pending is not None:
        pending[1][pending[2]] = None
    return root


def load_lock_yaml(data: bytes) -> Any:
    """A lock file in YAML: the fast block-subset reader, PyYAML for anything beyond it."""
    source = text(data)
    try:
        return _load_block_subset(source)
    except _NotSimple:
        return load_yaml(data)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    import yaml

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
