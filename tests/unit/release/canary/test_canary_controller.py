"""The canary controller and the rollback on a fake clock, with in-memory collaborators."""

from __future__ import annotations

import threading

import pytest

from fixtures.canary_fakes import (
    FakeClock,
    FakeSignatures,
    FakeStore,
    FakeTarget,
    RecordingNotifier,
    ServiceModel,
    digest_of,
    failing_after,
    healthy,
    refused,
    timeouts,
)
from shipflow.events import RecordingSink
from shipflow.release.canary import (
    CanaryRequest,
    CanarySettings,
    Collaborators,
    MemoryHistory,
    RollbackRequest,
    RunVerdict,
    rollback,
    run_canary,
)
from shipflow.release.canary.settings import VersionCheck
from shipflow.release.notify.settings import NotifySettings

P = digest_of("previous")
D = digest_of("candidate")
OLDER = digest_of("older")
UNSIGNED = digest_of("unsigned")


class World:
    def __init__(self, *, canary: object = P, signed: set[object] | None = None) -> None:
        self.clock = FakeClock()
        tags = {"production": OLDER}
        if canary is not None:
            tags["canary"] = canary  # type: ignore[assignment]
        self.store = FakeStore([P, D, OLDER, UNSIGNED], tags)
        self.target = FakeTarget(self.clock, running={"canary": P} if canary is not None else {})
        self.service = ServiceModel(self.clock, self.target)
        self.service.add(P, healthy("1.0.0"))
        self.service.add(OLDER, healthy("0.9.0"))
        self.signatures = FakeSignatures(signed if signed is not None else {P, D, OLDER})  # type: ignore[arg-type]
        self.history = MemoryHistory({"canary": [P, OLDER], "production": [OLDER]})
        self.notifier = RecordingNotifier()
        self.events = RecordingSink()
        self.stop = threading.Event()

    def deps(self) -> Collaborators:
        return Collaborators(
            store=self.store,  # type: ignore[arg-type]
            target=self.target,
            history=self.history,
            signatures=self.signatures,
            notifier=self.notifier,
            events=self.events,
            clock=self.clock,
            sleep=self.clock.sleep,
            stop=self.stop,
            probe_factory=lambda s: self.service,
            version_of=lambda d: {P: "1.0.0", D: "2.0.0", OLDER: "0.9.0"}.get(d),
        )


def settings(**kw: object) -> CanarySettings:
    base: dict[str, object] = {
        "health_url": "http://canary.test/api/health",
        "interval": 10.0,
        "duration": 600.0,
        "timeout": 5.0,
        "failure_threshold": 3,
        "notify": NotifySettings(webhook="https://hooks.example.test/services/T/B/SECRET"),
    }
    base.update(kw)
    return CanarySettings(**base)  # type: ignore[arg-type]


def test_healthy_canary_passes_and_is_recorded() -> None:
    w = World()
    w.service.add(D, healthy("2.0.0"))
    report = run_canary(CanaryRequest("reg/app", D, actor="lead"), settings(), w.deps())
    assert report.verdict is RunVerdict.PASSED and report.exit_code == 0
    assert w.store.tags["canary"] == D and w.target.running["canary"] == D
    assert report.counts["pass"] == 61 and report.counts["total"] == 61
    assert report.previous == P and report.previous_source == ":canary before this canary"
    assert [e.outcome for e in w.history.entries] == ["passed"]
    assert w.history.entries[0].digest == D and w.history.entries[0].previous == P
    assert w.notifier.reports == []  # `passed` is not in notify.on by default
    assert report.tag_digest == D and "names " + str(D) in report.state


