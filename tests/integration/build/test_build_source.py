"""Where a build's revision, time, repository and version come from (real git repositories)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fixtures.example import ExampleRepo, prepare_example
from shipflow.build.source import discover_source
from shipflow.errors import UsageError


def test_from_the_example_repository(example_repo: ExampleRepo) -> None:
    source = discover_source(example_repo.path, example_repo.path / "Dockerfile", environ={})
    assert source.revision == example_repo.revision and len(source.revision) == 40
    assert source.commit_time == 1768467600  # 2026-01-15T09:00:00Z, prepare.sh's fixed date
    assert source.repository == "https://github.com/immoflowme/app"
    assert source.version == "1.2.3"  # the tag v1.2.3 at HEAD
    assert source.path == "" and not source.dirty


def test_subdirectory_dirty_tree_and_untagged_version(tmp_path: Path) -> None:
    repo = prepare_example(tmp_path / "repo", version=None)
    app = repo.path / "app"
    source = discover_source(app, repo.path / "Dockerfile", environ={})
    assert source.path == "app"
    assert source.version == repo.revision[:12]
    assert not source.dirty
    (app / "handler.sh").write_text("changed\n")
    assert discover_source(app, repo.path / "Dockerfile", environ={}).dirty


def test_github_actions_environment(tmp_path: Path) -> None:
    repo = prepare_example(tmp_path / "repo", version=None)
    env = {
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "immoflowme/billing",
        "GITHUB_REF_TYPE": "tag",
        "GITHUB_REF_NAME": "v2.0.1",
    }
    source = discover_source(repo.path, repo.path / "Dockerfile", environ=env)
    assert source.repository == "https://github.com/immoflowme/billing"
    assert source.version == "2.0.1"
    explicit = discover_source(
        repo.path,
        repo.path / "Dockerfile",
        environ=env,
        version="2.0.1-rc1",
        repository="git@example.com:x/y.git",
    )
    assert explicit.version == "2.0.1-rc1" and explicit.repository == "https://example.com/x/y"


def test_outside_git_needs_a_revision(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(UsageError, match="no source revision") as caught:
        discover_source(tmp_path, tmp_path / "Dockerfile", environ={})
    assert "--revision" in (caught.value.hint or "")
    from_ci = discover_source(tmp_path, tmp_path / "Dockerfile", environ={"GITHUB_SHA": "A" * 40})
    assert from_ci.revision == "a" * 40 and from_ci.commit_time is None
    with pytest.raises(UsageError, match="full commit id"):
        discover_source(tmp_path, tmp_path / "Dockerfile", revision="abc123", environ={})


def test_a_revision_other_than_head_has_no_commit_time(example_repo: ExampleRepo) -> None:
    other = "f" * 40
    source = discover_source(example_repo.path, example_repo.path / "Dockerfile", revision=other, environ={})
    assert source.revision == other and source.commit_time is None
    head = subprocess.run(
        ["git", "-C", str(example_repo.path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert head == example_repo.revision
