"""The watch loop on a fake clock: schedule, trip rules, the end of the duration."""

from __future__ import annotations

import json
import threading

import pytest

from fixtures.canary_fakes import FakeClock
from shipflow.events import RecordingSink
from shipflow.oci.digest import Digest
from shipflow.release.canary.probe import CheckStatus, Observation, VersionExpectation
from shipflow.release.canary.settings import CanarySettings, FlapRule, VersionCheck
from shipflow.release.canary.watch import TripRule, WatchOutcome, watch

URL = "http://canary.test/api/health"
OK = Observation(0.01, status=200, body=b'{"status": "ok"}')
BAD = Observation(0.01, status=500, body=b"")


class Script:
    """A probe that answers from a list (the last answer repeats), advancing the clock."""

    def __init__(self, clock: FakeClock, answers: list[Observation]) -> None:
        self.clock = clock
        self.answers = answers
        self.calls: list[float] = []

    def probe(self) -> Observation:
        self.calls.append(self.clock.now)
        answer = self.answers[min(len(self.calls) - 1, len(self.answers) - 1)]
        self.clock.advance(answer.latency)
        return answer


def settings(**kw: object) -> CanarySettings:
    base: dict[str, object] = {"health_url": URL, "interval": 1.0, "duration": 10.0, "timeout": 0.5}
    base.update(kw)
    return CanarySettings(**base)  # type: ignore[arg-type]


def run(
    clock: FakeClock,
    probe: Script,
    s: CanarySettings,
    version: VersionExpectation | None = None,
    stop: threading.Event | None = None,
):  # type: ignore[no-untyped-def]
    sink = RecordingSink()
    result = watch(
        probe=probe,
        settings=s,
        version=version,
        clock=clock,
        sleep=clock.sleep,
        stop=stop or threading.Event(),
        events=sink,
    )
    return result, sink


@pytest.mark.parametrize("threshold", [1, 2, 3, 5])
def test_trips_after_exactly_threshold_consecutive_failures(threshold: int) -> None:
    clock = FakeClock()
    answers = [OK, OK, BAD, OK] + [BAD] * 10
    probe = Script(clock, answers)
    result, _ = run(clock, probe, settings(failure_threshold=threshold, duration=30.0))
    assert result.outcome == WatchOutcome.TRIPPED
    assert result.trip is not None and result.trip.rule == "consecutive"
    # The single BAD at check 3 never trips (unless the threshold is 1); the run from check 5 does.
    first_bad_run = 3 if threshold == 1 else 5
    assert len(result.checks) == first_bad_run + threshold - 1
    assert result.trip.failures == tuple(range(first_bad_run, first_bad_run + threshold))
    assert [c.status for c in result.checks[-threshold:]] == [CheckStatus.FAIL] * threshold


def test_never_trips_one_check_early() -> None:
    clock = FakeClock()
    probe = Script(clock, [BAD, BAD, OK] * 20)
    result, _ = run(clock, probe, settings(failure_threshold=3, duration=20.0))
    assert result.outcome == WatchOutcome.PASSED
    assert result.trip is None


def test_checks_are_scheduled_on_the_clock_not_after_the_previous_check() -> None:
    clock = FakeClock()
    slow = Observation(0.4, status=200, body=b"")
    probe = Script(clock, [slow])
    result, _ = run(clock, probe, settings(interval=1.0, duration=5.0, timeout=0.5))
    start = probe.calls[0]
    assert [round(t - start, 6) for t in probe.calls] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert result.outcome == WatchOutcome.PASSED
    assert result.missed_slots == 0


def test_an_overrunning_check_skips_slots_instead_of_bursting() -> None:
    clock = FakeClock()
    stall = Observation(2.5, status=200, body=b"")  # the machine stalled: longer than the timeout
    probe = Script(clock, [OK, stall, OK])
    result, _ = run(clock, probe, settings(interval=1.0, duration=6.0))
    start = probe.calls[0]
    assert [round(t - start, 6) for t in probe.calls][:4] == [0.0, 1.0, 4.0, 5.0]
    assert result.missed_slots == 2


