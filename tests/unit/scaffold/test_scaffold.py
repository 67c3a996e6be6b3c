"""``shipflow init``'s files: what they contain, and that nothing existing is overwritten.

Linting them with actionlint, check-jsonschema and hadolint (independent tools) is in
tests/interop/test_scaffold_lint.py; running their shell steps waits for ``shipflow release``.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipflow.errors import UsageError
from shipflow.release.yamlconf import load_yaml
from shipflow.scaffold import FILES, Action, ScaffoldOptions, apply, default_image, plan
from support.workflows import run_steps, triggers

OPTIONS = ScaffoldOptions(image="ghcr.io/immoflowme/app")
SECRETS = {
    "COSIGN_PRIVATE_KEY",
    "COSIGN_PASSWORD",
    "REGISTRY_URL",
    "REGISTRY_USERNAME",
    "REGISTRY_PASSWORD",
    "STAGING_DATABASE_URL",
    "CANARY_DEPLOY_URL",
    "ROLLBACK_WEBHOOK",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    apply(tmp_path, plan(tmp_path, OPTIONS))
    return tmp_path


def workflow(repo: Path, name: str) -> dict[Any, Any]:
    return yaml.safe_load((repo / ".github" / "workflows" / name).read_text())


def test_every_file_is_written_with_its_mode(repo: Path) -> None:
    for item in FILES:
        path = repo / item.path
        assert path.is_file(), item.path
        assert stat.S_IMODE(path.stat().st_mode) == item.mode
        assert not re.search(r"@[A-Z_]+@", path.read_text()), f"unfilled placeholder in {item.path}"
    assert stat.S_IMODE((repo / "tools" / "verify-image.sh").stat().st_mode) & 0o111


def test_build_and_sign_triggers_and_outputs(repo: Path) -> None:
    doc = workflow(repo, "build-and-sign.yml")
    on = triggers(doc)
    assert on["push"] == {"branches": ["main"], "tags": ["v*"]}
    assert "workflow_dispatch" in on
    outputs = doc["jobs"]["build"]["outputs"]
    assert set(outputs) == {"image_digest", "image_tag", "sbom_path"}
    assert all("steps.release.outputs." in value for value in outputs.values())
    release = next(s for s in run_steps(yaml.safe_dump(doc)) if s.id == "release")
    assert release.run.startswith("shipflow release")


def test_promote_inputs_and_environment(repo: Path) -> None:
    doc = workflow(repo, "promote.yml")
    inputs = triggers(doc)["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"image_digest", "source_env", "target_env"}
    assert inputs["source_env"]["options"] == ["dev", "staging", "canary"]
    assert inputs["target_env"]["options"] == ["staging", "canary", "production"]
    job = doc["jobs"]["promote"]
    assert job["environment"] == "${{ inputs.target_env }}"  # one GitHub Environment per target
    promote = next(
        s for s in run_steps((repo / ".github/workflows/promote.yml").read_text()) if s.id == "promote"
    )
    assert "shipflow promote" in promote.run and '--from "${SOURCE_ENV}"' in promote.run
    # inputs reach the shell through env, never spliced into the script (no script injection)
    for step in run_steps((repo / ".github/workflows/promote.yml").read_text()):
        assert "${{" not in step.run


def test_canary_is_manual_and_runs_the_canary(repo: Path) -> None:
    doc = workflow(repo, "canary-deploy.yml")
    assert set(triggers(doc)) == {"workflow_dispatch"}
    steps = run_steps((repo / ".github/workflows/canary-deploy.yml").read_text())
    canary = next(s for s in steps if "shipflow canary" in s.run)
    assert "--digest" in canary.run
    assert canary.raw_env()["ROLLBACK_WEBHOOK"] == "${{ secrets.ROLLBACK_WEBHOOK }}"
    assert any("verify-image.sh" in s.run for s in steps)


def test_ci_additions_scan_sbom_and_gate(repo: Path) -> None:
    steps = run_steps((repo / ".github/workflows/ci-security.yml").read_text())
    runs = [s.run for s in steps]
    assert any(r.startswith("shipflow scan . --format sarif") for r in runs)
    assert any(r.startswith("shipflow sbom .") for r in runs)
    assert "shipflow scan . --fail-on CRITICAL" in runs
    assert {s.job for s in steps} == {"billing-parity"}


def test_every_secret_is_wired_with_its_default(repo: Path) -> None:
    seen: dict[str, set[str]] = {}
    for name in ("build-and-sign.yml", "promote.yml", "canary-deploy.yml"):
        for step in run_steps((repo / ".github/workflows" / name).read_text()):
            for var, value in step.raw_env().items():
                seen.setdefault(var, set()).add(value)
    assert set(seen) >= SECRETS
    assert seen["REGISTRY_URL"] == {"${{ secrets.REGISTRY_URL || 'ghcr.io' }}"}
    assert seen["REGISTRY_USERNAME"] == {"${{ secrets.REGISTRY_USERNAME || github.actor }}"}
    assert seen["REGISTRY_PASSWORD"] == {"${{ secrets.REGISTRY_PASSWORD || secrets.GITHUB_TOKEN }}"}
    for secret in SECRETS - {"REGISTRY_URL", "REGISTRY_USERNAME", "REGISTRY_PASSWORD"}:
        assert seen[secret] == {f"${{{{ secrets.{secret} }}}}"}, secret


def test_dockerfile_follows_the_spec(repo: Path) -> None:
    text = (repo / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+) AS (\w+)$", text, re.MULTILINE)
    assert froms == [("node:${NODE_VERSION}-alpine", "builder"), ("node:${NODE_VERSION}-alpine", "runtime")]
    assert "ARG NODE_VERSION=20" in text
    runtime = text.split("AS runtime", 1)[1]
    assert "npm ci --omit=dev" in runtime and "COPY --from=builder /app/dist" in runtime
    assert "adduser -S -D -H -u 1001 -G appuser appuser" in runtime
    assert re.search(r"^USER 1001:1001$", runtime, re.MULTILINE)
    assert "HEALTHCHECK" in runtime and "/api/health" in runtime


def test_verify_image_has_the_spec_usage(repo: Path) -> None:
    text = (repo / "tools" / "verify-image.sh").read_text()
    assert "./tools/verify-image.sh ghcr.io/org/app@sha256:abc123..." in text
    assert 'exec shipflow verify-image "$@"' in text


def test_shipflow_yaml_parses_and_has_the_pipeline(repo: Path) -> None:
    root = load_yaml(repo / "shipflow.yaml")
    config = yaml.safe_load((repo / "shipflow.yaml").read_text())
    assert root.require("image").as_str() == "ghcr.io/immoflowme/app"
    assert config["environments"]["production"] == {
        "from": "canary",
        "promoted_by": ["tech-lead"],
        "gates": ["signature", "approvals"],
        "approvals": 1,
    }
    assert config["canary"]["failure_threshold"] == 3 and config["canary"]["interval"] == "10s"
    # secrets only as ${NAME} references; placeholder logins can never be real GitHub logins
    assert config["gates"]["migration"]["database_url"] == "${STAGING_DATABASE_URL}"
    logins = config["roles"]["developer"] + config["roles"]["tech-lead"]
    assert all("_" in login for login in logins)


def test_same_content_is_left_alone_and_conflicts_are_refused(repo: Path) -> None:
    again = plan(repo, OPTIONS)
    assert {p.action for p in again} == {Action.UNCHANGED}
    (repo / "Dockerfile").write_text("FROM scratch\n")
    conflicted = plan(repo, OPTIONS)
    assert [p.path for p in conflicted if p.action is Action.CONFLICT] == ["Dockerfile"]
    with pytest.raises(UsageError, match="Dockerfile") as caught:
        apply(repo, conflicted)
    assert "--force" in (caught.value.hint or "")
    assert (repo / "Dockerfile").read_text() == "FROM scratch\n"  # nothing was written

    kept = apply(repo, plan(repo, OPTIONS, skip_existing=True))
    assert [p.action for p in kept if p.path == "Dockerfile"] == [Action.KEEP]
    assert (repo / "Dockerfile").read_text() == "FROM scratch\n"

    forced = apply(repo, plan(repo, OPTIONS, force=True))
    assert [p.action for p in forced if p.path == "Dockerfile"] == [Action.OVERWRITE]
    assert "node:${NODE_VERSION}-alpine" in (repo / "Dockerfile").read_text()


def test_missing_files_are_written_around_existing_ones(tmp_path: Path) -> None:
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "verify-image.sh").write_text("#!/bin/sh\n# mine\n")
    planned = apply(tmp_path, plan(tmp_path, OPTIONS, skip_existing=True))
    assert sum(p.action is Action.CREATE for p in planned) == len(FILES) - 1
    assert (tmp_path / "tools" / "verify-image.sh").read_text() == "#!/bin/sh\n# mine\n"


def test_plan_writes_nothing(tmp_path: Path) -> None:
    planned = plan(tmp_path / "new-repo", OPTIONS)
    assert {p.action for p in planned} == {Action.CREATE}
    assert not (tmp_path / "new-repo").exists()


def test_links_and_directories_are_never_written_through(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").mkdir()
    with pytest.raises(UsageError, match="not a regular file"):
        plan(tmp_path, OPTIONS, force=True)
    (tmp_path / "Dockerfile").rmdir()
    (tmp_path / "Dockerfile").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UsageError, match="not a regular file"):
        plan(tmp_path, OPTIONS, force=True)


def test_options_are_validated() -> None:
    with pytest.raises(UsageError, match="not an image repository"):
        plan(Path("."), ScaffoldOptions(image="ghcr.io/Org/App:latest"))
    with pytest.raises(UsageError, match="contradict"):
        plan(Path("."), OPTIONS, force=True, skip_existing=True)


@pytest.mark.parametrize(
    ("remote", "image"),
    [
        ("https://github.com/ImmoflowMe/App.git", "ghcr.io/immoflowme/app"),
        ("git@github.com:immoflowme/billing.git", "ghcr.io/immoflowme/billing"),
        ("https://gitlab.com/x/y.git", "ghcr.io/change-me/app"),
        (None, "ghcr.io/change-me/app"),
    ],
)
def test_default_image_from_the_remote(remote: str | None, image: str) -> None:
    assert default_image(remote) == image


def test_shipflow_yaml_passes_the_pipeline_loader(repo: Path) -> None:
    """The promotion loader accepts the file once the keys it names exist (init writes no keys)."""
    from shipflow.errors import ConfigError
    from shipflow.release.config import load_config
    from shipflow.signing import generate_private_key

    with pytest.raises(ConfigError, match=r"keys/cosign\.pub"):
        load_config(repo / "shipflow.yaml")
    (repo / "keys").mkdir()
    for name in ("cosign.pub", "CHANGE_ME_tech_lead.pub"):
        (repo / "keys" / name).write_bytes(generate_private_key().verifier.pem)
    config = load_config(repo / "shipflow.yaml")
    assert config.image == "ghcr.io/immoflowme/app"
    assert config.describe_paths() == "build → dev, dev → staging, staging → canary, canary → production"
    assert config.section("canary") is not None
