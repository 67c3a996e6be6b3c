"""Counts the reliability tier reports at the end of a session (``conftest.py``) and writes to
``$SHIPFLOW_RELIABILITY_REPORT``: faults injected per scenario and command with the outcome of
each run, sentinel secrets checked (and leaks: always 0 in a passing run), concurrent-writer
rounds. The fuzz counts live in ``fuzzing.COUNTS``."""

from __future__ import annotations

from collections import Counter
from typing import Any

FAULT_CASES: list[dict[str, Any]] = []
SENTINELS: Counter[str] = Counter()  # place looked at -> times a sentinel was searched for there
SENTINEL_RUNS: list[dict[str, Any]] = []
CONCURRENCY: list[dict[str, Any]] = []


def fault_case(scenario: str, command: str, **data: Any) -> None:
    FAULT_CASES.append({"scenario": scenario, "command": command, **data})


def faults_injected() -> int:
    return sum(int(case["faults"]) for case in FAULT_CASES)


LEAKS: list[dict[str, str]] = []  # a sentinel found somewhere (the test then fails)


def sentinel_run(command: str, path: str, checked: dict[str, int], leaks: list[dict[str, str]]) -> None:
    SENTINEL_RUNS.append({"command": command, "path": path, "places": checked, "leaks": len(leaks)})
    SENTINELS.update(checked)
    LEAKS.extend(leaks)


def concurrency_round(test: str, **data: Any) -> None:
    CONCURRENCY.append({"test": test, **data})


def summary(outcomes: dict[str, Any] | None = None) -> dict[str, Any]:
    """The figures; ``outcomes`` (from the test session) adds invariant violations (failed
    fault, regression and concurrency tests) and hostile inputs tried (hostile-input tests)."""
    return {
        **(outcomes or {}),
        "faults": {
            "cases": len(FAULT_CASES),
            "injected": faults_injected(),
            "perCase": FAULT_CASES,
        },
        "sentinels": {
            "runs": len(SENTINEL_RUNS),
            "searches": sum(SENTINELS.values()),
            "perPlace": dict(sorted(SENTINELS.items())),
            "leaks": len(LEAKS),
            "leaked": LEAKS,
            "perRun": SENTINEL_RUNS,
        },
        "concurrency": CONCURRENCY,
    }
