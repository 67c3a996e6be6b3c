"""Webhook delivery in the background: a slow, failing or hanging webhook never delays or
blocks a rollback.

:meth:`WebhookNotifier.notify` builds the payload and hands it to a daemon thread, then
returns. The thread POSTs it with one overall deadline (``notify.timeout``, default 10 s:
connect, send and answer together, cancelled at the deadline), retrying a connection error,
a 429 or a 5xx once while time is left; the outcome is logged and kept in ``deliveries``.
The CLI gives deliveries in flight a bounded moment before it exits (:meth:`wait`).

The webhook URL is a credential (Slack and Teams carry the token in its path): it is
registered for redaction when read, and logs and events name only its scheme and host.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from shipflow.events import EventSink, NullSink
from shipflow.redact import redact
from shipflow.release.canary.report import ReleaseReport
from shipflow.release.notify.payloads import build_payload
from shipflow.release.notify.settings import NotifySettings, register_webhook_secret

__all__ = ["Delivery", "WebhookNotifier", "webhook_display"]

log = logging.getLogger(__name__)


def webhook_display(url: str) -> str:
    """What may be shown of a webhook URL: scheme and host, nothing of its path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}/…"


@dataclass(frozen=True)
class Delivery:
    ok: bool
    status: int | None
    attempts: int
    seconds: float
    error: str | None = None


class WebhookNotifier:
    def __init__(self, settings: NotifySettings, *, events: EventSink | None = None) -> None:
        if settings.webhook is None:
            raise ValueError("WebhookNotifier needs a webhook URL")
        register_webhook_secret(settings.webhook)
        self.settings = settings
        self._url = settings.webhook
        self._events = events or NullSink()
        self._threads: list[threading.Thread] = []
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()

    @property
    def display(self) -> str:
        return webhook_display(self._url)

    def notify(self, report: ReleaseReport) -> None:
        body = json.dumps(build_payload(self.settings.format, report), default=str).encode()
        thread = threading.Thread(target=self._deliver, args=(body,), name="shipflow-webhook", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    def _deliver(self, body: bytes) -> None:
        started = time.monotonic()
        try:
            import asyncio

            delivery = asyncio.run(self._post(body, started))
        except Exception as exc:  # never let a thread die with a traceback that may hold the URL
            delivery = Delivery(
                False, None, 1, time.monotonic() - started, redact(f"{type(exc).__name__}: {exc}")
            )
        with self._lock:
            self.deliveries.append(delivery)
        if delivery.ok:
            log.info("webhook %s: delivered (%s) in %.2fs", self.display, delivery.status, delivery.seconds)
            self._events.emit(
                "notify.sent", f"webhook {self.display} answered {delivery.status}", status=delivery.status
            )
        else:
            log.warning(
                "webhook %s: not delivered after %d attempt(s) in %.2fs: %s",
                self.display,
                delivery.attempts,
                delivery.seconds,
                delivery.error,
            )
            self._events.emit(
                "notify.failed", f"webhook {self.display}: {delivery.error}", error=delivery.error
            )

    async def _post(self, body: bytes, started: float) -> Delivery:
        import asyncio

        import httpx

        attempts = 0
        status: int | None = None
        error: str | None = None
        deadline = started + self.settings.timeout
        try:
            async with asyncio.timeout(self.settings.timeout):
                async with httpx.AsyncClient(
                    timeout=httpx.Timeout(self.settings.timeout), follow_redirects=False, trust_env=False
                ) as client:
                    while attempts < 2:
                        attempts += 1
                        try:
                            response = await client.post(
                                self._url, content=body, headers={"Content-Type": "application/json"}
                            )
                            status = response.status_code
                            if 200 <= status < 300:
                                return Delivery(True, status, attempts, time.monotonic() - started)
                            error = f"HTTP {status}: {redact(response.text[:200])}"
                            if status != 429 and status < 500:
                                break
                        except httpx.TransportError as exc:
                            error = redact(f"{type(exc).__name__}: {exc}") or type(exc).__name__
                        if time.monotonic() + 0.5 >= deadline:
                            break
                        await asyncio.sleep(0.5)
        except TimeoutError:
            error = f"no answer within {self.settings.timeout:g}s"
        return Delivery(False, status, attempts, time.monotonic() - started, error)
