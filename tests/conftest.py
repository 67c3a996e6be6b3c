"""Shared test configuration.

Every real service is a fixture plugin under tests/fixtures/. Each test's tier is the first
directory under tests/ it lives in, and becomes its marker, so a tier can be run by path or by
marker (``pytest tests/unit`` is the same run as ``pytest -m unit``):

    unit/         pure logic: no sockets, no subprocesses, no services (tests/unit/conftest.py
                  enforces it)
    integration/  real local services started by fixtures (registry, PostgreSQL, buildah, HTTP)
    interop/      an independent implementation checks our output or makes our input
    e2e/          the ``shipflow`` command as a user runs it
    reliability/  faults, fuzzing, sentinel secrets, concurrent writers
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "fixtures.registry",
    "fixtures.peers",
    "fixtures.images",
    "fixtures.faults",
    "fixtures.hostile",
    "fixtures.tokenserver",
    "fixtures.canary_services",
    "fixtures.postgres",
    "fixtures.example",
]

TIERS = ("unit", "integration", "interop", "e2e", "reliability")
_TESTS = Path(__file__).resolve().parent


def tier_of(path: Path) -> str | None:
    try:
        first = Path(path).resolve().relative_to(_TESTS).parts[0]
    except (ValueError, IndexError):
        return None
    return first if first in TIERS else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item.path)
        if tier is None:
            raise pytest.UsageError(
                f"{item.nodeid} is not in a tier directory; put it under tests/{{{','.join(TIERS)}}}/"
            )
        item.add_marker(getattr(pytest.mark, tier))
