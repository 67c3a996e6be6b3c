"""The reliability tier's fuzzing set-up: hypothesis profiles and the count of examples run.

Profiles (``HYPOTHESIS_PROFILE``):

* ``fast`` (default, what CI runs): 40 examples per parser, no example database, so
  ``pytest tests/reliability`` takes a minute or two on a shared machine;
* ``medium``: 500 examples per parser (a few minutes);
* ``long``: 5 000 examples per parser, with hypothesis' example database in ``.hypothesis/``
  (failures found once are replayed first next time). For a long run::

      HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/reliability -q -p no:randomly

Every example runs under a hard per-example deadline (SIGALRM, see ``fuzzing.check``), so a
parser that loops forever fails the test with the input that made it hang, and under a
memory bound (tracemalloc peak). At the end of the session the number of examples run per
parser is printed (and written as JSON to ``$SHIPFLOW_FUZZ_REPORT`` when set), the figure
``docs/reliability.md`` records.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from fixtures.canary_services import CanaryService, WebhookReceiver
from fixtures.faults import FaultProxyFactory
from reliability import tally
from reliability.fuzzing import COUNTS, FINDINGS
from reliability.world import Endpoints, Host
from shipflow.oci.registry.client import RegistryClient
from support.cli import InProcessCli

_COMMON = {
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    # No soft deadline: on shared machines a slow example is not a bug, and hypothesis' deadline
    # failures are flaky there. The per-example limit is the hard one in fuzzing.check
    # (SIGALRM after EXAMPLE_SECONDS), which also stops a real hang, with its input.
    "deadline": None,
    "print_blob": True,
}
settings.register_profile("fast", max_examples=40, database=None, **_COMMON)
settings.register_profile("medium", max_examples=500, **_COMMON)
settings.register_profile("long", max_examples=5000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


WEBHOOK_TOKEN = "sentinel-webhook-token-7f3a"


@pytest.fixture
def shipflow(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[InProcessCli]:
    """The ``shipflow`` command run in this process, in an environment without CI variables."""
    for name in (
        "GITHUB_ACTIONS",
        "GITHUB_ACTOR",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "COSIGN_PRIVATE_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith(("SHIPFLOW_", "ROLLBACK_", "CANARY_", "REGISTRY_")):
            monkeypatch.delenv(name)
    yield InProcessCli(monkeypatch, capsys)
    RegistryClient.close_shared()


@pytest.fixture
def endpoints(fault_proxy: FaultProxyFactory) -> Iterator[Endpoints]:
    """A healthy canary service and a webhook receiver, each behind a fault proxy of its own."""
    service = CanaryService("healthy").start()
    receiver = WebhookReceiver("ok")
    made = Endpoints(
        service,
        fault_proxy(Host(f"127.0.0.1:{service.port}")),
        receiver,
        fault_proxy(Host(f"127.0.0.1:{receiver.port}")),
        token=WEBHOOK_TOKEN,
    )
    yield made
    service.close()
    receiver.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    _report_faults_and_sentinels(terminalreporter)
    if not COUNTS:
        return
    total = sum(COUNTS.values())
    terminalreporter.section(
        f"fuzzing: {total} examples ({settings().max_examples} per test, profile "
        f"{os.environ.get('HYPOTHESIS_PROFILE', 'fast')})"
    )
    for target, count in sorted(COUNTS.items()):
        terminalreporter.write_line(f"{count:>8}  {target}")
    for finding in sorted(FINDINGS):
        terminalreporter.write_line(f"known finding (reported, see docs/reliability.md): {finding}")
    report = os.environ.get("SHIPFLOW_FUZZ_REPORT")
    if report:
        with open(report, "w", encoding="utf-8") as handle:
            json.dump(
                {"total": total, "perTarget": dict(sorted(COUNTS.items())), "known": sorted(FINDINGS)},
                handle,
                indent=2,
            )


_INVARIANT_TESTS = ("test_faults_", "test_fault_regressions", "test_concurrency")


def _outcomes(terminalreporter: pytest.TerminalReporter) -> dict[str, object]:
    """From the session's own test reports: failed tests of the fault, regression and
    concurrency files (each a broken invariant), and the hostile-input tests run (any test
    file named ``*hostile*`` in the session, each case one hostile input or a small set)."""

    def nodeids(outcome: str) -> list[str]:
        return [
            r.nodeid for r in terminalreporter.stats.get(outcome, []) if getattr(r, "when", "call") == "call"
        ]

    failed, passed = nodeids("failed"), nodeids("passed")
    return {
        "invariantViolations": sum(1 for n in failed if any(t in n for t in _INVARIANT_TESTS)),
        "hostileInputs": {
            "passed": sum(1 for n in passed if "hostile" in n.split("::")[0]),
            "failed": sum(1 for n in failed if "hostile" in n.split("::")[0]),
        },
    }


def _report_faults_and_sentinels(terminalreporter: pytest.TerminalReporter) -> None:
    """Faults injected (per scenario x command, with each run's outcome), sentinel searches and
    concurrent-writer rounds; as JSON (with the fuzz counts) to $SHIPFLOW_RELIABILITY_REPORT."""
    data = tally.summary(_outcomes(terminalreporter))
    if tally.FAULT_CASES:
        faults = data["faults"]
        terminalreporter.section(
            f"faults: {faults['injected']} injected in {faults['cases']} scenario x command runs"
        )
        for case in tally.FAULT_CASES:
            terminalreporter.write_line(
                f"{case['faults']:>5}  {case['scenario']:<22} {case['command']:<9} "
                f"{case['outcome']:<10} re-run {case['rerun']}"
            )
    if tally.SENTINEL_RUNS:
        terminalreporter.section(
            f"sentinel secrets: {data['sentinels']['searches']} searches in {data['sentinels']['runs']} "
            f"command runs, {data['sentinels']['leaks']} leaks"
        )
        for place, count in sorted(tally.SENTINELS.items()):
            terminalreporter.write_line(f"{count:>6}  {place}")
    hostile = data["hostileInputs"]
    terminalreporter.write_line(
        "invariant violations (failed fault, regression and concurrency tests): "
        f"{data['invariantViolations']}; hostile-input tests passed: {hostile['passed']} "
        f"(failed {hostile['failed']})"
    )
    for item in tally.CONCURRENCY:
        terminalreporter.write_line(f"concurrency: {json.dumps(item, sort_keys=True)}")
    report = os.environ.get("SHIPFLOW_RELIABILITY_REPORT")
    if report:
        data["fuzz"] = {"total": sum(COUNTS.values()), "perTarget": dict(sorted(COUNTS.items()))}
        with open(report, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
