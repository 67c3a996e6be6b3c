"""Judging one health answer: status, body assertions, version, errors."""

from __future__ import annotations

import json

import pytest

from shipflow.oci.digest import Digest
from shipflow.release.canary.probe import (
    MAX_BODY,
    CheckStatus,
    Observation,
    VersionExpectation,
    classify,
    version_matches,
)
from shipflow.release.canary.settings import Expectation, VersionCheck

D = Digest.of(b"candidate")


def answer(status: int = 200, body: object = None, *, truncated: bool = False) -> Observation:
    data = json.dumps(body).encode() if body is not None else b""
    return Observation(0.01, status=status, body=data, truncated=truncated)


def test_default_expectation_is_any_2xx() -> None:
    assert classify(answer(204), Expectation(), None, 0).status is CheckStatus.PASS
    verdict = classify(answer(503), Expectation(), None, 0)
    assert (verdict.status, verdict.kind, verdict.reason) == (
        CheckStatus.FAIL,
        "status",
        "status 503, expected 2xx",
    )
    assert classify(answer(301), Expectation(), None, 0).status is CheckStatus.FAIL


def test_explicit_statuses() -> None:
    expect = Expectation(statuses=frozenset({200}))
    assert classify(answer(204), expect, None, 0).reason == "status 204, expected 200"


def test_degraded_body_fails_with_the_reason() -> None:
    expect = Expectation(json=(("status", "ok"),))
    verdict = classify(answer(200, {"status": "degraded"}), expect, None, 0)
    assert verdict.status is CheckStatus.FAIL and verdict.kind == "body"
    assert verdict.reason == "status is 'degraded', expected 'ok'"
    assert classify(answer(200, {"status": "ok"}), expect, None, 0).status is CheckStatus.PASS


@pytest.mark.parametrize(
    ("body", "path", "wanted", "passes"),
    [
        ({"checks": {"db": "up"}}, "checks.db", "up", True),
        ({"checks": {"db": "down"}}, "checks.db", "up", False),
        ({"checks": [{"ok": True}]}, "checks.0.ok", True, True),
        ({"ok": 1}, "ok", True, False),  # 1 is not true
        ({"count": 3}, "count", 3.0, True),
        ({"other": 1}, "status", "ok", False),
    ],
)
def test_json_paths(body: object, path: str, wanted: object, passes: bool) -> None:
    verdict = classify(answer(200, body), Expectation(json=((path, wanted),)), None, 0)  # type: ignore[arg-type]
    assert (verdict.status is CheckStatus.PASS) is passes


def test_body_that_is_not_json_or_too_big() -> None:
    expect = Expectation(json=(("status", "ok"),))
    seen = Observation(0.01, status=200, body=b"<html>")
    assert classify(seen, expect, None, 0).reason == "body is not JSON"
    big = answer(200, {"status": "ok"}, truncated=True)
    assert classify(big, expect, None, 0).reason == f"body larger than {MAX_BODY} bytes: not judged"


def test_errors_are_errors_not_failures() -> None:
    timeout = Observation(0.5, error_kind="timeout", error="no complete answer within 0.5s")
    verdict = classify(timeout, Expectation(), None, 0)
    assert (verdict.status, verdict.kind) == (CheckStatus.ERROR, "timeout")
    assert verdict.status.failed


def test_old_version_is_pending_until_ready_within_then_fails() -> None:
    version = VersionExpectation(VersionCheck("version", ready_within=60.0), "2.0.0", D, old="1.0.0")
    old = answer(200, {"version": "1.0.0", "status": "ok"})
    early = classify(old, Expectation(), version, 59.9)
    assert early.status is CheckStatus.PENDING and early.version == "1.0.0"
    late = classify(old, Expectation(), version, 60.0)
    assert late.status is CheckStatus.FAIL and late.kind == "version"
    assert "'1.0.0' after ready_within (60s): expected '2.0.0'" in late.reason
    missing = classify(answer(200, {"status": "ok"}), Expectation(), version, 61)
    assert missing.status is CheckStatus.FAIL and "no version" in missing.reason
    assert classify(answer(200, {"version": "2.0.0"}), Expectation(), version, 0).status is CheckStatus.PASS


def test_a_wrong_status_fails_even_while_pending() -> None:
    version = VersionExpectation(VersionCheck("version", ready_within=60.0), "2.0.0", D)
    assert classify(answer(500, {"version": "1.0.0"}), Expectation(), version, 1).status is CheckStatus.FAIL


def test_version_matches_label_or_digest_forms() -> None:
    assert version_matches("2.0.0", "2.0.0", D)
    assert version_matches(str(D), "2.0.0", D)
    assert version_matches(D.hex, "2.0.0", D)
    assert version_matches(D.hex[:12], "2.0.0", D)
    assert not version_matches(D.hex[:11], "2.0.0", D)
    assert not version_matches("2.0.1", "2.0.0", D)
    assert not version_matches("", "", D)
