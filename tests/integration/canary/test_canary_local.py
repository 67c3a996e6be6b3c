"""Whole canaries through the ``local`` target: busybox images run as real processes on this
host, real HTTP health checks, real signatures, intervals of 0.2 s set through the settings."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.canary_services import CanaryRepo, make_canary_repo
from fixtures.procs import free_port
from shipflow.events import RecordingSink
from shipflow.release.canary import (
    CanaryRequest,
    CanarySettings,
    CheckStatus,
    Collaborators,
    FlapRule,
    KeySignatureCheck,
    MemoryHistory,
    RunVerdict,
    run_canary,
)
from shipflow.release.canary.settings import Expectation, VersionCheck
from shipflow.release.deploy import DeployError, DeployRequest, LocalSettings
from shipflow.release.deploy.local import LocalTarget
from shipflow.release.notify import NotifySettings, WebhookFormat, WebhookNotifier

pytestmark = pytest.mark.integration


class Env:
    def __init__(self, repo: CanaryRepo, state: Path) -> None:
        self.repo = repo
        self.port = free_port()
        self.target = LocalTarget(
            repo.store, LocalSettings(state_dir=state, port=self.port, start_timeout=10.0)
        )
        self.history = MemoryHistory({"canary": [repo.digests["previous"]]})
        self.events = RecordingSink()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/health"

    def settings(self, **kw: Any) -> CanarySettings:
        base: dict[str, Any] = {
            "health_url": self.url,
            "interval": 0.25,
            "duration": 2.0,
            "timeout": 0.2,
            "failure_threshold": 3,
            "recovery_timeout": 10.0,
            "deploy": self.target.settings,
        }
        base.update(kw)
        return CanarySettings(**base)

    def deps(self, **kw: Any) -> Collaborators:
        base: dict[str, Any] = {
            "store": self.repo.store,
            "target": self.target,
            "history": self.history,
            "signatures": KeySignatureCheck(self.repo.store, self.repo.policy()),
            "events": self.events,
        }
        base.update(kw)
        return Collaborators(**base)

    def start_previous(self) -> None:
        """The canary environment runs the previous version, as after an earlier release."""
        self.target.deploy(DeployRequest("canary", self.repo.name, self.repo.digests["previous"]))

    def answer(self) -> dict[str, Any]:
        return dict(httpx.get(self.url, timeout=5).json())

    def run(self, name: str, settings: CanarySettings, **deps: Any) -> Any:
        request = CanaryRequest(self.repo.name, self.repo.digests[name], actor="tester")
        return run_canary(request, settings, self.deps(**deps))


@pytest.fixture
def env(canary_images: dict[str, Any], tmp_path: Path) -> Iterator[Env]:
    repo = make_canary_repo(tmp_path, canary_images, tags={"canary": "previous", "production": "previous"})
    environment = Env(repo, tmp_path / "state")
    environment.start_previous()
    yield environment
    environment.target.stop("canary")


def statuses(report: Any) -> list[str]:
    return [c.status.value for c in report.checks]


def test_healthy_canary_passes_and_keeps_running(env: Env) -> None:
    report = env.run("healthy", env.settings(interval=0.25, timeout=0.2))
    assert report.verdict is RunVerdict.PASSED, report.reason
    assert report.exit_code == 0
    assert env.repo.store.resolve("canary").digest == env.repo.digests["healthy"]
    assert env.answer() == {"status": "ok", "version": "2.0.0"}
    current = env.target.current("canary")
    assert current.digest == env.repo.digests["healthy"] and current.running is True
    assert report.counts["pass"] >= 8


def test_failing_canary_rolls_back_after_exactly_three_failures(env: Env) -> None:
    report = env.run("fail-after", env.settings(duration=10.0))
    assert report.verdict is RunVerdict.ROLLED_BACK, report.reason
    assert report.exit_code == 1
    assert report.trip is not None and report.trip.rule == "consecutive"
    seen = statuses(report)
    assert seen[-3:] == ["fail", "fail", "fail"]
    assert seen[-4] == "pass"  # never before: the run of failures is exactly three long
    assert all(c.http_status == 503 for c in report.checks[-3:])
    # :canary names the previous digest again, and the previous version answers.
    assert env.repo.store.resolve("canary").digest == env.repo.digests["previous"]
    assert env.answer() == {"status": "ok", "version": "1.0.0"}
    assert env.target.current("canary").digest == env.repo.digests["previous"]
    assert report.timings["rollback"] is not None and report.timings["rollback"] < 10.0
    assert report.timings["first_failure_to_recovered"] <= 3 * 0.25 + 10.0  # generous bound on a busy machine
    assert [e.outcome for e in env.history.entries] == ["rolled-back"]


def test_flapping_canary_survives_the_consecutive_rule(env: Env) -> None:
    report = env.run("flap", env.settings(duration=2.0, interval=0.25, timeout=0.2))
    assert report.verdict is RunVerdict.PASSED, report.reason
    assert report.counts["fail"] >= 3  # it did fail, just never three times in a row


def test_flapping_canary_trips_the_flap_rule(env: Env) -> None:
    report = env.run("flap", env.settings(duration=10.0, interval=0.25, timeout=0.2, flap=FlapRule(4, 10)))
    assert report.verdict is RunVerdict.ROLLED_BACK, report.reason
    assert report.trip is not None and report.trip.rule == "flap"
    assert len(report.trip.failures) == 4
    assert "consecutive" not in report.reason
    assert env.answer()["version"] == "1.0.0"


def test_hanging_canary_times_out_and_rolls_back(env: Env) -> None:
    report = env.run("hang", env.settings(duration=10.0))
    assert report.verdict is RunVerdict.ROLLED_BACK, report.reason
    assert [c.kind for c in report.checks[-3:]] == ["timeout"] * 3
    assert report.counts["error"] >= 3
    assert env.answer()["version"] == "1.0.0"


def test_degraded_body_is_a_failure(env: Env) -> None:
    expect = Expectation(statuses=frozenset({200}), json=(("status", "ok"),))
    report = env.run("degraded", env.settings(duration=10.0, expect=expect))
    assert report.verdict is RunVerdict.ROLLED_BACK, report.reason
    assert all(c.kind == "body" and c.http_status == 200 for c in report.checks[-3:])
    assert "'degraded'" in report.checks[-1].reason


def test_a_canary_reporting_the_old_version_never_passes(env: Env) -> None:
    version = VersionCheck("version", ready_within=0.6)
    report = env.run("old-version", env.settings(duration=2.0, version=version))
    assert report.verdict is RunVerdict.ROLLED_BACK, report.reason
    assert report.expected_version == "2.0.0" and report.previous_version == "1.0.0"
    seen = statuses(report)
    assert seen[0] == "pending" and "pass" not in seen
    assert seen[-3:] == ["fail"] * 3
    assert report.recovery[-1].version == "1.0.0"


def test_version_check_passes_the_real_new_version(env: Env) -> None:
    report = env.run(
        "healthy", env.settings(interval=0.25, timeout=0.2, version=VersionCheck("version", 1.0))
    )
    assert report.verdict is RunVerdict.PASSED, report.reason
    assert all(c.version == "2.0.0" for c in report.checks if c.status is CheckStatus.PASS)


def test_unsigned_canary_is_refused_and_nothing_changes(
    canary_images: dict[str, Any], tmp_path: Path
) -> None:
    repo = make_canary_repo(tmp_path, canary_images, unsigned=("healthy",), tags={"canary": "previous"})
    environment = Env(repo, tmp_path / "state")
    environment.start_previous()
    try:
        report = environment.run("healthy", environment.settings())
        assert report.verdict is RunVerdict.REFUSED and report.exit_code == 1
        assert repo.store.resolve("canary").digest == repo.digests["previous"]
        assert environment.answer()["version"] == "1.0.0"
    finally:
        environment.target.stop("canary")


@pytest.mark.parametrize("fmt", list(WebhookFormat))
def test_the_webhook_receiver_gets_the_rollback(env: Env, webhook_receiver: Any, fmt: WebhookFormat) -> None:
    receiver = webhook_receiver("ok")
    notify = NotifySettings(webhook=receiver.url(), format=fmt)
    notifier = WebhookNotifier(notify)
    report = env.run("fail-after", env.settings(duration=10.0, notify=notify), notifier=notifier)
    assert report.verdict is RunVerdict.ROLLED_BACK
    assert notifier.wait(10.0)
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.path == "/services/T000/B000/sentinel-webhook-token-42"
    assert got.headers["Content-Type"] == "application/json"
    payload = got.json()
    digest = str(env.repo.digests["fail-after"])
    if fmt is WebhookFormat.SLACK:
        assert payload["text"].startswith("⏪ rolled back")
        assert any(digest in field["text"] for field in payload["blocks"][2]["fields"])
    elif fmt is WebhookFormat.TEAMS:
        assert payload["attachments"][0]["content"]["type"] == "AdaptiveCard"
        assert digest in json.dumps(payload)
    else:
        assert payload["schema"] == "shipflow.canary/v1"
        assert payload["candidate"] == digest and payload["verdict"] == "rolled-back"
    assert notifier.deliveries[0].ok and notifier.deliveries[0].status == 200


@pytest.mark.parametrize("mode", ["hang", "dead"])
def test_a_dead_or_hanging_webhook_does_not_slow_the_rollback(
    env: Env, webhook_receiver: Any, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    if mode == "hang":
        url = webhook_receiver("hang").url()
    else:
        url = f"http://127.0.0.1:{free_port()}/services/T000/B000/sentinel-webhook-token-42"
    notify = NotifySettings(webhook=url, format=WebhookFormat.SLACK, timeout=30.0)
    notifier = WebhookNotifier(notify)
    started = time.monotonic()
    report = env.run("fail-after", env.settings(duration=10.0, notify=notify), notifier=notifier)
    finished = time.monotonic()
    assert report.verdict is RunVerdict.ROLLED_BACK
    # The run returned long before the webhook's 30 s deadline, with the delivery still pending
    # (hang) or already failed (dead), and the rollback itself took its usual time.
    assert finished - started < 25.0
    assert report.timings["rollback"] is not None and report.timings["rollback"] < 10.0
    if mode == "hang":
        assert not notifier.wait(0.1)
        assert notifier.deliveries == []
    else:
        assert notifier.wait(10.0)
        assert not notifier.deliveries[0].ok
    # The token in the webhook's path is never logged.
    assert all("sentinel-webhook-token-42" not in r.getMessage() for r in caplog.records)


def test_interrupt_mid_watch_rolls_back(env: Env) -> None:
    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    try:
        report = env.run(
            "healthy", env.settings(duration=30.0, interval=0.25, timeout=0.2), stop=stop, wait=stop.wait
        )
    finally:
        timer.cancel()
    assert report.verdict is RunVerdict.ROLLED_BACK and "interrupted" in report.reason
    assert env.repo.store.resolve("canary").digest == env.repo.digests["previous"]
    assert env.answer()["version"] == "1.0.0"
    assert str(env.repo.digests["previous"]) in report.state


def test_local_target_refuses_a_port_served_by_someone_else(env: Env, canary_service: Any) -> None:
    other = canary_service("healthy")
    target = LocalTarget(
        env.repo.store, LocalSettings(state_dir=env.target.settings.state_dir / "other", port=other.port)
    )
    with pytest.raises(DeployError, match="already in use"):
        target.deploy(DeployRequest("canary", env.repo.name, env.repo.digests["healthy"]))


def test_local_target_state_file(env: Env) -> None:
    state = json.loads((env.target.settings.state_dir / "canary.json").read_text())
    assert state["digest"] == str(env.repo.digests["previous"])
    assert state["port"] == env.port and state["pid"] > 0
    assert Path(state["rootfs"]).is_dir()
