"""The webhook payloads: Slack incoming webhooks, Microsoft Teams, plain JSON.

* **slack** — an incoming-webhook message: ``text`` (the notification fallback) and Block Kit
  ``blocks`` (a header, the reason, a fields section with digests and timings, a context line).
  Text is escaped as Slack's mrkdwn requires (``&``, ``<``, ``>``).
* **teams** — a message with one Adaptive Card attachment (``type: message``,
  ``attachments[0].contentType: application/vnd.microsoft.card.adaptive``, card version 1.4):
  the shape Teams' Workflows ("Post to a channel when a webhook request is received") and
  incoming webhooks accept.
* **json** — ``{"schema": "shipflow.canary/v1", ...}``: the report's JSON without the check
  list (the history and the step summary carry that).
"""

from __future__ import annotations

from typing import Any, assert_never

from shipflow.release.canary.report import ReleaseReport
from shipflow.release.notify.settings import WebhookFormat

__all__ = ["JSON_SCHEMA", "build_payload", "facts"]

JSON_SCHEMA = "shipflow.canary/v1"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def title(report: ReleaseReport) -> str:
    what = "canary" if report.kind == "canary" else "rollback"
    return f"{report.verdict.headline}: {what} on {report.env}"


def facts(report: ReleaseReport) -> list[tuple[str, str]]:
    """The (label, value) pairs every format shows."""
    counts = report.counts
    rows = [
        ("Environment", report.env),
        ("Image", report.image),
        ("Candidate" if report.kind == "canary" else "Rolled back from", str(report.candidate or "—")),
        (
            "Previous (rollback target)" if report.kind == "canary" else "Rolled back to",
            str(report.previous or "—"),
        ),
        ("Deployed now", report.state or "unknown"),
        ("Actor", report.actor),
    ]
    if report.kind == "canary":
        rows.append(
            (
                "Checks",
                f"{counts['pass']} passed, {counts['fail']} failed, {counts['error']} errors, "
                f"{counts['pending']} pending",
            )
        )
    timings = report.timings
    if "detection" in timings:
        rows.append(("Detection (first failure → trip)", _seconds(timings.get("detection"))))
    if "rollback" in timings:
        rows.append(("Rollback (trip → previous healthy)", _seconds(timings.get("rollback"))))
    if "first_failure_to_recovered" in timings:
        rows.append(("First failure → previous healthy", _seconds(timings.get("first_failure_to_recovered"))))
    return rows


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack(report: ReleaseReport) -> dict[str, Any]:
    heading = title(report)
    fields = [
        {"type": "mrkdwn", "text": f"*{_slack_escape(label)}*\n{_slack_escape(value)[:1900]}"}
        for label, value in facts(report)
    ][:10]
    return {
        "text": _slack_escape(f"{heading}: {report.reason}")[:3000],
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": heading[:150], "emoji": True}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _slack_escape(report.reason)[:2900] or "—"},
            },
            {"type": "section", "fields": fields},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": _slack_escape(f"shipflow · exit {report.exit_code} · {report.finished_at}"),
                    }
                ],
            },
        ],
    }


def _teams(report: ReleaseReport) -> dict[str, Any]:
    color = {"passed": "Good", "rolled-back": "Warning"}.get(report.verdict.value, "Attention")
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "size": "Large",
                "weight": "Bolder",
                "text": title(report),
                "wrap": True,
                "color": color,
            },
            {"type": "TextBlock", "text": report.reason, "wrap": True},
            {
                "type": "FactSet",
                "facts": [{"title": label, "value": value} for label, value in facts(report)],
            },
            {
                "type": "TextBlock",
                "text": f"shipflow · exit {report.exit_code} · {report.finished_at}",
                "isSubtle": True,
                "size": "Small",
                "wrap": True,
            },
        ],
    }
    return {
        "type": "message",
        "summary": f"{title(report)}: {report.reason}"[:250],
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def _json(report: ReleaseReport) -> dict[str, Any]:
    data = report.to_json()
    data.pop("checks", None)
    data.pop("recovery", None)
    data.pop("settings", None)
    data["evidence"] = [
        {"gate": e["gate"], "status": e["status"], "subject": e["subject"]} for e in data["evidence"]
    ]
    return {"schema": JSON_SCHEMA, "title": title(report), **data}


def build_payload(fmt: WebhookFormat, report: ReleaseReport) -> dict[str, Any]:
    if fmt is WebhookFormat.SLACK:
        return _slack(report)
    if fmt is WebhookFormat.TEAMS:
        return _teams(report)
    if fmt is WebhookFormat.JSON:
        return _json(report)
    assert_never(fmt)
