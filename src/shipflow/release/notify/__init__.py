"""Telling people what a canary or rollback did: the GitHub step summary and webhooks
(Slack, Microsoft Teams, plain JSON), delivered in the background so that a webhook never
delays a rollback.

The names below are loaded on first use: :mod:`shipflow.release.canary.settings` needs
:mod:`.settings` while the canary package itself is still being imported, and the payload
builders need the canary's report type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipflow._lazy import lazy_names

if TYPE_CHECKING:
    from shipflow.release.notify.payloads import JSON_SCHEMA, build_payload
    from shipflow.release.notify.settings import NotifySettings, WebhookFormat, notify_settings_from_node
    from shipflow.release.notify.summary import render_summary
    from shipflow.release.notify.webhook import Delivery, WebhookNotifier, webhook_display

__all__ = [
    "JSON_SCHEMA",
    "Delivery",
    "NotifySettings",
    "WebhookFormat",
    "WebhookNotifier",
    "build_payload",
    "notify_settings_from_node",
    "render_summary",
    "webhook_display",
]

_HOME = {
    "JSON_SCHEMA": ".payloads",
    "build_payload": ".payloads",
    "NotifySettings": ".settings",
    "WebhookFormat": ".settings",
    "notify_settings_from_node": ".settings",
    "render_summary": ".summary",
    "Delivery": ".webhook",
    "WebhookNotifier": ".webhook",
    "webhook_display": ".webhook",
}

__getattr__, __dir__ = lazy_names(__name__, _HOME)