def test_flapping_service_survives_consecutive_rule_and_trips_flap_rule() -> None:
    clock = FakeClock()
    probe = Script(clock, [OK, BAD] * 30)  # never two failures in a row
    plain, _ = run(clock, probe, settings(duration=30.0))
    assert plain.outcome == WatchOutcome.PASSED
    clock2 = FakeClock()
    probe2 = Script(clock2, [OK, BAD] * 30)
    flap, _ = run(clock2, probe2, settings(duration=30.0, flap=FlapRule(failures=4, window=10)))
    assert flap.outcome == WatchOutcome.TRIPPED
    assert flap.trip is not None and flap.trip.rule == "flap"
    assert flap.trip.failures == (2, 4, 6, 8)
    assert len(flap.checks) == 8


def test_errors_and_failures_both_count_but_are_told_apart() -> None:
    clock = FakeClock()
    timeout = Observation(0.5, error_kind="timeout", error="no answer")
    probe = Script(clock, [OK, timeout, BAD, timeout])
    result, _ = run(clock, probe, settings())
    assert result.outcome == WatchOutcome.TRIPPED
    counts = result.counts()
    assert counts["error"] == 2 and counts["fail"] == 1 and counts["pass"] == 1


def test_a_canary_failing_at_the_deadline_is_watched_until_it_settles() -> None:
    clock = FakeClock()
    # 10 s duration, 1 s interval: checks at 0..10; failures from check 10 on.
    probe = Script(clock, [OK] * 9 + [BAD] * 10)
    result, _ = run(clock, probe, settings(duration=9.5))
    assert result.outcome == WatchOutcome.TRIPPED
    assert len(result.checks) == 12  # watched past the deadline until the third failure


def test_never_passes_without_a_single_healthy_check() -> None:
    clock = FakeClock()
    pending = Observation(0.01, status=200, body=json.dumps({"version": "1.0"}).encode())
    probe = Script(clock, [pending])
    version = VersionExpectation(VersionCheck("version", ready_within=3.0), "2.0", Digest.of(b"x"))
    result, _ = run(clock, probe, settings(duration=5.0), version)
    assert result.outcome == WatchOutcome.TRIPPED
    statuses = [c.status for c in result.checks]
    assert statuses[:3] == [CheckStatus.PENDING] * 3
    assert statuses[3:] == [CheckStatus.FAIL] * 3
    assert result.checks[3].kind == "version"


def test_pending_neither_counts_nor_breaks_a_run() -> None:
    rule = TripRule(3, None)
    from shipflow.release.canary.watch import Check

    def check(seq: int, status: CheckStatus) -> Check:
        return Check(seq, 0, 0, 0, status, "x", "x", 0)

    assert rule.feed(check(1, CheckStatus.FAIL)) is None
    assert rule.feed(check(2, CheckStatus.PENDING)) is None
    assert rule.feed(check(3, CheckStatus.ERROR)) is None
    trip = rule.feed(check(4, CheckStatus.FAIL))
    assert trip is not None and trip.failures == (1, 3, 4)


def test_stop_flag_interrupts_between_checks() -> None:
    clock = FakeClock()
    stop = threading.Event()
    clock.on_sleep = lambda now: stop.set() if len(probe.calls) >= 3 else None
    probe = Script(clock, [OK])
    result, sink = run(clock, probe, settings(), stop=stop)
    assert result.outcome == WatchOutcome.INTERRUPTED
    assert len(result.checks) == 3
    assert sink.kinds().count("canary.check") == 3


def test_check_events_carry_progress() -> None:
    clock = FakeClock()
    probe = Script(clock, [OK, BAD, OK])
    _, sink = run(clock, probe, settings(duration=2.0, flap=FlapRule(2, 5)))
    checks = [e for e in sink.events if e.kind == "canary.check"]
    assert [e.data["consecutive_failures"] for e in checks] == [0, 1, 0]
    assert [e.data["window_failures"] for e in checks] == [0, 1, 1]
    assert checks[0].data["planned_checks"] == 3
    assert checks[-1].data["seconds_left"] == 0
