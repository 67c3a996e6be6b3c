"""The files ``shipflow init`` writes, checked by the tools users check them with.

- actionlint v1.7.12 (built from the Go module proxy into the peers directory): the four
  workflows have no findings;
- check-jsonschema with its bundled GitHub workflow schema (offline);
- hadolint: the Dockerfile has no findings at any level (the example service's too).

Each tool is also shown a broken file, so a pass means the tool really looked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.example import EXAMPLE_DIR
from fixtures.peers import peer_binary
from fixtures.procs import require_binary
from shipflow.scaffold import ScaffoldOptions, apply, plan

WORKFLOWS = ("build-and-sign.yml", "promote.yml", "canary-deploy.yml", "ci-security.yml")


def venv_tool(name: str) -> str:
    """A tool of the [test] extra: beside this interpreter, else on PATH (else the test fails)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else require_binary(name)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("init")
    apply(root, plan(root, ScaffoldOptions(image="ghcr.io/immoflowme/app")))
    return root


def test_actionlint_finds_nothing(repo: Path, tmp_path: Path) -> None:
    actionlint = peer_binary("actionlint")
    files = [str(repo / ".github" / "workflows" / name) for name in WORKFLOWS]
    result = subprocess.run([actionlint, "-format", "{{json .}}", *files], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []

    broken = tmp_path / "broken.yml"
    text = (repo / ".github" / "workflows" / "promote.yml").read_text()
    broken.write_text(text.replace("${{ inputs.target_env }}\n", "${{ inputs.no_such_input }}\n", 1))
    refused = subprocess.run(
        [actionlint, "-format", "{{json .}}", str(broken)], capture_output=True, text=True
    )
    assert refused.returncode == 1
    assert any("no_such_input" in finding["message"] for finding in json.loads(refused.stdout))


def test_github_workflow_schema(repo: Path, tmp_path: Path) -> None:
    tool = venv_tool("check-jsonschema")
    files = [str(repo / ".github" / "workflows" / name) for name in WORKFLOWS]
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout

    broken = tmp_path / "broken.yml"
    broken.write_text(
        (repo / ".github" / "workflows" / "promote.yml").read_text().replace("runs-on:", "run-on:")
    )
    refused = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1


@pytest.mark.parametrize("dockerfile", ["init", "example"])
def test_hadolint_finds_nothing(repo: Path, dockerfile: str) -> None:
    path = repo / "Dockerfile" if dockerfile == "init" else EXAMPLE_DIR / "Dockerfile"
    result = subprocess.run(
        [venv_tool("hadolint"), "--format", "json", "--failure-threshold", "style", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(result.stdout or "[]") == [], result.stdout
    assert result.returncode == 0


def test_hadolint_is_listening(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM node:latest\nUSER root\nRUN cd /app && npm install\nCMD node server.js\n")
    result = subprocess.run(
        [venv_tool("hadolint"), "--format", "json", str(bad)], capture_output=True, text=True
    )
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3007", "DL3002", "DL3003", "DL3025"} <= codes
    assert result.returncode == 1
