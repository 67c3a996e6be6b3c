"""shipflow.yaml validation: the README's example loads; each mistake names file, line, key
path, what is wrong and what is allowed."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from shipflow.errors import ConfigError
from shipflow.release.config import find_config, load_config
from shipflow.signing import generate_private_key
from support.paths import TESTS_DIR


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    (tmp_path / "keys").mkdir()
    for name in ("cosign", "lead-1", "lead-2"):
        (tmp_path / "keys" / f"{name}.pub").write_bytes(generate_private_key().verifier.pem)
    return tmp_path


def readme_example() -> str:
    text = (TESTS_DIR.parent / "README.md").read_text()
    block = text.split("### `shipflow.yaml`", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    return block.replace("  records: [keys/ci.pub]", "  records: [keys/cosign.pub]")


def write(root: Path, text: str) -> Path:
    path = root / "shipflow.yaml"
    path.write_text(text)
    return path


def test_the_readme_example_loads(keys: Path) -> None:
    config = load_config(write(keys, readme_example()))
    assert list(config.environments) == ["dev", "staging", "canary", "production"]
    assert config.describe_paths() == "build → dev, dev → staging, staging → canary, canary → production"
    assert config.chain_to("production") == ["dev", "staging", "canary", "production"]
    assert [g.name for g in config.environment("staging").gates] == [
        "signature",
        "vulnerabilities",
        "migration",
        "smoke",
    ]
    assert [g.name for g in config.environment("dev").gates] == ["signature"]  # signature is always checked
    assert config.environment("production").approvals == 1
    assert config.roles_of("lead-login-1") == ["tech-lead"]
    smoke = config.command_gates["smoke"]
    assert smoke.checks[0].json == {"status": "ok"} and smoke.timeout == 120
    assert config.migration is not None and config.migration.database_url.raw == "${STAGING_DATABASE_URL}"


BASE = """\
image: oci:./store
keys: {trusted: [keys/cosign.pub]}
roles: {ci: ["github-actions[bot]"], developer: [dev-1]}
approvers: {lead-1: keys/lead-1.pub}
environments:
  dev: {promoted_by: [ci]}
  staging: {from: dev, promoted_by: [developer]}
"""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("image: oci:./store", "image: ghcr.io/org/app:1.0"),
            r":1: image: must name the repository without a tag",
        ),
        (
            ("keys/cosign.pub", "keys/missing.pub"),
            r":2: keys.trusted\[0\]: key file 'keys/missing.pub' does not exist",
        ),
        (
            ("from: dev,", "from: qa,"),
            r":7: environments.staging.from: no environment 'qa' \(allowed: dev, staging\)",
        ),
        (
            ("promoted_by: [developer]", "promoted_by: [admin]"),
            r":7: environments.staging.promoted_by\[0\]: no role 'admin'",
        ),
        (
            ("promoted_by: [developer]}", "promoted_by: [developer], gates: [smoke]}"),
            r"gate 'smoke' is used but not configured",
        ),
        (
            ("promoted_by: [developer]}", "promoted_by: [developer], gates: [lint]}"),
            r"unknown gate 'lint' \(allowed: ",
        ),
        (
            ("promoted_by: [developer]}", "promoted_by: [developer], gates: [{signature: {skip: x}}]}"),
            r"cannot be skipped",
        ),
        (
            ("promoted_by: [developer]}", "promoted_by: [developer], approvals: 2}"),
            r"needs 2 approval\(s\) but only 1 approver",
        ),
        (
            ("dev: {promoted_by: [ci]}", "dev: {from: staging, promoted_by: [ci]}"),
            r"promotion paths form a cycle",
        ),
        (("environments:", "environment:"), r":5: environment: unknown key 'environment'"),
        (("  staging:", "  Staging:"), r"environment name 'Staging' is not allowed"),
    ],
)
def test_mistakes_point_at_their_line(keys: Path, change: tuple[str, str], expected: str) -> None:
    text = BASE.replace(*change)
    assert text != BASE
    with pytest.raises(ConfigError) as failed:
        load_config(write(keys, text))
    assert re.search(expected, failed.value.message), failed.value.message
    assert failed.value.exit_code == 2


def test_skipped_gates_and_the_approvals_gate_are_added(keys: Path) -> None:
    text = BASE.replace(
        "promoted_by: [developer]}",
        "promoted_by: [developer], gates: [{smoke: {skip: later}}], approvals: 1}",
    )
    config = load_config(write(keys, text + "gates:\n  smoke: {command: ./smoke.sh}\n"))
    gates = config.environment("staging").gates
    assert [(g.name, g.skip_reason) for g in gates] == [
        ("signature", None),
        ("smoke", "later"),
        ("approvals", None),
    ]


def test_finding_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPFLOW_CONFIG", raising=False)
    with pytest.raises(ConfigError, match=r"no shipflow\.yaml in") as missing:
        find_config(cwd=tmp_path)
    assert missing.value.hint is not None and "shipflow init" in missing.value.hint
    (tmp_path / "shipflow.yaml").write_text("x: 1\n")
    assert find_config(cwd=tmp_path) == tmp_path / "shipflow.yaml"
    monkeypatch.setenv("SHIPFLOW_CONFIG", os.fspath(tmp_path / "other.yaml"))
    with pytest.raises(ConfigError, match="SHIPFLOW_CONFIG"):
        find_config(cwd=tmp_path)


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("/dev/zero", r"/dev/zero: is not a regular file \(a device or a pipe\)"),
        ("DIR", r": is a directory, not a configuration file"),
        ("/nonexistent/shipflow.yaml", r"/nonexistent/shipflow.yaml: no such configuration file"),
    ],
)
def test_a_config_path_that_is_not_a_file_says_what_it_is(
    given: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path if given == "DIR" else Path(given)
    with pytest.raises(ConfigError, match=problem):
        find_config(path)
    monkeypatch.setenv("SHIPFLOW_CONFIG", str(path))
    with pytest.raises(ConfigError, match=r"^\$SHIPFLOW_CONFIG=.*" + problem.split(": ", 1)[-1]):
        find_config()
