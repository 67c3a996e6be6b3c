"""The generated GitHub workflows, run here as a runner would run their ``run:`` steps, against
the real registry: build-and-sign.yml releases the example (outputs image_digest, image_tag,
sbom_path, sarif_path), promote.yml verifies the image and promotes it dev → staging (outputs
digest, environment, promoted). Then the same release through the CLI again builds nothing, and
the digest that was built is the digest in production, byte for byte.

Steps that need the internet on a real runner are not run here, and say why: installing
shipflow from PyPI (this checkout's is on PATH) and downloading osv.dev's archives (the
committed OSV records are imported instead).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from fixtures.example import prepare_example
from fixtures.postgres import TargetFactory
from fixtures.registry import Registry
from shipflow.oci.open import open_store
from support.paths import DATA_DIR
from support.workflows import run_steps

SHIPFLOW_BIN = Path(sys.executable).parent
NEEDS_INTERNET = ("Install shipflow", "Advisory database")
PASSWORD = "workflow-test-password"


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def run_workflow_steps(
    workflow: Path, repo: Path, context: dict[str, Any], base_env: dict[str, str], tmp: Path
) -> dict[str, dict[str, str]]:
    """Run every ``run:`` step (but the internet ones) in order; the outputs of each step id."""
    produced: dict[str, dict[str, str]] = {}
    for step in run_steps(workflow.read_text()):
        if not step.run or step.name.startswith(NEEDS_INTERNET):
            continue
        out, summary = tmp / f"{step.job}-{step.index}.out", tmp / "summary.md"
        out.write_text("")
        env = {
            **base_env,
            **step.environment(context),
            "GITHUB_OUTPUT": str(out),
            "GITHUB_STEP_SUMMARY": str(summary),
        }
        result = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", step.run],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert result.returncode == 0, f"step {step.name!r} failed:\n{result.stdout}\n{result.stderr}"
        if step.id:
            produced[step.id] = outputs(out)
            context.setdefault("steps", {})[step.id] = {"outputs": produced[step.id]}
    return produced


def _configure(repo: Path, image: str) -> None:
    """What a user does after `shipflow init`: real logins, their keys, the example's commands."""
    config = repo / "shipflow.yaml"
    text = config.read_text()
    text = text.replace("CHANGE_ME_developer", "dev-1").replace(
        "tech-lead: [CHANGE_ME_tech_lead]", "tech-lead: [lead-1]"
    )
    text = text.replace("CHANGE_ME_tech_lead: keys/CHANGE_ME_tech_lead.pub", "lead-2: keys/lead-2.pub")
    text = text.replace('command: "npm run migrate"', "command: [scripts/migrate.sh]")
    text = re.sub(
        r"staging: +\{from: dev, +promoted_by: \[developer\], gates: \[[^]]*\]\}",
        "staging: {from: dev, promoted_by: [developer], gates: [signature, vulnerabilities]}",
        text,
    )
    config.write_text(text)
    assert image in text


def test_generated_workflows_release_and_promote_on_the_registry(
    tmp_path: Path, registry: Registry, repo_name: str, pg_target: TargetFactory
) -> None:
    repo = prepare_example(tmp_path / "app").path
    image = f"{registry.host}/{repo_name}"
    env = {**os.environ, "PATH": f"{SHIPFLOW_BIN}:{os.environ['PATH']}", "COSIGN_PASSWORD": PASSWORD}
    env.pop("COSIGN_PRIVATE_KEY", None)
    subprocess.run(
        ["shipflow", "init", str(repo), "--image", image, "--skip-existing"],
        env=env,
        check=True,
        capture_output=True,
    )
    (repo / "keys").mkdir(exist_ok=True)
    subprocess.run(
        ["shipflow", "keygen", "--output-key-prefix", str(repo / "keys" / "cosign")],
        env=env,
        check=True,
        capture_output=True,
    )
    lead_2 = repo / "keys" / "lead-2"
    subprocess.run(
        ["shipflow", "keygen", "--output-key-prefix", str(lead_2)], env=env, check=True, capture_output=True
    )
    _configure(repo, image)
    db = tmp_path / "advisories.db"
    subprocess.run(
        ["shipflow", "db", "import", str(DATA_DIR / "osv" / "records"), "--db", str(db)],
        env=env,
        check=True,
        capture_output=True,
    )

    runner_env = {
        **env,
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTOR": "dev-1",
        "GITHUB_REPOSITORY": "immoflowme/app",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "4242",
        "RUNNER_TEMP": str(tmp_path / "runner"),
        "SHIPFLOW_DB": str(db),
    }
    (tmp_path / "runner").mkdir()
    context: dict[str, Any] = {
        "secrets": {
            "COSIGN_PRIVATE_KEY": (repo / "keys" / "cosign.key").read_text(),
            "COSIGN_PASSWORD": PASSWORD,
            "GITHUB_TOKEN": "ghs_not-used-on-a-loopback-registry",
        },
        "github": {"actor": "dev-1", "ref": "refs/heads/main", "ref_name": "main", "sha": "0" * 40},
        "runner": {"temp": str(tmp_path / "runner")},
        "inputs": {},
    }
    released = run_workflow_steps(
        repo / ".github/workflows/build-and-sign.yml", repo, context, runner_env, tmp_path
    )
    release_out = released["release"]
    digest = release_out["image_digest"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert release_out["image_tag"].startswith(f"{image}:")
    assert Path(release_out["sbom_path"]).is_absolute() or (repo / release_out["sbom_path"]).is_file()
    store = open_store(image)
    assert store.resolve("dev").digest.__str__() == digest

    context["inputs"] = {"image_digest": digest, "source_env": "dev", "target_env": "staging"}
    promoted = run_workflow_steps(repo / ".github/workflows/promote.yml", repo, context, runner_env, tmp_path)
    assert promoted["promote"]["promoted"] == "true" and promoted["promote"]["digest"] == digest
    assert str(store.resolve("staging").digest) == digest

    # The same release again, through the CLI: nothing is built, the digest is the same.
    again = subprocess.run(
        ["shipflow", "release", str(repo), "--config", str(repo / "shipflow.yaml"), "--json"],
        cwd=repo,
        env={**runner_env, "COSIGN_PRIVATE_KEY": context["secrets"]["COSIGN_PRIVATE_KEY"]},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert '"reused": true' in again.stdout and digest in again.stdout
    # On to production, through the CLI (a tech lead; an approval by the other).
    cli_env = {
        **env,
        "COSIGN_PRIVATE_KEY": context["secrets"]["COSIGN_PRIVATE_KEY"],
        "SHIPFLOW_DB": str(db),
        "STAGING_DATABASE_URL": pg_target().url(),  # the migration dry run of the canary gate
    }

    def shipflow(*args: str) -> None:
        done = subprocess.run(
            ["shipflow", *args], cwd=repo, env=cli_env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"shipflow {' '.join(args)}:\n{done.stderr}"

    shipflow("promote", "--digest", digest, "--from", "staging", "--to", "canary", "--actor", "lead-1")
    shipflow(
        "approve", "--digest", digest, "--env", "production", "--actor", "lead-2", "--key", f"{lead_2}.key"
    )
    shipflow("promote", "--digest", digest, "--from", "canary", "--to", "production", "--actor", "lead-1")
    shipflow("verify-image", f"{image}@{digest}", "--promoted-to", "production")
    built = store.get_manifest(digest).data
    assert store.get_manifest("production").data == built, "the digest in production is not the one built"