def test_sick_canary_rolls_back_after_exactly_three_failures_with_timings() -> None:
    w = World()
    w.service.add(D, failing_after(95.0, "2.0.0"))
    report = run_canary(CanaryRequest("reg/app", D), settings(), w.deps())
    assert report.verdict is RunVerdict.ROLLED_BACK and report.exit_code == 1
    assert report.trip is not None and report.trip.rule == "consecutive"
    statuses = [c.status.value for c in report.checks]
    assert statuses == ["pass"] * 10 + ["fail"] * 3  # checks at 0..90 s pass, 100, 110, 120 fail
    assert w.store.tags["canary"] == P and w.target.running["canary"] == P
    assert [c for c, _ in w.target.calls] == ["deploy", "rollback"]
    assert w.signatures.calls.count(P) == 2  # before deploying D, and again before rolling back
    # detection: first failing check (t=100) to the trip (t=120 + latency)
    assert report.timings["detection"] == pytest.approx(20.01)
    # rollback: trip -> deploy (0.05 s) -> first recovery check healthy (0.01 s)
    assert report.timings["rollback"] == pytest.approx(0.06)
    assert report.timings["first_failure_to_recovered"] == pytest.approx(20.07)
    assert report.timings["first_failure_to_recovered"] <= 3 * 10.0 + 1.0
    assert [e.outcome for e in w.history.entries] == ["rolled-back"]
    assert w.history.entries[0].digest == P and w.history.entries[0].candidate == D
    assert [r.verdict for r in w.notifier.reports] == [RunVerdict.ROLLED_BACK]
    kinds = w.events.kinds()
    assert kinds.index("canary.tripped") < kinds.index("rollback.started") < kinds.index("rollback.recovered")


def test_timeouts_trip_like_failures_and_are_counted_as_errors() -> None:
    w = World()
    w.service.add(D, timeouts(5.0))
    report = run_canary(CanaryRequest("reg/app", D), settings(), w.deps())
    assert report.verdict is RunVerdict.ROLLED_BACK
    assert report.counts == {"pass": 0, "fail": 0, "error": 3, "pending": 0, "total": 3}


def test_unsigned_candidate_is_refused_before_anything_changes() -> None:
    w = World()
    report = run_canary(CanaryRequest("reg/app", UNSIGNED), settings(), w.deps())
    assert report.verdict is RunVerdict.REFUSED and report.exit_code == 1
    assert w.store.tag_calls == [] and w.target.calls == []
    assert "has no signatures" in report.reason


def test_unsigned_rollback_target_is_refused_before_deploying() -> None:
    w = World(signed={D})
    w.service.add(D, healthy("2.0.0"))
    report = run_canary(CanaryRequest("reg/app", D), settings(), w.deps())
    assert report.verdict is RunVerdict.REFUSED
    assert "rollback could not be done safely" in report.reason
    assert w.store.tag_calls == [] and w.target.calls == []


def test_nothing_to_roll_back_to_is_refused() -> None:
    w = World(canary=None)
    w.store.tags.pop("production")
    w.history = MemoryHistory()
    report = run_canary(CanaryRequest("reg/app", D), settings(), w.deps())
    assert report.verdict is RunVerdict.REFUSED and "nothing to roll back to" in report.reason
    assert w.store.tag_calls == []


def test_rollback_target_falls_back_to_history_then_production() -> None:
    w = World()
    w.store.tags["canary"] = D  # re-running a canary of the digest it already holds
    w.service.add(D, healthy("2.0.0"))
    report = run_canary(CanaryRequest("reg/app", D), settings(duration=20.0), w.deps())
    assert report.previous == P and report.previous_source is not None and "history" in report.previous_source
    w2 = World(canary=None)
    w2.history = MemoryHistory()
    w2.service.add(D, healthy("2.0.0"))
    report2 = run_canary(CanaryRequest("reg/app", D), settings(duration=20.0), w2.deps())
    assert report2.previous == OLDER and report2.previous_source == ":production (canary held nothing else)"


def test_failed_deploy_rolls_back() -> None:
    w = World()
    w.target.fail_deploy = True
    report = run_canary(CanaryRequest("reg/app", D), settings(), w.deps())
    assert report.verdict is RunVerdict.ROLLED_BACK
    assert report.reason.startswith("the deploy failed")
    assert w.store.tags["canary"] == P and w.target.running["canary"] == P
    assert report.checks == []


