"""tests/support/workflows.py: the helper that runs generated workflows' steps locally."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.workflows import evaluate, expand, run_steps

WORKFLOW = """
name: t
on: {workflow_dispatch: {}}
env:
  TOP: top
  REGISTRY_URL: ${{ secrets.REGISTRY_URL || 'ghcr.io' }}
jobs:
  one:
    runs-on: ubuntu-24.04
    env: {TOP: job, JOB: j}
    steps:
      - uses: actions/checkout@v4
      - name: Build
        id: build
        env: {DIGEST: "${{ inputs.image_digest }}", TOP: step}
        run: echo "$DIGEST"
      - run: echo after
"""

CONTEXT = {
    "secrets": {"GITHUB_TOKEN": "tok"},
    "inputs": {"image_digest": "sha256:abc"},
    "github": {"actor": "octo"},
    "steps": {"release": {"outputs": {"sbom_path": "sbom.json"}}},
}


def test_steps_with_their_env_layers() -> None:
    steps = run_steps(WORKFLOW)
    assert [s.name for s in steps] == ["actions/checkout@v4", "Build", "step 2"]
    assert steps[0].uses == "actions/checkout@v4" and steps[0].run == ""
    build = steps[1]
    assert build.id == "build" and build.run == 'echo "$DIGEST"'
    assert build.environment(CONTEXT) == {
        "TOP": "step",
        "REGISTRY_URL": "ghcr.io",
        "JOB": "j",
        "DIGEST": "sha256:abc",
    }
    assert steps[2].environment(CONTEXT)["TOP"] == "job"


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("secrets.REGISTRY_URL || 'ghcr.io'", "ghcr.io"),
        ("secrets.REGISTRY_USERNAME || github.actor", "octo"),
        ("secrets.REGISTRY_PASSWORD || secrets.GITHUB_TOKEN", "tok"),
        ("steps.release.outputs.sbom_path", "sbom.json"),
        ("steps.release.outputs.sbom_path != ''", True),
        ("steps.nope.outputs.x != ''", False),
        ("always() && steps.release.outputs.sbom_path != ''", True),
        ("!inputs.image_digest", False),
        ("'it''s'", "it's"),
    ],
)
def test_expressions(expression: str, value: object) -> None:
    assert evaluate(expression, CONTEXT) == value


def test_hash_files_and_expand(tmp_path: Path) -> None:
    (tmp_path / "x.sarif").write_text("{}")
    context = {**CONTEXT, "workspace": str(tmp_path)}
    assert evaluate("hashFiles('x.sarif') != ''", context) is True
    assert evaluate("hashFiles('y.sarif') != ''", context) is False
    assert expand("a-${{ github.actor }}-${{ inputs.image_digest }}", context) == "a-octo-sha256:abc"


def test_unknown_syntax_raises() -> None:
    with pytest.raises(ValueError, match="cannot evaluate"):
        evaluate("fromJSON('{}') ~ 1", CONTEXT)
