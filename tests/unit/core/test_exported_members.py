"""Each package's declared API (``__all__``) is exactly what it exports: every listed name
exists, and every public name a package defines or re-exports from shipflow is listed."""

from __future__ import annotations

import importlib
import types

import pytest

PACKAGES = [
    "shipflow",
    "shipflow.oci",
    "shipflow.signing",
    "shipflow.sbom",
    "shipflow.scan",
    "shipflow.release",
    "shipflow.build",
    "shipflow.gate",
    "shipflow.events",
    "shipflow.fsutil",
    "shipflow.timeutil",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_what_the_package_exports(name: str) -> None:
    module = importlib.import_module(name)
    declared = getattr(module, "__all__", None)
    assert declared is not None, f"{name} declares no __all__"
    assert len(declared) == len(set(declared)), f"{name}.__all__ has duplicates"
    for member in declared:
        assert hasattr(module, member), f"{name}.__all__ lists {member!r}, which does not exist"
    # A package exports what it re-exports from its own submodules; a module what it defines.
    is_package = hasattr(module, "__path__")
    exported = set()
    for member, value in vars(module).items():
        if member.startswith("_") or isinstance(value, types.ModuleType) or not callable(value):
            continue
        origin = getattr(value, "__module__", None)
        if not isinstance(origin, str):
            continue
        if origin == name or (is_package and name != "shipflow" and origin.startswith(name + ".")):
            exported.add(member)
    unlisted = sorted(exported - set(declared))
    assert not unlisted, f"{name} exports {unlisted} without listing them in __all__"
