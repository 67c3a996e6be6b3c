"""YAML configuration that remembers where every value came from.

``shipflow.yaml`` is written by people; a mistake in it must be reported as precisely as a
compiler would: the file, the line, the key path, what is wrong, and what is allowed::

    shipflow.yaml:14: environments.production.approvals: must be an integer >= 1, got 'two'

:func:`load_yaml` parses with PyYAML's safe composer (never its object constructor) into a tree
of :class:`Node` objects, each carrying its file, line and key path. Accessors (``as_int``,
``as_duration``, ``mapping(allowed_keys)``…) validate as they read and raise
:class:`~shipflow.errors.ConfigError` (exit 2) pointing at the value.

Hostile input is bounded: the file size, the nesting depth and the number of nodes are
capped, anchors/aliases are refused (a config needs none, and they are how "billion laughs"
documents explode), and duplicate keys are errors rather than a silent last-one-wins.

Secrets never live in the file: ``${NAME}`` references are expanded from the environment by
:meth:`Node.expand_env`, and the value of every referenced variable that is a secret (the
spec's names, or any name containing PASSWORD/TOKEN/SECRET/KEY/URL credentials) is registered
for redaction before anything can log it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from shipflow.errors import ConfigError
from shipflow.fsutil import read_capped
from shipflow.redact import register_secret

__all__ = [
    "SECRET_NAMES",
    "Node",
    "is_secret_name",
    "load_yaml",
    "parse_duration",
]

MAX_CONFIG_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_NODES = 50_000

# The specification's secrets table: values of these are never shown anywhere.
SECRET_NAMES = frozenset(
    {
        "COSIGN_PRIVATE_KEY",
        "COSIGN_PASSWORD",
        "REGISTRY_PASSWORD",
        "STAGING_DATABASE_URL",
        "ROLLBACK_WEBHOOK",
        "GITHUB_TOKEN",
    }
)
_SECRETISH = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|PRIVATE|WEBHOOK|DATABASE_URL|CREDENTIAL|API_KEY")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def is_secret_name(name: str) -> bool:
    """Whether an environment variable named ``name`` holds a secret (its value is redacted)."""
    return name in SECRET_NAMES or bool(_SECRETISH.search(name.upper()))


def parse_duration(text: str) -> float:
    """``250ms``, ``10s``, ``5m``, ``1h`` or a bare number of seconds → seconds.

    Raises ValueError on anything else (callers turn it into their own error with a location).
    """
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True, eq=False)
class Node:
    """One value of a YAML document, with where it was written.

    ``value`` is a str/int/float/bool/None for scalars, ``dict[str, Node]`` for mappings and
    ``list[Node]`` for sequences.
    """

    value: Any
    path: str
    file: str
    line: int
    kind: str  # "scalar" | "mapping" | "sequence"
    tag: str = field(default="", repr=False)

    # --- errors ---------------------------------------------------------------------------

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def error(self, problem: str, allowed: str | None = None, *, hint: str | None = None) -> ConfigError:
        """A ConfigError pointing at this value: ``file:line: key.path: problem (allowed: …)``."""
        label = self.path or "(top level)"
        message = f"{self.where}: {label}: {problem}"
        if allowed:
            message += f" (allowed: {allowed})"
        return ConfigError(message, hint=hint or f"fix {label} in {self.file}")

    def _describe(self) -> str:
        if self.kind == "mapping":
            return "a mapping"
        if self.kind == "sequence":
            return "a list"
        if self.value is None:
            return "nothing (null)"
        return f"{type(self.value).__name__} {self.value!r}"

    # --- structure ------------------------------------------------------------------------

    def mapping(self, allowed_keys: Collection[str] | None = None) -> dict[str, Node]:
        """The children of a mapping; unknown keys are errors when ``allowed_keys`` is given."""
        if self.kind != "mapping":
            raise self.error(f"must be a mapping, got {self._describe()}")
        children: dict[str, Node] = self.value
        if allowed_keys is not None:
            for key, child in children.items():
                if key not in allowed_keys:
                    raise child.error(
                        f"unknown key {key!r}", allowed=", ".join(sorted(allowed_keys)) or "no keys"
                    )
        return children

    def get(self, key: str) -> Node | None:
        """A child of a mapping, or None when absent (a null value counts as absent)."""
        child = self.mapping().get(key)
        if child is None or (child.kind == "scalar" and child.value is None):
            return None
        return child

    def require(self, key: str) -> Node:
        child = self.get(key)
        if child is None:
            raise self.error(f"{key!r} is required")
        return child

    def as_list(self) -> list[Node]:
        """A sequence's items; a single scalar is accepted as a one-item list."""
        if self.kind == "sequence":
            items: list[Node] = self.value
            return items
        if self.kind == "scalar" and self.value is not None:
            return [self]
        raise self.error(f"must be a list, got {self._describe()}")

    def items(self) -> Iterator[tuple[str, Node]]:
        yield from self.mapping().items()

    # --- scalars --------------------------------------------------------------------------

    def as_str(self, *, choices: Collection[str] | None = None, allow_empty: bool = False) -> str:
        if self.kind != "scalar" or self.value is None or isinstance(self.value, bool):
            raise self.error(f"must be a string, got {self._describe()}")
        text = str(self.value)
        if not text.strip() and not allow_empty:
            raise self.error("must not be empty")
        if choices is not None and text not in choices:
            raise self.error(f"{text!r} is not allowed", allowed=", ".join(choices))
        return text

    def as_int(self, *, min: int | None = None, max: int | None = None) -> int:
        value = self.value
        if self.kind != "scalar" or isinstance(value, bool) or not isinstance(value, int):
            bounds = _bounds(min, max)
            raise self.error(f"must be an integer{bounds}, got {self._describe()}")
        if (min is not None and value < min) or (max is not None and value > max):
            raise self.error(f"must be an integer{_bounds(min, max)}, got {value}")
        return value

    def as_float(self, *, min: float | None = None, max: float | None = None) -> float:
        value = self.value
        if self.kind != "scalar" or isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"must be a number{_bounds(min, max)}, got {self._describe()}")
        number = float(value)
        if (min is not None and number < min) or (max is not None and number > max):
            raise self.error(f"must be a number{_bounds(min, max)}, got {value}")
        return number

    def as_bool(self) -> bool:
        if self.kind != "scalar" or not isinstance(self.value, bool):
            raise self.error(f"must be true or false, got {self._describe()}")
        return bool(self.value)

    def as_duration(self, *, min: float | None = None, max: float | None = None) -> float:
        """Seconds, from ``250ms``/``10s``/``5m``/``1h`` or a bare number of seconds."""
        value = self.value
        if self.kind != "scalar" or value is None or isinstance(value, bool):
            raise self.error(f"must be a duration such as 10s, 5m or 250ms, got {self._describe()}")
        try:
            seconds = float(value) if isinstance(value, int | float) else parse_duration(str(value))
        except ValueError:
            raise self.error(
                f"{value!r} is not a duration", allowed="a number of seconds, or 250ms, 10s, 5m, 1h"
            ) from None
        if (min is not None and seconds < min) or (max is not None and seconds > max):
            raise self.error(f"must be a duration{_bounds(min, max, unit=' s')}, got {value}")
        return seconds

    def expand_env(self, environ: Mapping[str, str], *, required: bool = True) -> str:
        """The string with every ``${NAME}`` (or ``${NAME:-default}``) replaced from ``environ``.

        A variable that is unset (and has no default) is an error naming it when ``required``;
        otherwise it expands to the empty string. Values of secret variables are registered
        for redaction before they are returned.
        """
        text = self.as_str(allow_empty=True)

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = environ.get(name)
            if value is None or value == "":
                if default is not None:
                    value = default
                elif required:
                    raise self.error(
                        f"refers to ${{{name}}}, which is not set",
                        hint=f"export {name} (in GitHub Actions: a secret or variable named {name})",
                    )
                else:
                    value = ""
            if is_secret_name(name):
                register_secret(value)
            return value

        return _REFERENCE.sub(replace, text)

    def references(self) -> list[str]:
        """The environment variable names a string value refers to."""
        if self.kind != "scalar" or not isinstance(self.value, str):
            return []
        return [m.group(1) for m in _REFERENCE.finditer(self.value)]


