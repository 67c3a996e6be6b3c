"""The ``notify:`` settings of the canary: where the outcome is sent, in which shape, when."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shipflow.errors import ConfigError
from shipflow.redact import register_secret

if TYPE_CHECKING:
    from shipflow.release.yamlconf import Node

__all__ = [
    "NOTIFY_EVENTS",
    "NotifySettings",
    "WebhookFormat",
    "notify_settings_from_node",
    "register_webhook_secret",
]

# Verdicts a webhook can be sent for (``notify.on``).
NOTIFY_EVENTS = ("passed", "rolled-back", "rollback-failed", "stopped", "refused", "error")
DEFAULT_ON = frozenset({"rolled-back", "rollback-failed", "stopped", "error"})


class WebhookFormat(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    JSON = "json"


@dataclass(frozen=True)
class NotifySettings:
    webhook: str | None = field(default=None, repr=False)
    format: WebhookFormat = WebhookFormat.JSON
    on: frozenset[str] = DEFAULT_ON
    timeout: float = 10.0  # the whole delivery, retries included


def register_webhook_secret(url: str) -> None:
    """A webhook URL is a credential (Slack's and Teams' carry their token in the path):
    register the whole URL, its path and its query for redaction."""
    register_secret(url)
    parts = urlsplit(url)
    if parts.path and parts.path != "/":
        register_secret(parts.path)
        for segment in parts.path.split("/"):
            if len(segment) >= 8:
                register_secret(segment)
    if parts.query:
        register_secret(parts.query)


def validate_webhook_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            "notify.webhook is not an http(s) URL",
            hint="set ROLLBACK_WEBHOOK to the incoming-webhook URL of Slack or Teams (or any JSON endpoint)",
        )
    return url


def notify_settings_from_node(node: Node | None, environ: Mapping[str, str]) -> NotifySettings:
    """``notify: {webhook: "${ROLLBACK_WEBHOOK}", format: slack, on: [rolled-back], timeout: 10s}``.

    Without a ``notify`` section, ``ROLLBACK_WEBHOOK`` (the specification's secret) is used
    when it is set, in the plain JSON shape.
    """
    if node is None:
        url = environ.get("ROLLBACK_WEBHOOK") or None
        if url:
            register_webhook_secret(url)
            validate_webhook_url(url)
        return NotifySettings(webhook=url)
    children = node.mapping({"webhook", "format", "on", "timeout"})
    webhook_node = children.get("webhook")
    url = None
    if webhook_node is not None:
        url = webhook_node.expand_env(environ, required=False) or None
        if url:
            register_webhook_secret(url)
            try:
                validate_webhook_url(url)
            except ConfigError as exc:
                raise webhook_node.error("is not an http(s) URL", hint=exc.hint) from None
    format_node = node.get("format")
    fmt = WebhookFormat.JSON
    if format_node is not None:
        fmt = WebhookFormat(format_node.as_str(choices=[f.value for f in WebhookFormat]))
    on = DEFAULT_ON
    on_node = node.get("on")
    if on_node is not None:
        on = frozenset(item.as_str(choices=NOTIFY_EVENTS) for item in on_node.as_list())
    timeout_node = node.get("timeout")
    timeout = timeout_node.as_duration(min=0.1, max=120) if timeout_node is not None else 10.0
    return NotifySettings(webhook=url, format=fmt, on=on, timeout=timeout)
