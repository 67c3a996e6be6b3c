"""Parse documents that come from outside (JSON, YAML, TOML) with bounded depth and size.

Every parser shipflow uses on foreign bytes recurses: ``json`` and ``tomllib`` per nesting
level, PyYAML's composer several frames per level. 100 000 nested ``[`` therefore end in a
``RecursionError`` (a traceback, not an error message), and a document that is merely *deep*
(a few hundred levels) parses and then breaks whatever walks it next (``json.dumps``, a
recursive walker) somewhere else. So depth is limited here, once, before anything else sees
the document:

* JSON: the nesting is measured on the bytes (strings removed, brackets peeled level by
  level, all in C) before ``json.loads`` runs; :data:`MAX_DEPTH` levels at most. Files with
  fewer brackets than the limit skip the measurement entirely. That part lives in the
  top-level :mod:`shipflow.jsonload` (``oci/`` parses manifests and ``index.json`` with it,
  and may not import ``signing/``); it is re-exported here unchanged.
* YAML and TOML: parsed (libyaml caps YAML nesting at 1000 levels itself; a ``RecursionError``
  is turned into an error naming the file), then the result is walked iteratively to check
  its depth and its size *as a tree*: YAML aliases make a 1 KiB "billion laughs" file a tree
  of 10^9 nodes (or a cycle), which would expand the first time it is serialised.
  :data:`MAX_NODES` nodes at most.

Every failure is one line naming ``what`` (a file, an archive member, "envelope") and is
raised as the caller's error class from :mod:`shipflow.errors`, so each caller keeps its exit
code. Sizes are the callers' business (``shipflow.fsutil.read_capped``).

Used for signature payloads, DSSE envelopes and statements, predicates, SBOM files, OpenVEX,
OSV records, ignore files and package/lock files. This module sits in ``signing/`` (the
lowest layer that parses foreign documents after ``oci/``), so ``sbom/`` and ``scan/`` use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipflow.jsonload import (
    MAX_DEPTH,
    ErrorFactory,
    json_depth,
    json_too_deep,
    load_object,
    parse_json,
)
from shipflow.jsonload import too_deep_error as _too_deep

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "ErrorFactory",
    "check_tree",
    "json_depth",
    "json_too_deep",
    "load_object",
    "parse_json",
    "parse_toml",
    "parse_yaml",
]

# Nodes (containers and scalars) in one YAML/TOML document once aliases are expanded.
MAX_NODES = 2_000_000


def check_tree(
    value: Any,
    *,
    what: str,
    error: ErrorFactory,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
    hint: str | None = None,
) -> None:
    """Refuse a parsed document deeper than ``max_depth`` or with more than ``max_nodes``
    nodes counted as a tree (a node reached twice through YAML aliases counts twice).
    Iterative: no recursion, whatever the input."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise error(
                f"{what} expands to more than {max_nodes} values (YAML aliases?)",
                hint=hint or "a document of this kind is far smaller: check that this is the right file",
            )
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth > max_depth:
            raise _too_deep(what, max_depth, error, hint)
        stack.extend((child, depth + 1) for child in children)


def _yaml_problem(exc: Exception) -> str:
    """One line from a PyYAML error: where, and what is wrong (not the parser's context dump)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    text = str(problem or exc).splitlines()[0] if (problem or str(exc)) else type(exc).__name__
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {text}"
    return text


class _FlowTooDeep(Exception):
    pass


def _bounded_loader(data: bytes | str, max_depth: int) -> Any:
    """A safe YAML loader that cannot be driven into deep recursion or quadratic time.

    libyaml's (``CSafeLoader``, in PyYAML's wheels) when present: it refuses nesting beyond
    1000 levels itself, its composer then recurses at most that deep in C (safe), the
    constructor is iterative, and it is 8x faster than PyYAML's Python loader (measured here:
    50 000 list items in 1.2 s against 8.9 s). Otherwise the Python loader with a cap on flow
    nesting (``[[[…``): its scanner re-checks every open flow level on every token, so
    100 000 ``[`` take seconds and a few MB take hours; its recursion ends in a
    RecursionError, which the caller turns into "nested too deep".
    """
    import yaml  # ≈ 10 ms: only for the commands that read YAML

    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        return fast(data)

    class Loader(yaml.SafeLoader):
        def fetch_flow_collection_start(self, TokenClass: Any) -> None:
            if self.flow_level >= max_depth:
                raise _FlowTooDeep
            super().fetch_flow_collection_start(TokenClass)

    return Loader(data)


def parse_yaml(
    data: bytes | str,
    *,
    what: str,
    error: ErrorFactory,
    max_depth: int = MAX_DEPTH,
    max_nodes: int = MAX_NODES,
    hint: str | None = None,
) -> Any:
    """``data`` parsed with PyYAML's safe loader, bounded in depth, time and expanded size."""
    import yaml

    loader = _bounded_loader(data, max_depth)
    try:
        loaded = loader.get_single_data()
    except (RecursionError, _FlowTooDeep) as exc:
        raise _too_deep(what, max_depth, error, hint) from exc
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml's own cap (1000 levels)
            raise _too_deep(what, max_depth, error, hint) from exc
        raise error(f"{what} is not valid YAML: {_yaml_problem(exc)}", hint=hint) from exc
    except (UnicodeDecodeError, ValueError, TypeError, OverflowError) as exc:
        # SafeLoader's constructors raise these for values it cannot build (a date like
        # 2024-13-45, a timestamp out of range, an unhashable mapping key).
        raise error(f"{what} is not valid YAML: {exc}", hint=hint) from exc
    finally:
        loader.dispose()
    check_tree(loaded, what=what, error=error, max_depth=max_depth, max_nodes=max_nodes, hint=hint)
    return loaded


def parse_toml(
    data: bytes,
    *,
    what: str,
    error: ErrorFactory,
    max_depth: int = MAX_DEPTH,
    hint: str | None = None,
) -> dict[str, Any]:
    """``data`` parsed as TOML (UTF-8), bounded in depth."""
    import tomllib

    try:
        loaded = tomllib.loads(data.decode("utf-8"))
    except RecursionError as exc:
        raise _too_deep(what, max_depth, error, hint) from exc
    except UnicodeDecodeError as exc:
        raise error(f"{what} is not UTF-8 text (byte {exc.start})", hint=hint) from exc
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise error(f"{what} is not valid TOML: {exc}", hint=hint) from exc
    check_tree(loaded, what=what, error=error, max_depth=max_depth, hint=hint)
    return loaded
