"""shipflow.yaml loading: every error names the file, the line and the key path; hostile
documents are bounded; ${NAME} references are expanded and secret values registered."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipflow.errors import ConfigError
from shipflow.redact import redact
from shipflow.release.yamlconf import load_yaml, parse_duration


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shipflow.yaml"
    path.write_text(text)
    return path


def test_values_carry_file_line_and_path(tmp_path: Path) -> None:
    root = load_yaml(write(tmp_path, "image: oci:./store\ncanary:\n  interval: 10s\n  threshold: 3\n"))
    canary = root.require("canary")
    interval = canary.require("interval")
    assert (interval.path, interval.line) == ("canary.interval", 3)
    assert interval.as_duration() == 10.0 and canary.require("threshold").as_int(min=1) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("canary:\n  threshold: two\n", "shipflow.yaml:2: canary.threshold: must be an integer >= 1"),
        ("canary:\n  interval: soon\n", "shipflow.yaml:2: canary.interval: 'soon' is not a duration"),
        ("canary:\n  surprise: 1\n", "shipflow.yaml:2: canary.surprise: unknown key 'surprise'"),
        ("canary: [1]\n", "shipflow.yaml:1: canary: must be a mapping, got a list"),
        ("a: 1\na: 2\n", "shipflow.yaml:2: a: duplicate key (first on line 1)"),
        ("a: &x [1]\nb: *x\n", "shipflow.yaml:2: b: YAML anchors and aliases are not allowed"),
        ("a: [\n", "not valid YAML"),
        ("base: &b {x: 1}\nc:\n  <<: *b\n", "YAML merge keys are not allowed"),
    ],
)
def test_errors_point_at_the_value(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as failed:
        node = load_yaml(write(tmp_path, text))
        canary = node.require("canary")
        canary.mapping({"threshold", "interval"})
        if canary.get("threshold") is not None:
            canary.require("threshold").as_int(min=1)
        canary.require("interval").as_duration()
    assert expected in failed.value.message
    assert failed.value.exit_code == 2


def test_billion_laughs_and_deep_nesting_are_refused(tmp_path: Path) -> None:
    laughs = "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n"
    with pytest.raises(ConfigError, match="aliases"):
        load_yaml(write(tmp_path, laughs))
    deep = "a: " + "[" * 100 + "]" * 100 + "\n"
    with pytest.raises(ConfigError, match="nested more than"):
        load_yaml(write(tmp_path, deep))


def test_very_deep_flow_nesting_is_refused_at_its_line_before_the_scanner_reads_it_all(
    tmp_path: Path,
) -> None:
    # 100,000 levels: PyYAML's scanner is quadratic in the flow depth (seconds to minutes for the
    # whole document); the parser's events are walked lazily and stop at the 33rd level, so the
    # error names the line, which a RecursionError from the composer could not.
    deep = "image: oci:./store\nroles:\n  ci: " + "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(ConfigError, match=r":3: nested more than 32 levels deep$"):
        load_yaml(write(tmp_path, deep))


def test_empty_file_is_an_empty_mapping(tmp_path: Path) -> None:
    assert load_yaml(write(tmp_path, "")).mapping() == {}


def test_env_references_expand_and_register_secrets(tmp_path: Path) -> None:
    root = load_yaml(
        write(
            tmp_path,
            'db: "${STAGING_DATABASE_URL}"\nurl: "${CANARY_DEPLOY_URL}/api/health"\nx: "${UNSET_X:-d}"\n',
        )
    )
    sentinel = "postgresql://app:S3ntinel-pw-7781@db.internal/app"
    env = {"STAGING_DATABASE_URL": sentinel, "CANARY_DEPLOY_URL": "http://127.0.0.1:8080"}
    assert root.require("db").expand_env(env) == sentinel
    assert redact(f"connecting to {sentinel}") == "connecting to ***"
    assert root.require("url").expand_env(env) == "http://127.0.0.1:8080/api/health"
    assert root.require("x").expand_env(env) == "d"
    with pytest.raises(ConfigError, match=r"refers to \$\{CANARY_DEPLOY_URL\}, which is not set"):
        root.require("url").expand_env({})


@pytest.mark.parametrize(
    ("text", "seconds"), [("250ms", 0.25), ("10s", 10), ("5m", 300), ("1h", 3600), ("7", 7)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