def test_interrupt_during_the_watch_rolls_back() -> None:
    w = World()
    w.service.add(D, healthy("2.0.0"))
    w.clock.on_sleep = lambda now: w.stop.set() if w.service.probes >= 4 else None
    report = run_canary(CanaryRequest("reg/app", D), settings(), w.deps())
    assert report.verdict is RunVerdict.ROLLED_BACK and report.exit_code == 1
    assert "interrupted" in report.reason
    assert w.store.tags["canary"] == P and w.target.running["canary"] == P
    assert "detection" not in report.timings


def test_a_failing_rollback_says_what_is_deployed() -> None:
    w = World()
    w.service.add(D, refused())
    w.target.fail_rollback = True
    report = run_canary(CanaryRequest("reg/app", D), settings(), w.deps())
    assert report.verdict is RunVerdict.ROLLBACK_FAILED and report.exit_code == 3
    # The tag was moved back before the target failed: the tag and the target disagree, and it says so.
    assert report.tag_digest == P
    assert "DISAGREE" in report.state and str(D) in report.state


def test_a_rollback_target_that_no_longer_verifies_leaves_the_canary_and_says_so() -> None:
    w = World()
    w.service.add(D, failing_after(0.0))
    # The key of P was revoked while the canary ran.
    w.clock.on_sleep = lambda now: w.signatures.signed.discard(P) if w.service.probes >= 1 else None
    report = run_canary(CanaryRequest("reg/app", D), settings(), w.deps())
    assert report.verdict is RunVerdict.ROLLBACK_FAILED
    assert "did not verify" in report.reason
    assert w.store.tags["canary"] == D and report.tag_digest == D


def test_version_check_pending_then_failure() -> None:
    w = World()
    w.service.add(D, healthy("1.0.0"))  # the new image still reports the old version
    s = settings(duration=120.0, version=VersionCheck("version", ready_within=30.0))
    report = run_canary(CanaryRequest("reg/app", D), s, w.deps())
    assert report.verdict is RunVerdict.ROLLED_BACK
    statuses = [c.status.value for c in report.checks]
    assert statuses == ["pending"] * 3 + ["fail"] * 3
    assert report.expected_version == "2.0.0" and report.previous_version == "1.0.0"
    assert report.recovery[-1].version == "1.0.0"


def test_version_check_passes_when_reported() -> None:
    w = World()
    w.service.add(D, healthy("2.0.0"))
    s = settings(duration=60.0, version=VersionCheck("version", ready_within=30.0))
    report = run_canary(CanaryRequest("reg/app", D), s, w.deps())
    assert report.verdict is RunVerdict.PASSED
    assert all(c.version == "2.0.0" for c in report.checks)


def test_recovery_that_never_comes_is_a_failed_rollback() -> None:
    w = World()
    w.service.add(D, refused())
    w.service.add(P, refused())
    report = run_canary(CanaryRequest("reg/app", D), settings(recovery_timeout=5.0), w.deps())
    assert report.verdict is RunVerdict.ROLLBACK_FAILED
    assert "did not answer healthy within 5s" in report.reason
    assert report.tag_digest == P and len(report.recovery) >= 10


def test_registry_down_while_tagging_is_an_infrastructure_error() -> None:
    w = World()
    w.store.fail_tag = True
    report = run_canary(CanaryRequest("reg/app", D), settings(), w.deps())
    assert report.verdict is RunVerdict.ERROR and report.exit_code == 3
    assert report.tag_digest == P and w.target.calls == []


# -- manual rollback -------------------------------------------------------------------------------


