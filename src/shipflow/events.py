"""One event stream for long-running pipeline work (promotion, canary, release).

The library never prints. A long operation takes an :class:`EventSink` and emits
:class:`Event` objects into it; the CLI fans them out to the terminal renderer, the GitHub
step summary and the webhook notifier (pip-audit's ``_state.py`` listeners, generalised)::

    bus = EventBus()
    bus.subscribe(terminal.on_event)
    bus.subscribe(summary.on_event)
    promote(..., events=bus)

A listener that raises is logged and dropped from that one delivery: a broken renderer or
notifier never stops a rollback.

Event kinds are dotted strings owned by the module that emits them (``gate.passed``,
``promote.retagged``, ``canary.check``, ``canary.rollback.started`` …); ``data`` holds
JSON-serialisable details, so any event can be written to a log as it is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shipflow.timeutil import utc_timestamp

__all__ = ["Event", "EventBus", "EventSink", "Listener", "NullSink", "RecordingSink"]

logger = logging.getLogger(__name__)

Listener = Callable[["Event"], None]


@dataclass(frozen=True)
class Event:
    """Something that happened: its kind, a one-line human message, and details."""

    kind: str
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=utc_timestamp)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "at": self.at, "data": dict(self.data)}


class EventSink(Protocol):
    """Where a library function sends its events."""

    def emit(self, kind: str, message: str, **data: Any) -> None: ...


class NullSink:
    """Discards every event (the library default)."""

    def emit(self, kind: str, message: str, **data: Any) -> None:
        pass


class RecordingSink:
    """Keeps every event in order (tests; also the source of a run's summary)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def emit(self, kind: str, message: str, **data: Any) -> None:
        with self._lock:
            self.events.append(Event(kind, message, data))

    def kinds(self) -> list[str]:
        with self._lock:
            return [e.kind for e in self.events]


class EventBus:
    """Delivers each event to every subscribed listener, in subscription order, thread-safely."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def emit(self, kind: str, message: str, **data: Any) -> None:
        event = Event(kind, message, data)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                logger.exception("event listener %r failed on %s; continuing", listener, kind)
