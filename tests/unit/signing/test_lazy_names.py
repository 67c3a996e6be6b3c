"""``shipflow.signing`` loads its names on first use (PEP 562). Two of them, ``sign`` and
``verify``, are also the names of submodules: importing ``shipflow.signing.sign`` for ``attest``
set the package's ``sign`` to the submodule, so ``from shipflow.signing import attest, sign``
gave a module for ``sign`` (23 tests of ``tests/integration/test_signing_stores.py`` and two of
``tests/unit/signing/test_gate.py``, run with the rest of the directory, failed with "'module'
object is not callable", depending on which test module imported what first)."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator

import pytest

import shipflow


@pytest.fixture
def fresh_signing() -> Iterator[None]:
    """``shipflow.signing`` imported anew for the test; the original modules put back after."""
    saved = {
        k: v for k, v in sys.modules.items() if k == "shipflow.signing" or k.startswith("shipflow.signing.")
    }
    for name in saved:
        del sys.modules[name]
    try:
        yield
    finally:
        for name in [k for k in sys.modules if k == "shipflow.signing" or k.startswith("shipflow.signing.")]:
            del sys.modules[name]
        sys.modules.update(saved)
        shipflow.signing = saved["shipflow.signing"]  # type: ignore[attr-defined]


def test_names_shadowed_by_their_submodules_are_the_functions(fresh_signing: None) -> None:
    from shipflow.signing import attest, sign, verify, verify_report

    for value in (attest, sign, verify, verify_report):
        assert callable(value) and not isinstance(value, types.ModuleType), value
    assert sign.__module__ == "shipflow.signing.sign" and verify.__module__ == "shipflow.signing.verify"


def test_a_submodule_imported_directly_does_not_hide_its_function(fresh_signing: None) -> None:
    # What any module's ``from shipflow.signing.sign import attest`` does first: binds the submodule.
    attest = importlib.import_module("shipflow.signing.sign").attest
    verify_report = importlib.import_module("shipflow.signing.verify").verify_report
    signing = importlib.import_module("shipflow.signing")
    sign, verify = signing.sign, signing.verify

    assert callable(attest) and callable(verify_report)
    assert not isinstance(sign, types.ModuleType) and sign.__name__ == "sign"
    assert not isinstance(verify, types.ModuleType) and verify.__name__ == "verify"
    assert sys.modules["shipflow.signing.sign"].attest is attest
