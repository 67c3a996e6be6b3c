"""The unit tier is pure logic: a unit test that opens a network connection, starts a
process or asks for a service fixture fails here, so ``pytest tests/unit`` stays a genuine
fast run with nothing started (httpx.MockTransport and tmp_path files are fine)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn
from unittest.mock import patch

import pytest

_UNIT_DIR = Path(__file__).resolve().parent

# Fixtures that start or need a real service; a unit test must not ask for them.
SERVICE_FIXTURES = frozenset(
    {
        "registry",
        "registry2",
        "registry_factory",
        "auth_registry",
        "referrers_registry",
        "token_registry",
        "fault_proxy",
        "hostile_server",
        "image_builder",
        "busybox_image",
        "multiarch_index",
        "crane_bin",
        "cosign_bin",
        "skopeo_bin",
        "umoci_bin",
        "buildah_bin",
        "postgres",
        "pg_target",
        "canary_service",
        "canary_images",
        "webhook_receiver",
        "subreaper",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        parameters = set(callspec.params) if callspec is not None else set()
        used = SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())) - parameters
        if used and _UNIT_DIR in item.path.parents:
            raise pytest.UsageError(
                f"{item.nodeid} is a unit test but uses {', '.join(sorted(used))}: "
                "move it to tests/integration, tests/interop or tests/e2e"
            )


def _refuse(what: str) -> NoReturn:
    raise AssertionError(f"unit tests must not {what}: move this test to another tier")


def _no_connect(self: socket.socket, address: Any) -> NoReturn:
    _refuse(f"open network connections (to {address!r})")


def _no_popen(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> NoReturn:
    _refuse(f"start processes ({args[0] if args else kwargs.get('args')!r})")


@contextmanager
def _guarded() -> Iterator[None]:
    with (
        patch.object(socket.socket, "connect", _no_connect),
        patch.object(socket.socket, "connect_ex", _no_connect),
        patch.object(subprocess.Popen, "__init__", _no_popen),
    ):
        yield


def _guard_unit(item: pytest.Item) -> Iterator[None]:
    # pytest calls these hooks through config.hook (for every test, not per directory), so
    # each checks that the item is a unit test. Tear-down is not guarded: the last test of a
    # run tears down session fixtures that other tiers set up (a registry, buildah storage).
    if _UNIT_DIR not in item.path.parents:
        return (yield)
    with _guarded():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    # Set-up too, so module- and session-scoped fixtures of unit tests keep the same rule.
    return (yield from _guard_unit(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _guard_unit(item))