def _bounds(low: float | None, high: float | None, *, unit: str = "") -> str:
    if low is not None and high is not None:
        return f" between {low:g}{unit} and {high:g}{unit}"
    if low is not None:
        return f" >= {low:g}{unit}"
    if high is not None:
        return f" <= {high:g}{unit}"
    return ""


def load_yaml(path: Path, *, display: str | None = None) -> Node:
    """Parse ``path`` into a :class:`Node` tree (ConfigError with file and line on any problem)."""
    import yaml

    name = display or str(path)
    data = read_capped(path, MAX_CONFIG_BYTES, what="configuration file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        _refuse_deep_nesting(yaml, text, name)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError as exc:
        # PyYAML composes recursively: nesting deeper than Python's stack is refused here,
        # before the depth check below could see it.
        raise ConfigError(f"{name}: nested too deeply (more than {MAX_DEPTH} levels)") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = exc.problem or exc.context or "invalid YAML"
        hint = "check indentation, colons and quotes"
        source_line = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
        if "[bot]" in source_line:
            # The usual trap: a GitHub App login inside a flow list, [github-actions[bot]].
            hint = 'quote logins that contain brackets: ["github-actions[bot]"]'
        raise ConfigError(f"{name}:{line}: not valid YAML: {problem}", hint=hint) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: not valid YAML: {exc}") from exc
    if root is None:
        return Node({}, "", name, 1, "mapping")
    return _Converter(name).convert(root, "", 0)


def _refuse_deep_nesting(yaml: Any, text: str, name: str) -> None:
    """Walk the parser's events and stop at the first collection nested deeper than MAX_DEPTH.

    The composer would see it too, but only after scanning the whole document, and PyYAML's
    scanner is quadratic in the flow nesting depth: 100,000 ``[`` took up to 114 s in the fuzz
    tier. The parser is lazy, so this stops after MAX_DEPTH levels (milliseconds)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1
                raise ConfigError(f"{name}:{line}: nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


class _Converter:
    def __init__(self, file: str) -> None:
        import yaml

        self.file = file
        self.count = 0
        self.seen: set[int] = set()
        # Only its scalar constructors are used (str/int/float/bool/null/timestamp): the safe
        # resolver already tagged each scalar while composing.
        self.loader = yaml.SafeLoader("")

    def convert(self, node: Any, path: str, depth: int, used_at: int | None = None) -> Node:
        import yaml

        line = node.start_mark.line + 1
        if id(node) in self.seen:
            line = used_at or line
            raise ConfigError(
                f"{self.file}:{line}: {path or '(top level)'}: YAML anchors and aliases are not allowed",
                hint="write the value out in full",
            )
        self.seen.add(id(node))
        self.count += 1
        if self.count > MAX_NODES:
            raise ConfigError(f"{self.file}: more than {MAX_NODES} values; this is not a shipflow.yaml")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{self.file}:{line}: {path}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, yaml.MappingNode):
            children: dict[str, Node] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise ConfigError(
                        f"{self.file}:{key_node.start_mark.line + 1}: {path}: keys must be text"
                    )
                key = str(key_node.value)
                if key == "<<":
                    raise ConfigError(
                        f"{self.file}:{key_node.start_mark.line + 1}: {path}: YAML merge keys are not allowed"
                    )
                child_path = f"{path}.{key}" if path else key
                if key in children:
                    raise ConfigError(
                        f"{self.file}:{key_node.start_mark.line + 1}: {child_path}: duplicate key "
                        f"(first on line {children[key].line})",
                        hint="remove one of them",
                    )
                # A value's line is its key's: a block mapping or list starts on the next line,
                # but a person looks for the key.
                child = self.convert(value_node, child_path, depth + 1, key_node.start_mark.line + 1)
                children[key] = replace(child, line=key_node.start_mark.line + 1)
            return Node(children, path, self.file, line, "mapping", node.tag)
        if isinstance(node, yaml.SequenceNode):
            items = [self.convert(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node.value)]
            return Node(items, path, self.file, line, "sequence", node.tag)
        return Node(self._scalar(node, path, line), path, self.file, line, "scalar", node.tag)

    def _scalar(self, node: Any, path: str, line: int) -> Any:
        import yaml

        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(f"{self.file}:{line}: {path}: {problem}") from exc
