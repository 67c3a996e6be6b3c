"""Watching a canary: checks on a fixed schedule, the trip rules, and when it is over.

Schedule: check *k* starts at ``start + k * interval`` on the monotonic clock, whatever the
previous check took. A check that overruns its slot (it cannot, the timeout is shorter than
the interval, unless the machine stalls) is followed by the next slot still ahead on that
grid; the missed slots are counted, never made up in a burst.

Trip rules (:class:`TripRule`), evaluated after every check:

* **consecutive**: ``failure_threshold`` failed checks in a row (errors and wrong answers
  alike; a PENDING check neither counts nor breaks the run of failures);
* **flap** (optional): at least ``flap.failures`` failures among the last ``flap.window``
  judged checks — catches a service that never fails ``failure_threshold`` times in a row.

The watch passes when ``duration`` has elapsed without a trip — and, stricter than counting
alone, only once at least one check has passed and the latest judged check passed: a canary
in the middle of a run of failures at the deadline is watched on until the run either trips
or ends; a canary that never answered healthy never passes. If neither happens within
``failure_threshold + 1`` more intervals after the deadline (or after ``ready_within``), the
watch ends *inconclusive*, which rolls back like a trip.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shipflow.events import EventSink
from shipflow.release.canary.ports import StopFlag
from shipflow.release.canary.probe import CheckStatus, HealthProbe, VersionExpectation, classify
from shipflow.release.canary.settings import CanarySettings, FlapRule
from shipflow.timeutil import utc_timestamp

__all__ = ["Check", "Trip", "TripRule", "WatchOutcome", "WatchResult", "watch"]

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Check:
    """One judged health check. ``started``/``finished`` are monotonic clock readings;
    ``offset`` is seconds since the watch began."""

    seq: int
    started: float
    finished: float
    offset: float
    status: CheckStatus
    kind: str
    reason: str
    latency: float
    http_status: int | None = None
    version: str | None = None
    at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "offset": round(self.offset, 4),
            "status": self.status.value,
            "kind": self.kind,
            "reason": self.reason,
            "latencyMs": round(self.latency * 1000, 1),
            "httpStatus": self.http_status,
            "version": self.version,
        }


@dataclass(frozen=True)
class Trip:
    rule: str  # consecutive | flap | inconclusive
    description: str
    first_failure: Check | None  # where detection starts
    tripping: Check | None  # the check that tripped
    failures: tuple[int, ...] = ()  # sequence numbers of the failures that counted


class TripRule:
    """The consecutive rule and the optional flap rule, fed one check at a time."""

    def __init__(self, threshold: int, flap: FlapRule | None) -> None:
        self.threshold = threshold
        self.flap = flap
        self.streak: list[Check] = []
        self.window: deque[Check] = deque(maxlen=flap.window if flap else 1)

    @property
    def consecutive(self) -> int:
        return len(self.streak)

    @property
    def window_failures(self) -> int:
        return sum(1 for c in self.window if c.status.failed) if self.flap else 0

    def feed(self, check: Check) -> Trip | None:
        if check.status is CheckStatus.PENDING:
            return None
        if check.status.failed:
            self.streak.append(check)
        else:
            self.streak = []
        if self.flap is not None:
            self.window.append(check)
        if len(self.streak) >= self.threshold:
            return Trip(
                "consecutive",
                f"{len(self.streak)} consecutive failed checks (failure_threshold {self.threshold})",
                self.streak[0],
                check,
                tuple(c.seq for c in self.streak),
            )
        if self.flap is not None and check.status.failed:
            failed = [c for c in self.window if c.status.failed]
            if len(failed) >= self.flap.failures:
                return Trip(
                    "flap",
                    f"{len(failed)} failed checks among the last {len(self.window)} (flap rule: "
                    f"{self.flap.describe()})",
                    failed[0],
                    check,
                    tuple(c.seq for c in failed),
                )
        return None


class WatchOutcome:
    PASSED = "passed"
    TRIPPED = "tripped"
    INTERRUPTED = "interrupted"


@dataclass
class WatchResult:
    outcome: str
    started: float
    finished: float
    checks: list[Check] = field(default_factory=list)
    trip: Trip | None = None
    missed_slots: int = 0

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    def counts(self) -> dict[str, int]:
        result = {status.value: 0 for status in CheckStatus}
        for check in self.checks:
            result[check.status.value] += 1
        result["total"] = len(self.checks)
        return result


def run_check(
    seq: int,
    probe: HealthProbe,
    settings: CanarySettings,
    version: VersionExpectation | None,
    *,
    clock: Clock,
    watch_start: float,
    deployed_at: float,
) -> Check:
    started = clock()
    seen = probe.probe()
    finished = clock()
    verdict = classify(seen, settings.expect, version, started - deployed_at)
    return Check(
        seq=seq,
        started=started,
        finished=finished,
        offset=started - watch_start,
        status=verdict.status,
        kind=verdict.kind,
        reason=verdict.reason,
        latency=seen.latency,
        http_status=seen.status,
        version=verdict.version,
        at=utc_timestamp(),
    )


def watch(
    *,
    probe: HealthProbe,
    settings: CanarySettings,
    version: VersionExpectation | None,
    clock: Clock,
    sleep: Sleep,
    stop: StopFlag,
    events: EventSink,
    deployed_at: float | None = None,
) -> WatchResult:
    """Check the canary until it passes, trips or ``stop`` is set."""
    interval = settings.interval
    start = clock()
    deployed = start if deployed_at is None else deployed_at
    deadline = start + settings.duration
    grace_end = deadline
    if version is not None:
        grace_end = max(grace_end, deployed + version.check.ready_within)
    hard_end = grace_end + (settings.failure_threshold + 1) * interval
    planned = int(settings.duration // interval) + 1
    rule = TripRule(settings.failure_threshold, settings.flap)
    result = WatchResult(WatchOutcome.PASSED, start, start)
    passes = 0
    slot = 0
    events.emit(
        "canary.watch.started",
        f"watching {settings.display_url} every {interval:g}s for {settings.duration:g}s",
        interval=interval,
        duration=settings.duration,
        planned_checks=planned,
        failure_threshold=settings.failure_threshold,
    )
    while True:
        if stop.is_set():
            result.outcome = WatchOutcome.INTERRUPTED
            break
        due = start + slot * interval
        last_judged = next((c for c in reversed(result.checks) if c.status is not CheckStatus.PENDING), None)
        settled = passes > 0 and last_judged is not None and last_judged.status is CheckStatus.PASS
        if due > deadline + 1e-9 and settled:
            result.outcome = WatchOutcome.PASSED
            break
        if due > hard_end + 1e-9:
            result.outcome = WatchOutcome.TRIPPED
            result.trip = Trip(
                "inconclusive",
                "the duration passed without a settled healthy answer "
                + ("(no check passed)" if passes == 0 else "(the last checks failed)"),
                next((c for c in result.checks if c.status.failed), None),
                result.checks[-1] if result.checks else None,
            )
            break
        now = clock()
        if due > now:
            sleep(due - now)
            if stop.is_set():
                result.outcome = WatchOutcome.INTERRUPTED
                break
        check = run_check(
            len(result.checks) + 1,
            probe,
            settings,
            version,
            clock=clock,
            watch_start=start,
            deployed_at=deployed,
        )
        result.checks.append(check)
        if check.status is CheckStatus.PASS:
            passes += 1
        trip = rule.feed(check)
        left = max(0.0, deadline - check.finished)
        events.emit(
            "canary.check",
            f"check {check.seq}: {check.status.value} — {check.reason}",
            check=check.to_json(),
            consecutive_failures=rule.consecutive,
            failure_threshold=settings.failure_threshold,
            window_failures=rule.window_failures,
            flap=None
            if settings.flap is None
            else {"failures": settings.flap.failures, "window": settings.flap.window},
            seconds_left=round(left, 3),
            planned_checks=planned,
        )
        if trip is not None:
            result.outcome = WatchOutcome.TRIPPED
            result.trip = trip
            break
        # The next slot: the first one not already in the past (a missed slot is not made up).
        elapsed_slots = math.floor((clock() - start) / interval) + 1
        next_slot = max(slot + 1, elapsed_slots)
        result.missed_slots += next_slot - slot - 1
        slot = next_slot
    result.finished = clock()
    return result
