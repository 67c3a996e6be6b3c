"""HttpProbe against real HTTP services: answers, hard deadlines, errors, bounded bodies."""

from __future__ import annotations

import time
from typing import Any

import pytest

from fixtures.procs import free_port
from shipflow.release.canary.probe import MAX_BODY, CheckStatus, HttpProbe, classify
from shipflow.release.canary.settings import Expectation

pytestmark = pytest.mark.integration


def test_healthy_answer(canary_service: Any) -> None:
    service = canary_service("healthy", version="2.0.0")
    seen = HttpProbe(service.url, timeout=2.0).probe()
    assert seen.error_kind is None and seen.status == 200
    assert b'"version": "2.0.0"' in seen.body
    assert classify(seen, Expectation(json=(("status", "ok"),)), None, 0).status is CheckStatus.PASS


def test_hanging_service_times_out_at_the_deadline(canary_service: Any) -> None:
    service = canary_service("hang")
    started = time.monotonic()
    seen = HttpProbe(service.url, timeout=0.3).probe()
    elapsed = time.monotonic() - started
    assert seen.error_kind == "timeout" and "0.3s" in (seen.error or "")
    assert 0.3 <= elapsed < 2.0  # generous: the point is that it ends, near its deadline


def test_a_dripping_body_hits_the_overall_deadline_not_a_per_read_one(canary_service: Any) -> None:
    service = canary_service("drip")  # a byte every 0.1 s: no single read ever waits 0.5 s
    started = time.monotonic()
    seen = HttpProbe(service.url, timeout=0.5).probe()
    elapsed = time.monotonic() - started
    assert seen.error_kind == "timeout"
    assert elapsed < 2.0  # the whole body would take 100 s


def test_connection_refused_is_an_error() -> None:
    seen = HttpProbe(f"http://127.0.0.1:{free_port()}/api/health", timeout=1.0).probe()
    assert seen.error_kind == "connection" and "connection refused" in (seen.error or "")
    assert classify(seen, Expectation(), None, 0).status is CheckStatus.ERROR


def test_big_body_is_cut_at_the_limit(canary_service: Any) -> None:
    service = canary_service("big")
    seen = HttpProbe(service.url, timeout=2.0).probe()
    assert seen.status == 200 and seen.truncated and len(seen.body) == MAX_BODY
    verdict = classify(seen, Expectation(json=(("status", "ok"),)), None, 0)
    assert verdict.status is CheckStatus.FAIL and "larger than" in verdict.reason


def test_redirects_are_not_followed(canary_service: Any) -> None:
    service = canary_service("redirect")
    seen = HttpProbe(service.url, timeout=2.0).probe()
    assert seen.status == 302
    assert classify(seen, Expectation(), None, 0).status is CheckStatus.FAIL


def test_each_check_opens_a_fresh_connection(canary_service: Any) -> None:
    service = canary_service("flap")
    probe = HttpProbe(service.url, timeout=2.0)
    statuses = [probe.probe().status for _ in range(4)]
    assert statuses == [200, 500, 200, 500]
    assert service.requests == 4


def test_headers_are_sent(canary_service: Any) -> None:
    service = canary_service("healthy")
    seen_headers: dict[str, str] = {}
    original = service.answer

    def spy(handler: Any) -> None:
        seen_headers.update(dict(handler.headers.items()))
        original(handler)

    service.answer = spy
    HttpProbe(service.url, timeout=2.0, headers={"Authorization": "Bearer abc"}).probe()
    assert seen_headers["Authorization"] == "Bearer abc"
    assert seen_headers["Accept-Encoding"] == "identity"
