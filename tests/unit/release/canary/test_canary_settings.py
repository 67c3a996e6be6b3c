"""The canary: section of shipflow.yaml, flags and SHIPFLOW_CANARY_* variables."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shipflow.errors import ConfigError
from shipflow.redact import redact
from shipflow.release.canary.settings import CanaryFlags, CanarySettings, FlapRule
from shipflow.release.deploy.settings import CommandSettings, LocalSettings, TagSettings
from shipflow.release.notify.settings import WebhookFormat
from shipflow.release.yamlconf import load_yaml

FULL = """\
image: ghcr.io/immoflowme/app
canary:
  health_url: "${CANARY_DEPLOY_URL}/api/health"
  interval: 10s
  duration: 10m
  timeout: 5s
  failure_threshold: 3
  flap: {failures: 4, window: 10}
  expect: {status: 200, json: {status: ok, checks: {db: up}}}
  version: {json_field: build.version, ready_within: 60s}
  promoted_from: staging
  deploy: {target: command, deploy: "fly deploy --image {ref}", timeout: 300s}
  notify: {webhook: "${ROLLBACK_WEBHOOK}", format: slack}
"""


def load(
    tmp_path: Path, text: str, environ: dict[str, str] | None = None, flags: CanaryFlags | None = None
) -> CanarySettings:
    path = tmp_path / "shipflow.yaml"
    path.write_text(text)
    root = load_yaml(path)
    return CanarySettings.from_node(root.get("canary"), environ or {}, flags=flags, base_dir=tmp_path)


def test_the_issue_example_parses(tmp_path: Path) -> None:
    environ = {
        "CANARY_DEPLOY_URL": "https://canary.example.com",
        "ROLLBACK_WEBHOOK": "https://hooks.slack.com/services/T0/B0/sentinel-token-1234",
    }
    s = load(tmp_path, FULL, environ)
    assert s.health_url == "https://canary.example.com/api/health"
    assert (s.interval, s.duration, s.timeout, s.failure_threshold) == (10.0, 600.0, 5.0, 3)
    assert s.flap == FlapRule(4, 10)
    assert s.expect.statuses == frozenset({200})
    assert s.expect.json == (("status", "ok"), ("checks.db", "up"))
    assert (
        s.version is not None and s.version.json_field == "build.version" and s.version.ready_within == 60.0
    )
    assert isinstance(s.deploy, CommandSettings) and s.deploy.timeout == 300.0
    assert s.deploy.deploy.argv == ("fly", "deploy", "--image", "{ref}")
    assert s.notify.format is WebhookFormat.SLACK
    assert s.promoted_from == "staging"
    assert s.notify.webhook == environ["ROLLBACK_WEBHOOK"]
    # The webhook URL is a secret: registered for redaction, token and all.
    assert "sentinel-token-1234" not in redact(f"posting to {environ['ROLLBACK_WEBHOOK']}")
    assert "sentinel-token-1234" not in redact("token sentinel-token-1234 in a message")
    assert "sentinel-token-1234" not in repr(s)


def test_defaults_and_canary_deploy_url(tmp_path: Path) -> None:
    s = load(tmp_path, "canary: {}\n", {"CANARY_DEPLOY_URL": "https://c.example.com/"})
    assert s.health_url == "https://c.example.com/api/health"
    assert (s.interval, s.duration, s.timeout, s.failure_threshold) == (10.0, 600.0, 5.0, 3)
    assert isinstance(s.deploy, TagSettings)
    assert s.flap is None and s.version is None and s.notify.webhook is None
    assert s.sources["health_url"] == "$CANARY_DEPLOY_URL + /api/health"


def test_local_target_defaults_the_health_url_to_its_port(tmp_path: Path) -> None:
    s = load(tmp_path, "canary:\n  deploy: {target: local, port: 18080, state_dir: state}\n")
    assert s.health_url == "http://127.0.0.1:18080/api/health"
    assert isinstance(s.deploy, LocalSettings) and s.deploy.state_dir == tmp_path / "state"


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    text = "canary:\n  health_url: http://file.test/h\n  interval: 4s\n  duration: 1m\n  timeout: 1s\n"
    env = {"SHIPFLOW_CANARY_INTERVAL": "3s", "SHIPFLOW_CANARY_HEALTH_URL": "http://env.test/h"}
    s = load(tmp_path, text, env, CanaryFlags(interval="2s"))
    assert s.interval == 2.0 and s.sources["interval"] == "--interval"
    assert s.health_url == "http://env.test/h" and s.sources["health_url"] == "$SHIPFLOW_CANARY_HEALTH_URL"
    assert s.duration == 60.0 and s.sources["duration"].endswith("shipflow.yaml:4: canary.duration")
    assert s.failure_threshold == 3 and "failure_threshold" not in s.sources
    s2 = load(tmp_path, text, env)
    assert s2.interval == 3.0
    s3 = load(tmp_path, text)
    assert s3.interval == 4.0 and s3.health_url == "http://file.test/h"


def test_timeout_must_be_shorter_than_the_interval_naming_where_each_came_from(tmp_path: Path) -> None:
    text = "canary:\n  health_url: http://x.test/h\n  interval: 200ms\n"
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, {}, CanaryFlags(timeout="0.2"))
    message = info.value.message
    assert message.startswith("--timeout: the check timeout (0.2s) must be shorter than the interval (0.2s")
    assert "shipflow.yaml:3: canary.interval" in message


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("  interval: soon\n", "shipflow.yaml:3: canary.interval: 'soon' is not a duration"),
        (
            "  failure_threshold: 0\n",
            "shipflow.yaml:3: canary.failure_threshold: must be an integer between 1 and 1000",
        ),
        (
            "  flap: {failures: 11, window: 10}\n",
            "shipflow.yaml:3: canary.flap.failures: must not exceed flap.window (10)",
        ),
        ("  flap: {failures: 3}\n", "shipflow.yaml:3: canary.flap: needs both failures and window"),
        ("  intervall: 10s\n", "shipflow.yaml:3: canary.intervall: unknown key 'intervall'"),
        (
            "  expect: {status: [200, 999]}\n",
            "canary.expect.status[1]: must be an integer between 100 and 599",
        ),
        (
            "  deploy: {target: ssh}\n",
            "canary.deploy.target: 'ssh' is not allowed (allowed: tag, command, local)",
        ),
        (
            "  deploy: {target: command, deploy: 'x {digst}'}\n",
            "canary.deploy.deploy: unknown placeholder {digst}",
        ),
        ("  deploy: {target: tag, port: 80}\n", "canary.deploy.port: unknown key 'port'"),
        ("  notify: {webhook: 'ftp://x', format: slack}\n", "canary.notify.webhook: is not an http(s) URL"),
        ("  notify: {format: discord}\n", "canary.notify.format: 'discord' is not allowed"),
        ("  version: {ready_within: 10s}\n", "canary.version: json_field is required"),
        (
            "  version: {json_field: v, ready_within: 20m}\n",
            "version.ready_within (1200s) must be shorter than the duration",
        ),
    ],
)
def test_precise_errors(tmp_path: Path, snippet: str, expected: str) -> None:
    text = "canary:\n  health_url: http://x.test/h\n" + snippet
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert expected in info.value.message
    assert info.value.exit_code == 2


def test_bad_values_from_flags_and_environment(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--interval: 'often' is not a duration"):
        load(tmp_path, "canary: {health_url: 'http://x.test/h'}\n", {}, CanaryFlags(interval="often"))
    with pytest.raises(ConfigError, match=r"^\$SHIPFLOW_CANARY_FAILURE_THRESHOLD: 'three' is not an integer"):
        load(
            tmp_path,
            "canary: {health_url: 'http://x.test/h'}\n",
            {"SHIPFLOW_CANARY_FAILURE_THRESHOLD": "three"},
        )
    with pytest.raises(ConfigError, match="no health URL"):
        load(tmp_path, "canary: {}\n")
    with pytest.raises(ConfigError, match="is not an http"):
        load(tmp_path, "canary: {health_url: 'file:///etc/passwd'}\n")


def test_health_url_credentials_and_header_secrets_are_registered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    environ = {"HEALTH_TOKEN": "sentinel-bearer-5678"}
    text = (
        "canary:\n  health_url: https://user:sentinel-pass-9012@c.test/h\n"
        "  headers: {Authorization: 'Bearer ${HEALTH_TOKEN}'}\n"
    )
    s = load(tmp_path, text, environ)
    assert s.headers == {"Authorization": "Bearer sentinel-bearer-5678"}
    with caplog.at_level(logging.INFO):
        logging.getLogger("shipflow.test").info("probe %s with %s", s.health_url, s.headers)
    assert "sentinel-pass-9012" not in redact(caplog.records[0].getMessage())
    assert "sentinel-bearer-5678" not in redact(caplog.records[0].getMessage())
    assert "sentinel-pass-9012" not in s.display_url and "sentinel-pass-9012" not in str(s.to_json())


def test_rollback_webhook_without_a_notify_section(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        "canary: {health_url: 'http://x.test/h'}\n",
        {"ROLLBACK_WEBHOOK": "https://example.test/hook/sentinel-abc-123"},
    )
    assert s.notify.webhook == "https://example.test/hook/sentinel-abc-123"
    assert s.notify.format is WebhookFormat.JSON
    assert "sentinel-abc-123" not in redact("https://example.test/hook/sentinel-abc-123")
