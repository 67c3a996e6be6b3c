"""A package's exported names, imported from their modules on first use (PEP 562).

Importing ``shipflow.oci`` (or ``sbom``, ``scan``, …) must not import what a command does not
use — the registry client is httpx (≈ 0.1 s), the SBOM writers and report formats are more —
so each package lists where its names live and hands that table to :func:`lazy_names`::

    _MODULE_OF = {"open_image": "shipflow.oci.open", "Store": "shipflow.oci.store"}
    __getattr__, __dir__ = lazy_names(__name__, _MODULE_OF)

A module may be given relative to the package (``".client"``). A name that is also the name of
a submodule (``shipflow.signing.sign``, ``shipflow.release.history``) stays the function: Python
binds a submodule on its package when it is imported, which would otherwise make ``from
shipflow.signing import sign`` return the module once any code had imported the submodule.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


class _LazyPackage(types.ModuleType):
    """The module type of a package with lazy names: a submodule bound under the name of one of
    its own exports is replaced by that export (the submodule stays in ``sys.modules``)."""

    _shipflow_module_of: Mapping[str, str]

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType):
            home = self.__dict__.get("_shipflow_module_of", {}).get(name)
            if home is not None and value.__name__ == home:
                value = getattr(value, name)
        super().__setattr__(name, value)


def lazy_names(
    package: str, module_of: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose names live in ``module_of``."""
    homes = {
        name: package + module if module.startswith(".") else module for name, module in module_of.items()
    }
    module = sys.modules[package]
    namespace = module.__dict__
    namespace["_shipflow_module_of"] = homes
    module.__class__ = _LazyPackage

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__
