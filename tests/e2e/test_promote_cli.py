"""``shipflow promote | approve | status | history | where`` and ``verify --promoted-to`` as a
user runs them, on the embedded layout: exit codes, --json, GitHub outputs and step summary,
and the messages for a missing or broken shipflow.yaml."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from shipflow.oci.layout import LayoutStore
from shipflow.signing import sign
from support.cli import InProcessCli
from support.pipeline import PASSWORD, PipelineDir, make_pipeline_dir, push_image

CI = "github-actions[bot]"


@pytest.fixture
def made(tmp_path: Path) -> PipelineDir:
    made = make_pipeline_dir(tmp_path, "oci:./store")
    LayoutStore(tmp_path / "store", create=True)
    return made


@pytest.fixture
def shipflow(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> InProcessCli:
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    for name in (
        "GITHUB_ACTIONS",
        "GITHUB_ACTOR",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
        "COSIGN_PRIVATE_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    return InProcessCli(monkeypatch, capsys)


def cli(
    shipflow: InProcessCli, made: PipelineDir, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return shipflow(*args, cwd=made.root, db=made.root / "unused.db", env=env)


def image(made: PipelineDir, name: str = "v1", signed: bool = True) -> str:
    store = LayoutStore(made.root / "store")
    digest = push_image(store, name)
    if signed:
        sign(store, digest, made.keys["ci"], reference=f"oci:{made.root / 'store'}")
    return str(digest)


def test_promote_through_the_chain_with_github_outputs(shipflow: InProcessCli, made: PipelineDir) -> None:
    digest = image(made)
    outputs, summary = made.root / "out.txt", made.root / "summary.md"
    github = {"GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)}
    key = ["--key", str(made.key_file("ci"))]
    result = cli(
        shipflow, made, "promote", "--digest", digest, "--to", "dev", "--actor", CI, *key, env=github
    )
    assert result.returncode == 0, result.stderr
    assert "dev now holds" in result.stdout and "✓ signature" in result.stderr
    assert f"digest={digest}" in outputs.read_text() and "promoted=true" in outputs.read_text()
    assert "| signature | ✓ passed |" in summary.read_text()

    as_json = cli(
        shipflow,
        made,
        "promote",
        "--digest",
        digest,
        "--from",
        "dev",
        "--to",
        "staging",
        "--actor",
        "dev-1",
        "--json",
        *key,
    )
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["status"] == "promoted" and data["gates"][0]["gate"] == "signature"
    assert data["record"].startswith("sf.rec.") and data["history"].startswith("sf.hist.")

    again = cli(shipflow, made, "promote", "--digest", digest, "--to", "staging", "--actor", "dev-1", *key)
    assert again.returncode == 0 and "already holds" in again.stdout

    status = json.loads(cli(shipflow, made, "status", "--json").stdout)
    held = {e["environment"]: e["digest"] for e in status["environments"]}
    assert held == {"dev": digest, "staging": digest, "canary": None, "production": None}
    entries = json.loads(cli(shipflow, made, "history", "staging", "--json").stdout)["entries"]
    assert [e["actor"] for e in entries] == ["dev-1"]
    where = json.loads(cli(shipflow, made, "where", digest, "--json").stdout)
    assert where["holds"] == ["dev", "staging"]

    verified = cli(
        shipflow, made, "verify", f"oci:{made.root / 'store'}@{digest}", "--promoted-to", "staging", "--json"
    )
    assert verified.returncode == 0, verified.stderr
    assert [p["environment"] for p in json.loads(verified.stdout)["promotions"]] == ["dev", "staging"]
    not_yet = cli(
        shipflow, made, "verify", f"oci:{made.root / 'store'}@{digest}", "--promoted-to", "production"
    )
    assert not_yet.returncode == 1 and "no verified promotion record for staging → canary" in not_yet.stderr


def test_refusals_exit_1_and_leave_the_target_alone(shipflow: InProcessCli, made: PipelineDir) -> None:
    digest = image(made)
    unsigned = image(made, "unsigned", signed=False)
    key = ["--key", str(made.key_file("ci"))]
    outputs = made.root / "out.txt"
    assert (
        cli(shipflow, made, "promote", "--digest", digest, "--to", "dev", "--actor", CI, *key).returncode == 0
    )
    cases = [
        (
            ["--digest", digest, "--from", "dev", "--to", "production", "--actor", "lead-1"],
            "not an allowed path",
        ),
        (
            ["--digest", digest, "--from", "dev", "--to", "staging", "--actor", "lead-1"],
            "needs role developer",
        ),
        (["--digest", unsigned, "--to", "dev", "--actor", CI], "has no signatures"),
        (
            ["--digest", digest, "--from", "staging", "--to", "canary", "--actor", "lead-1"],
            "is not in staging",
        ),
    ]
    for args, message in cases:
        result = cli(shipflow, made, "promote", *args, *key, env={"GITHUB_OUTPUT": str(outputs)})
        assert result.returncode == 1, (args, result.stderr)
        assert message in result.stderr and "hint:" in result.stderr
    assert outputs.read_text().count("promoted=false") == len(cases)
    status = json.loads(cli(shipflow, made, "status", "--json").stdout)
    assert {e["environment"]: e["digest"] for e in status["environments"]}["dev"] == digest


def test_approve_checks_the_approver_and_their_key(shipflow: InProcessCli, made: PipelineDir) -> None:
    digest = image(made)
    args = ["approve", "--digest", digest, "--env", "production"]
    unlisted = cli(shipflow, made, *args, "--actor", "mallory", "--key", str(made.key_file("outsider")))
    assert unlisted.returncode == 1 and "not a listed approver" in unlisted.stderr
    wrong_key = cli(shipflow, made, *args, "--actor", "lead-2", "--key", str(made.key_file("lead-1")))
    assert wrong_key.returncode == 2 and "this key is not lead-2's" in wrong_key.stderr
    fine = cli(shipflow, made, *args, "--actor", "lead-2", "--key", str(made.key_file("lead-2")), "--json")
    assert fine.returncode == 0, fine.stderr
    assert json.loads(fine.stdout)["approval"].startswith("sf.appr.")


def test_the_actor_in_github_actions_is_githubs(shipflow: InProcessCli, made: PipelineDir) -> None:
    digest = image(made)
    env = {"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "dev-1"}
    result = cli(
        shipflow,
        made,
        "promote",
        "--digest",
        digest,
        "--to",
        "dev",
        "--actor",
        CI,
        "--key",
        str(made.key_file("ci")),
        env=env,
    )
    assert result.returncode == 2 and "differs from GITHUB_ACTOR" in result.stderr


def test_missing_and_broken_config_files(shipflow: InProcessCli, made: PipelineDir) -> None:
    made.config_path.unlink()
    missing = cli(shipflow, made, "status")
    assert missing.returncode == 2
    assert "no shipflow.yaml in" in missing.stderr and "shipflow init" in missing.stderr
    made.config_path.write_text("image: oci:./store\nroles:\n  ci: [github-actions[bot]]\n")
    broken = cli(shipflow, made, "status")
    assert broken.returncode == 2
    lines = [line for line in broken.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and "shipflow.yaml:3: not valid YAML" in lines[0]
    assert lines[1] == 'hint: quote logins that contain brackets: ["github-actions[bot]"]' and len(lines) == 2
    made.write_config()
    text = made.config_path.read_text().replace("approvals: 1", "approvals: lots")
    made.config_path.write_text(text)
    bad_value = cli(shipflow, made, "status")
    assert bad_value.returncode == 2
    assert "shipflow.yaml:15: environments.production.approvals: must be an integer" in bad_value.stderr
