"""Faults in front of the canary's health endpoint and the rollback webhook (real HTTP servers,
each behind a fault proxy of its own; the registry is reached without faults).

The health endpoint answering 503, a login page, 429s, nothing at all (a stall longer than the
check timeout) or resets is a sick canary: ``shipflow canary`` rolls back (exit 1), ``:canary``
names the previous digest again and the history has both moves. A fault on one check in three
is below the trip rule (3 consecutive failures): the canary passes. Run again without faults,
the canary completes. The default run takes four health and two webhook scenarios;
``SHIPFLOW_FAULT_MATRIX=full`` all of them.

The webhook failing (500 on every POST, no answer, the connection dropped) never delays or
stops the rollback: exit 1, the previous digest serves, the failure is reported on stderr,
and the webhook's token (in its path) is in no output.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fixtures.faults import Fault, FaultProxyFactory
from fixtures.registry import Registry
from reliability import tally
from reliability.conftest import WEBHOOK_TOKEN
from reliability.world import TRACEBACK, Endpoints, Run, World, run
from support.cli import InProcessCli

# The first three checks (the candidate's) meet the fault; the recovery checks of the previous
# version after the rollback do not. "503-permanent": the previous version is sick too.
HEALTH = {
    "503": (Fault("status", None, "", status=503, times=3),),
    "html": (Fault("html", None, "", times=3),),
    "429-retry-after": (Fault("throttle", None, "", retry_after=1, times=3),),
    "stall": (Fault("stall", None, "", stall_seconds=2.0, times=3),),
    "reset": (Fault("reset", None, "", times=3),),
    "drop-every-3rd": (Fault("drop", None, "", every=3),),
    "503-permanent": (Fault("status", None, "", status=503, times=None),),
}
WEBHOOK = {
    "500": (Fault("status", "POST", "", status=500, times=None),),
    "stall": (Fault("stall", "POST", "", stall_seconds=6.0, times=None),),
    "drop": (Fault("drop", "POST", "", times=None),),
}


def _canary_world(
    tmp_path: Path, registry: Registry, fault_proxy: FaultProxyFactory, endpoints: Endpoints, name: str
) -> tuple[World, str, str]:
    world = World(tmp_path, registry, fault_proxy, f"endpoints/{name}", endpoints)
    p, d = world.image("p"), world.image("d")
    world.store.tag(p, "canary")
    world.entry("canary", p)
    return world, str(p), str(d)


def _check_rolled_back(world: World, result: Run, p: str, d: str) -> None:
    assert not TRACEBACK.search(result.text), result.text
    assert result.returncode == 1, result.text
    assert result.stdout.startswith("⏪ rolled back"), result.stdout
    assert f"deployed: :canary names {p}" in result.stdout, result.stdout
    state = world.state()
    assert state.env("canary") == p
    assert state.entries("canary") == [
        (p, "promote", "ok"),
        (d, "canary", "rolled-back"),
        (p, "auto-rollback", "ok"),
    ]
    assert world.proxy.non_idempotent_retries() == []


# The default run (CI) takes these; SHIPFLOW_FAULT_MATRIX=full (or a long hypothesis profile) all.
DEFAULT_HEALTH = ("503", "stall", "drop-every-3rd", "503-permanent")
DEFAULT_WEBHOOK = ("500", "stall")


def _chosen(every: dict[str, object], default: tuple[str, ...]) -> list[str]:
    full = os.environ.get("SHIPFLOW_FAULT_MATRIX") == "full" or os.environ.get("HYPOTHESIS_PROFILE") in (
        "medium",
        "long",
    )
    return list(every) if full else [name for name in every if name in default]


@pytest.mark.parametrize("scenario", _chosen(HEALTH, DEFAULT_HEALTH))
def test_health_endpoint_faults(
    scenario: str,
    tmp_path: Path,
    registry: Registry,
    fault_proxy: FaultProxyFactory,
    endpoints: Endpoints,
    shipflow: InProcessCli,
) -> None:
    world, p, d = _canary_world(tmp_path, registry, fault_proxy, endpoints, f"health-{scenario}")
    argv = ["canary", "--digest", d, "--actor", "lead-1"]
    try:
        endpoints.health.set_scenario(*HEALTH[scenario])
        result = run(shipflow, world, argv)
        injected = endpoints.health.injected
        endpoints.health.clear()
        assert injected, "no health check met the fault"
        if scenario == "drop-every-3rd":
            assert result.returncode == 0, result.text
            assert world.state().env("canary") == d
            rerun = result
        elif scenario == "503-permanent":
            # Rolled back, but the previous version never answered healthy: exit 3, and what
            # is deployed is said plainly.
            assert not TRACEBACK.search(result.text) and result.returncode == 3, result.text
            assert result.stdout.startswith("🚨 rollback failed") and "(state unknown)" in result.stdout
            state = world.state()
            assert state.env("canary") == p
            assert state.entries("canary") == [
                (p, "promote", "ok"),
                (d, "canary", "failed"),
                (p, "auto-rollback", "incomplete"),
            ]
            rerun = run(shipflow, world, argv)
            assert rerun.returncode == 0, rerun.text
            assert world.state().env("canary") == d
        else:
            _check_rolled_back(world, result, p, d)
            assert len(endpoints.receiver.received) == 1
            assert endpoints.receiver.received[0].json()["verdict"] == "rolled-back"
            rerun = run(shipflow, world, argv)
            assert rerun.returncode == 0, rerun.text
            state = world.state()
            assert state.env("canary") == d and state.entries("canary")[-1] == (d, "canary", "ok")
        tally.fault_case(
            f"health:{scenario}",
            "canary",
            outcome="completed" if result.returncode == 0 else f"exit {result.returncode}",
            faults=len(injected),
            kinds=sorted({str(r.fault) for r in injected}),
            rerun="completed" if rerun.returncode == 0 else f"exit {rerun.returncode}",
            message=result.stdout.strip().splitlines()[0],
        )
    finally:
        world.close()


@pytest.mark.parametrize("scenario", _chosen(WEBHOOK, DEFAULT_WEBHOOK))
def test_webhook_faults_never_stop_a_rollback(
    scenario: str,
    tmp_path: Path,
    registry: Registry,
    fault_proxy: FaultProxyFactory,
    endpoints: Endpoints,
    shipflow: InProcessCli,
) -> None:
    world, p, d = _canary_world(tmp_path, registry, fault_proxy, endpoints, f"webhook-{scenario}")
    try:
        endpoints.health.set_scenario(*HEALTH["503"])  # a sick canary: the rollback notifies
        endpoints.webhook.set_scenario(*WEBHOOK[scenario])
        started = time.monotonic()
        result = run(shipflow, world, ["-v", "canary", "--digest", d, "--actor", "lead-1"])
        seconds = time.monotonic() - started
        injected = endpoints.webhook.injected
        endpoints.webhook.clear()
        endpoints.health.clear()
        assert injected, "the webhook was never called"
        _check_rolled_back(world, result, p, d)
        # The notify timeout (3 s) bounds the wait for the webhook; generous bound for a shared machine.
        assert seconds < 60, seconds
        # The delivery's failure is the last line: "webhook http://HOST/…: HTTP 500: …", "…: no
        # answer within 3s" or the connection error (the path, with its token, is never shown).
        said = [line for line in result.stderr.splitlines() if line.startswith("webhook http://")]
        assert said and "/…: " in said[-1] and "answered 2" not in said[-1], result.stderr
        assert WEBHOOK_TOKEN not in result.text
        tally.fault_case(
            f"webhook:{scenario}",
            "canary",
            outcome=f"exit {result.returncode}",
            faults=len(injected),
            kinds=sorted({str(r.fault) for r in injected}),
            rerun="not needed (rolled back)",
            message=result.stdout.strip().splitlines()[0],
        )
    finally:
        world.close()
