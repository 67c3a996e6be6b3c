"""``shipflow.release`` declares its API and loads it on first use (PEP 562). Two names,
``release`` and ``history``, are also submodules; Python binds a submodule on its package when it
is imported, which would make ``from shipflow.release import history`` give the module once any
code had run ``from shipflow.release.history import …`` (the defect ``shipflow.signing`` had)."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator

import pytest

import shipflow


def _ours(name: str) -> bool:
    return name == "shipflow.release" or name.startswith("shipflow.release.")


@pytest.fixture
def fresh_release() -> Iterator[None]:
    saved = {k: v for k, v in sys.modules.items() if _ours(k)}
    for name in saved:
        del sys.modules[name]
    try:
        yield
    finally:
        for name in [k for k in sys.modules if _ours(k)]:
            del sys.modules[name]
        sys.modules.update(saved)
        if "shipflow.release" in saved:
            shipflow.release = saved["shipflow.release"]  # type: ignore[attr-defined]
        else:
            vars(shipflow).pop("release", None)


def test_importing_the_package_loads_nothing_else(fresh_release: None) -> None:
    importlib.import_module("shipflow.release")
    assert sorted(k for k in sys.modules if _ours(k)) == ["shipflow.release"]


def test_submodules_imported_first_do_not_hide_their_functions(fresh_release: None) -> None:
    entry = importlib.import_module("shipflow.release.history").HistoryEntry
    importlib.import_module("shipflow.release.release")
    package = importlib.import_module("shipflow.release")
    for name in ("release", "history"):
        value = getattr(package, name)
        assert not isinstance(value, types.ModuleType) and value.__name__ == name, value
    assert package.HistoryEntry is entry
    assert sys.modules["shipflow.release.history"].history is package.history


def test_every_declared_name_resolves(fresh_release: None) -> None:
    package = importlib.import_module("shipflow.release")
    for name in package.__all__:
        value = getattr(package, name)
        assert callable(value) and not isinstance(value, types.ModuleType), name
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        package.nonexistent  # noqa: B018
