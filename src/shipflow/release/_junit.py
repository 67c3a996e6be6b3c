"""Summaries of JUnit XML reports that smoke and contract commands write.

Parsed with defusedxml (entity expansion and external references refused) after a size check;
the summary (tests, failures, errors, skipped, time, and the first failures' names and
messages) goes into the gate's evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipflow.errors import UsageError
from shipflow.fsutil import read_capped

__all__ = ["summarise_junit"]

MAX_JUNIT_BYTES = 32 * 1024 * 1024
_LISTED_FAILURES = 10


def summarise_junit(path: Path) -> dict[str, Any]:
    """Counts and the first failures; a missing or unreadable report is itself reported."""
    if not path.exists():
        return {
            "path": str(path),
            "tests": 0,
            "failures": 0,
            "errors": 1,
            "skipped": 0,
            "problem": "not written",
        }
    import defusedxml.ElementTree as safe_xml
    from defusedxml import DefusedXmlException

    try:
        data = read_capped(path, MAX_JUNIT_BYTES, what="JUnit report")
        root = safe_xml.fromstring(data)
    except (UsageError, DefusedXmlException, SyntaxError, ValueError) as exc:
        return _unreadable(path, getattr(exc, "message", None) or str(exc))
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    seconds = 0.0
    failed: list[dict[str, str]] = []
    for suite in suites:
        for case in suite.iter("testcase"):
            totals["tests"] += 1
            seconds += _float(case.get("time"))
            for kind in ("failure", "error"):
                problem = case.find(kind)
                if problem is not None:
                    totals["failures" if kind == "failure" else "errors"] += 1
                    if len(failed) < _LISTED_FAILURES:
                        failed.append(
                            {
                                "name": f"{case.get('classname', '')}.{case.get('name', '')}".strip("."),
                                "kind": kind,
                                "message": (problem.get("message") or (problem.text or ""))[:300],
                            }
                        )
            if case.find("skipped") is not None:
                totals["skipped"] += 1
    return {"path": str(path), **totals, "seconds": round(seconds, 3), "failed": failed}


def _unreadable(path: Path, problem: str) -> dict[str, Any]:
    # An unreadable report counts as one error: a gate must not pass on tests it cannot see.
    return {"path": str(path), "tests": 0, "failures": 0, "errors": 1, "skipped": 0, "problem": problem}


def _float(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0