def test_manual_rollback_to_the_previous_digest() -> None:
    w = World()
    report = rollback(RollbackRequest("reg/app", "canary", actor="oncall"), w.deps(), health=settings())
    assert report.verdict is RunVerdict.ROLLED_BACK and report.exit_code == 0
    assert w.store.tags["canary"] == OLDER and w.target.running["canary"] == OLDER
    assert report.candidate == P and report.previous == OLDER
    assert w.history.entries[-1].kind == "rollback" and w.history.entries[-1].actor == "oncall"
    assert report.timings["rollback"] == pytest.approx(0.06)


def test_manual_rollback_refuses_a_digest_never_held() -> None:
    w = World()
    report = rollback(RollbackRequest("reg/app", "canary", to=D), w.deps())
    assert report.verdict is RunVerdict.REFUSED and report.exit_code == 1
    assert "not a digest canary held before" in report.reason
    assert w.store.tag_calls == []


def test_manual_rollback_to_the_current_digest_changes_nothing() -> None:
    w = World()
    report = rollback(RollbackRequest("reg/app", "canary", to=P), w.deps())
    assert report.verdict is RunVerdict.PASSED and report.exit_code == 0
    assert w.store.tag_calls == []


def test_manual_rollback_never_deploys_an_unsigned_digest() -> None:
    w = World(signed={P, D})
    report = rollback(RollbackRequest("reg/app", "canary"), w.deps())
    assert report.verdict is RunVerdict.REFUSED and "did not verify" in report.reason
    assert w.store.tags["canary"] == P and w.target.calls == []


def test_after_an_interrupt_the_rollback_still_waits_for_the_previous_version() -> None:
    """The CLI's waits return at once once SIGINT/SIGTERM set the stop flag; the rollback's
    recovery wait must still pace itself and wait for the previous version to come up."""
    w = World()
    w.service.add(D, healthy("2.0.0"))
    slow_start = healthy("1.0.0")
    w.service.add(P, lambda t: refused()(t) if t < 2.0 else slow_start(t))
    w.clock.on_sleep = lambda now: w.stop.set() if w.service.probes >= 3 else None
    deps = w.deps()
    interruptible = lambda seconds: None if w.stop.is_set() else w.clock.sleep(seconds)  # noqa: E731
    from dataclasses import replace

    report = run_canary(CanaryRequest("reg/app", D), settings(), replace(deps, wait=interruptible))
    assert report.verdict is RunVerdict.ROLLED_BACK, report.reason
    assert report.recovery[-1].status.value == "pass"
    assert 5 <= len(report.recovery) <= 12  # paced at 0.25 s over about 2 s, not a busy loop


class FakePromotion:
    def __init__(self, promoted: set[object]) -> None:
        self.promoted = promoted
        self.calls: list[tuple[object, str]] = []

    def verify_promoted(self, digest: object, env: str) -> object:
        from shipflow.errors import VerificationError
        from shipflow.gate import Evidence, GateStatus

        self.calls.append((digest, env))
        if digest not in self.promoted:
            raise VerificationError(f"{digest} has no verified promotion record into {env}")
        return Evidence("promotion-record", GateStatus.PASSED, "promoted", subject=str(digest))


def test_a_canary_without_a_promotion_record_into_staging_is_refused() -> None:
    from dataclasses import replace

    w = World()
    w.service.add(D, healthy("2.0.0"))
    promotion = FakePromotion(set())
    deps = replace(w.deps(), promotion=promotion)
    report = run_canary(CanaryRequest("reg/app", D, promoted_from="staging"), settings(), deps)
    assert (
        report.verdict is RunVerdict.REFUSED and "no verified promotion record into staging" in report.reason
    )
    assert promotion.calls == [(D, "staging")] and w.store.tag_calls == []
    promotion.promoted.add(D)
    report = run_canary(CanaryRequest("reg/app", D, promoted_from="staging"), settings(duration=30.0), deps)
    assert report.verdict is RunVerdict.PASSED
    assert [e.gate for e in report.evidence] == ["signature", "promotion-record", "signature"]
