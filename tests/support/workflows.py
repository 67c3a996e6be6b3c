"""The ``run:`` steps of a GitHub Actions workflow, with the environment each would see.

For tests that run the generated workflows' shell steps on this machine (against the local
registry) the way a runner would::

    for step in run_steps(Path(".github/workflows/build-and-sign.yml").read_text()):
        env = step.environment(context)            # workflow env < job env < step env, evaluated
        subprocess.run(["bash", "-e", "-c", step.run], env={**os.environ, **env}, ...)

``context`` holds what ``${{ … }}`` may refer to: ``{"secrets": {...}, "inputs": {...},
"github": {"actor": ..., "token": ...}, "steps": {"release": {"outputs": {...}}},
"runner": {"temp": ...}}``. :func:`evaluate` understands the expression forms the generated
workflows use: property paths (``secrets.NAME``, ``steps.ID.outputs.NAME``), string literals,
``||`` and ``&&`` (with GitHub's truthiness: empty string and missing values are false),
``==``/``!=`` between two operands, ``!``, ``always()``/``success()``, and
``hashFiles(...)`` (as a non-empty marker when the file exists). Anything else raises, so a
test never silently runs a step with a wrong value.

``uses:`` steps (checkout, setup-python, upload-artifact…) are listed with ``uses`` set and
``run`` empty: a local runner skips or imitates them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Step", "evaluate", "expand", "run_steps", "triggers"]

_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_TOKEN = re.compile(r"\s*(\|\||&&|==|!=|!|\(|\)|,|'(?:[^']|'')*'|[A-Za-z_][A-Za-z0-9_.\-]*(?:\(\))?|\d+)")


@dataclass(frozen=True)
class Step:
    """One step of one job, with the ``env:`` mappings that apply to it (not yet evaluated)."""

    job: str
    index: int
    name: str
    id: str | None
    run: str
    uses: str | None
    if_condition: str | None
    shell: str | None
    working_directory: str | None
    env_layers: tuple[Mapping[str, Any], ...] = field(default=())  # workflow, job, step

    def raw_env(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for layer in self.env_layers:
            merged.update({str(k): str(v) for k, v in layer.items()})
        return merged

    def environment(self, context: Mapping[str, Any]) -> dict[str, str]:
        """The step's environment with every ``${{ … }}`` evaluated against ``context``."""
        return {name: expand(value, context) for name, value in self.raw_env().items()}


def triggers(document: Mapping[Any, Any]) -> Any:
    """The ``on:`` section (PyYAML reads the bare key ``on`` as the boolean True)."""
    return document.get("on", document.get(True))


def run_steps(workflow: str) -> list[Step]:
    """Every step of every job of ``workflow`` (YAML text), in order."""
    document = yaml.safe_load(workflow)
    top_env = document.get("env") or {}
    steps: list[Step] = []
    for job_name, job in (document.get("jobs") or {}).items():
        job_env = job.get("env") or {}
        for index, step in enumerate(job.get("steps") or []):
            steps.append(
                Step(
                    job=str(job_name),
                    index=index,
                    name=str(step.get("name") or step.get("uses") or f"step {index}"),
                    id=step.get("id"),
                    run=str(step.get("run") or ""),
                    uses=step.get("uses"),
                    if_condition=step.get("if"),
                    shell=step.get("shell"),
                    working_directory=step.get("working-directory"),
                    env_layers=(top_env, job_env, step.get("env") or {}),
                )
            )
    return steps


def expand(text: str, context: Mapping[str, Any]) -> str:
    """``text`` with every ``${{ expression }}`` replaced by its value as a string."""
    return _EXPR.sub(lambda m: _to_string(evaluate(m.group(1), context)), text)


def _to_string(value: Any) -> str:
    if value is None or value is False:
        return "" if value is None else "false"
    if value is True:
        return "true"
    return str(value)


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """The value of one expression (see the module docstring for what is understood)."""
    tokens = _tokenize(expression)
    parser = _Parser(tokens, context)
    value = parser.parse_or()
    if parser.pos != len(tokens):
        raise ValueError(f"cannot evaluate {expression!r}: unexpected {tokens[parser.pos]!r}")
    return value


def _tokenize(expression: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    while pos < len(expression):
        if expression[pos:].strip() == "":
            break
        match = _TOKEN.match(expression, pos)
        if match is None:
            raise ValueError(f"cannot evaluate {expression!r} at {expression[pos:]!r}")
        tokens.append(match.group(1))
        pos = match.end()
    return tokens


def _truthy(value: Any) -> bool:
    return value not in (None, "", False, 0)


class _Parser:
    def __init__(self, tokens: list[str], context: Mapping[str, Any]) -> None:
        self.tokens, self.context, self.pos = tokens, context, 0

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> str:
        token = self._peek()
        if token is None or (expected is not None and token != expected):
            raise ValueError(f"expected {expected or 'a value'}, got {token!r}")
        self.pos += 1
        return token

    def parse_or(self) -> Any:
        value = self.parse_and()
        while self._peek() == "||":
            self._take()
            right = self.parse_and()
            value = value if _truthy(value) else right
        return value

    def parse_and(self) -> Any:
        value = self.parse_compare()
        while self._peek() == "&&":
            self._take()
            right = self.parse_compare()
            value = right if _truthy(value) else value
        return value

    def parse_compare(self) -> Any:
        value = self.parse_unary()
        if self._peek() in ("==", "!="):
            op = self._take()
            right = self.parse_unary()
            equal = _to_string(value) == _to_string(right)
            return equal if op == "==" else not equal
        return value

    def parse_unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not _truthy(self.parse_unary())
        if self._peek() == "(":
            self._take()
            value = self.parse_or()
            self._take(")")
            return value
        return self.parse_atom()

    def parse_atom(self) -> Any:
        token = self._take()
        if token.startswith("'"):
            return token[1:-1].replace("''", "'")
        if token.isdigit():
            return int(token)
        if token in ("true", "false"):
            return token == "true"
        if token in ("always()", "success()"):
            return True
        if token == "hashFiles" and self._peek() == "(":
            self._take("(")
            names = [self.parse_atom()]
            while self._peek() == ",":
                self._take()
                names.append(self.parse_atom())
            self._take(")")
            workspace = Path(str(self.context.get("workspace", ".")))
            return "hash" if any((workspace / str(n)).exists() for n in names) else ""
        return self._lookup(token)

    def _lookup(self, path: str) -> Any:
        value: Any = self.context
        for part in path.split("."):
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value
