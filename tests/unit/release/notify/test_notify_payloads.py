"""Step summary and webhook payloads made from a report."""

from __future__ import annotations

import json

from fixtures.canary_fakes import digest_of
from shipflow.release.canary.probe import CheckStatus
from shipflow.release.canary.report import ReleaseReport, RunVerdict
from shipflow.release.canary.watch import Check, Trip
from shipflow.release.notify import JSON_SCHEMA, WebhookFormat, build_payload, render_summary

P = digest_of("previous")
D = digest_of("candidate")


def check(seq: int, status: CheckStatus, latency: float, reason: str = "status 200") -> Check:
    return Check(
        seq,
        seq * 10.0,
        seq * 10.0 + latency,
        seq * 10.0,
        status,
        "ok",
        reason,
        latency,
        200,
        "2.0.0",
        "2026-12-01T00:00:00Z",
    )


def rolled_back_report() -> ReleaseReport:
    report = ReleaseReport(
        kind="canary",
        env="canary",
        image="ghcr.io/org/app",
        candidate=D,
        actor="lead-1",
        started_at="2026-12-01T00:00:00Z",
    )
    report.checks = [check(1, CheckStatus.PASS, 0.012), check(2, CheckStatus.PASS, 0.015)] + [
        check(i, CheckStatus.FAIL, 0.02, "status is '<b>degraded</b>' | `x`, expected 'ok'")
        for i in (3, 4, 5)
    ]
    report.trip = Trip(
        "consecutive",
        "3 consecutive failed checks (failure_threshold 3)",
        report.checks[2],
        report.checks[4],
        (3, 4, 5),
    )
    report.previous = P
    report.previous_source = ":canary before this canary"
    report.timings = {
        "watch": 50.0,
        "detection": 20.02,
        "rollback": 0.41,
        "first_failure_to_recovered": 20.43,
        "total": 51.0,
    }
    report.state = f":canary names {P}; local target: {P} (running)"
    report.finished_at = "2026-12-01T00:01:00Z"
    report.finish(RunVerdict.ROLLED_BACK, f"tripped: 3 consecutive failed checks; rolled back to {P}")
    return report


def test_summary_has_verdict_digests_timings_table_and_chart() -> None:
    text = render_summary(rolled_back_report())
    assert text.startswith("## ⏪ rolled back: canary on canary")
    assert f"`{D}`" in text and f"`{P}`" in text
    assert "| Detection (first failure → trip) | 20.02 s |" in text
    assert "| Rollback (trip → previous healthy) | 0.41 s |" in text
    assert "```mermaid\nxychart-beta" in text
    assert "    line [12.0, 15.0, 20.0, 20.0, 20.0]" in text
    assert "    bar [0, 0, 20.0, 20.0, 20.0]" in text  # failures marked
    assert text.count("| 3 | 30.00 | ❌ fail |") == 1
    # Text from the canary's body is escaped: no markup, no table break, no code span.
    assert "<b>" not in text and "&lt;b&gt;degraded&lt;/b&gt;" in text
    assert "\\| 'x'" in text


def test_slack_payload() -> None:
    payload = build_payload(WebhookFormat.SLACK, rolled_back_report())
    assert payload["text"].startswith("⏪ rolled back: canary on canary: tripped")
    blocks = payload["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context"]
    fields = {f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for f in blocks[2]["fields"]}
    assert fields["*Candidate*"] == str(D)
    assert fields["*Previous (rollback target)*"] == str(P)
    assert len(blocks[2]["fields"]) <= 10


def test_slack_text_cannot_mention_or_link() -> None:
    report = rolled_back_report()
    report.reason = "body said <!channel> <https://evil.test|click>"
    payload = build_payload(WebhookFormat.SLACK, report)
    section = payload["blocks"][1]["text"]["text"]
    assert section == "body said &lt;!channel&gt; &lt;https://evil.test|click&gt;"
    assert "<!channel>" not in json.dumps(payload)


def test_teams_payload_is_an_adaptive_card_message() -> None:
    payload = build_payload(WebhookFormat.TEAMS, rolled_back_report())
    assert payload["type"] == "message"
    attachment = payload["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Candidate"] == str(D) and facts["Rollback (trip → previous healthy)"] == "0.41 s"


def test_json_payload() -> None:
    payload = build_payload(WebhookFormat.JSON, rolled_back_report())
    assert payload["schema"] == JSON_SCHEMA
    assert payload["verdict"] == "rolled-back" and payload["exitCode"] == 1
    assert payload["candidate"] == str(D) and payload["previous"] == str(P)
    assert payload["timings"]["detection"] == 20.02
    assert payload["trip"]["failures"] == [3, 4, 5]
    assert "checks" not in payload
    json.dumps(payload)  # serialisable as is
