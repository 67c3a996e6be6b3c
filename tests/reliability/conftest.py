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

import pytest
from hypothesis import HealthCheck, settings

from reliability.fuzzing import COUNTS, FINDINGS

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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
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
