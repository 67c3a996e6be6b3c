"""The runtime dependencies in pyproject.toml are exactly the distributions ``src/`` imports:
nothing a test or a validator needs rides along into users' installs, and nothing ``src/``
imports is missing."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from support.paths import TESTS_DIR

ROOT = TESTS_DIR.parent


def _imported_top_level_modules() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "src" / "shipflow").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return {n for n in names if n != "shipflow" and n not in sys.stdlib_module_names}


def test_runtime_dependencies_are_what_src_imports() -> None:
    declared = {
        canonicalize_name(Requirement(text).name)
        for text in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    distributions = packages_distributions()
    imported: set[str] = set()
    for module in _imported_top_level_modules():
        owners = distributions.get(module)
        assert owners, f"src/ imports {module!r}, which no installed distribution provides"
        imported.update(canonicalize_name(owner) for owner in owners)
    assert imported - declared == set(), "imported by src/ but not a runtime dependency"
    assert declared - imported == set(), "runtime dependency that src/ never imports (move it to an extra)"


def test_every_runtime_dependency_has_a_lower_bound() -> None:
    for text in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(text)
        assert any(spec.operator == ">=" for spec in requirement.specifier), f"{text} has no lower bound"
