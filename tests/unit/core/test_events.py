"""The event stream: ordered fan-out, and a failing listener never stops the others."""

from __future__ import annotations

import logging

import pytest

from shipflow.events import Event, EventBus, RecordingSink


def test_events_reach_every_listener_in_order(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    got: list[str] = []

    def broken(event: Event) -> None:
        raise RuntimeError("renderer crashed")

    bus.subscribe(lambda e: got.append(f"a:{e.kind}"))
    bus.subscribe(broken)
    bus.subscribe(lambda e: got.append(f"b:{e.kind}"))
    with caplog.at_level(logging.ERROR, logger="shipflow.events"):
        bus.emit("gate.passed", "signature passed", gate="signature")
        bus.emit("promote.retagged", "staging -> sha256:…")
    assert got == ["a:gate.passed", "b:gate.passed", "a:promote.retagged", "b:promote.retagged"]
    assert "renderer crashed" in caplog.text


def test_recording_sink_keeps_kinds_and_json() -> None:
    sink = RecordingSink()
    sink.emit("canary.check", "ok", status=200, latency=0.01)
    assert sink.kinds() == ["canary.check"]
    data = sink.events[0].to_json()
    assert data["data"] == {"status": 200, "latency": 0.01} and data["at"].endswith("Z")
