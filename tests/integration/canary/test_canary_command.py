"""The ``command`` target with a real deploy command (tests/fixtures/canary_platform.py, a tiny
platform that starts Python canary services by digest), and its timeout and output rules."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.canary_fakes import FakeSignatures, FakeStore, digest_of
from fixtures.canary_services import process_alive, reap
from fixtures.procs import free_port
from shipflow.release.canary import (
    CanaryRequest,
    CanarySettings,
    Collaborators,
    MemoryHistory,
    RunVerdict,
    run_canary,
)
from shipflow.release.deploy import CommandSettings, CommandTemplate, DeployError, DeployRequest
from shipflow.release.deploy.command import CommandTarget

pytestmark = pytest.mark.integration

PLATFORM = Path(__file__).resolve().parents[2] / "fixtures" / "canary_platform.py"
P = digest_of("previous")
D_OK = digest_of("healthy")
D_BAD = digest_of("fail-after")


class Platform:
    def __init__(self, state: Path) -> None:
        self.state = state
        state.mkdir()
        self.port = free_port()
        images = {
            str(P): {"behaviour": "healthy", "version": "1.0.0", "port": self.port},
            str(D_OK): {"behaviour": "healthy", "version": "2.0.0", "port": self.port},
            str(D_BAD): {"behaviour": "fail-after:0.6", "version": "2.0.0", "port": self.port},
        }
        (state / "images.json").write_text(json.dumps(images))

    def template(self, *extra: str) -> CommandTemplate:
        return CommandTemplate.parse(
            [
                sys.executable,
                str(PLATFORM),
                "deploy",
                "--state",
                str(self.state),
                "--ref",
                "{ref}",
                "--env",
                "{env}",
                *extra,
            ]
        )

    def target(self, *extra: str, timeout: float = 60.0) -> CommandTarget:
        stop = CommandTemplate.parse(
            [sys.executable, str(PLATFORM), "stop", "--state", str(self.state), "--env", "{env}"]
        )
        return CommandTarget(CommandSettings(deploy=self.template(*extra), stop=stop, timeout=timeout))

    def version(self) -> str:
        return str(httpx.get(f"http://127.0.0.1:{self.port}/api/health", timeout=5).json()["version"])

    def pid(self, env: str = "canary") -> int | None:
        path = self.state / f"{env}.pid"
        return int(path.read_text()) if path.exists() else None


@pytest.fixture
def platform(tmp_path: Path, subreaper: None) -> Iterator[Platform]:
    made = Platform(tmp_path / "platform")
    yield made
    pid = made.pid()
    made.target().stop("canary")
    if pid is not None:
        reap(pid)


def test_deploy_command_runs_with_the_digest_and_its_output_is_kept(platform: Platform) -> None:
    target = platform.target()
    result = target.deploy(DeployRequest("canary", "reg.test/app", D_OK, previous=P))
    assert result.details["returncode"] == 0
    assert f"deploying reg.test/app@{D_OK} to canary" in result.output
    assert f"SHIPFLOW_DIGEST from the environment: {D_OK}" in result.output
    assert platform.version() == "2.0.0"


def test_a_failing_deploy_command_is_a_deploy_error_with_its_output(platform: Platform) -> None:
    target = platform.target("--fail")
    with pytest.raises(DeployError) as info:
        target.deploy(DeployRequest("canary", "reg.test/app", D_OK))
    assert "exited with status 3" in info.value.message
    assert "the platform refused the deploy" in info.value.output
    assert info.value.exit_code == 3


def test_a_hanging_deploy_command_is_killed_with_its_process_group(platform: Platform) -> None:
    target = platform.target("--hang", timeout=1.0)
    started = time.monotonic()
    with pytest.raises(DeployError, match="timed out after 1s") as info:
        target.deploy(DeployRequest("canary", "reg.test/app", D_OK))
    assert time.monotonic() - started < 10.0
    assert "deploying… (hanging)" in info.value.output
    # The `sleep 3600` child the command started is gone too (killed with its group).
    child = int((platform.state / "hang-child.pid").read_text())
    reap(child, timeout=5)
    assert not process_alive(child)


def _canary(platform: Platform, digest: Any) -> Any:
    target = platform.target()
    target.deploy(DeployRequest("canary", "reg.test/app", P))  # what ran before
    store = FakeStore([P, D_OK, D_BAD], {"canary": P})
    settings = CanarySettings(
        health_url=f"http://127.0.0.1:{platform.port}/api/health",
        interval=0.2,
        duration=2.0,
        timeout=0.15,
        deploy=target.settings,
    )
    deps = Collaborators(
        store=store,  # type: ignore[arg-type]
        target=target,
        history=MemoryHistory({"canary": [P]}),
        signatures=FakeSignatures({P, D_OK, D_BAD}),
    )
    return run_canary(CanaryRequest("reg.test/app", digest), settings, deps), store


def test_canary_through_the_command_target_passes(platform: Platform) -> None:
    report, store = _canary(platform, D_OK)
    assert report.verdict is RunVerdict.PASSED, report.reason
    assert store.tags["canary"] == D_OK and platform.version() == "2.0.0"


def test_canary_through_the_command_target_rolls_back(platform: Platform) -> None:
    report, store = _canary(platform, D_BAD)
    assert report.verdict is RunVerdict.ROLLED_BACK, report.reason
    assert [c.status.value for c in report.checks][-3:] == ["fail"] * 3
    assert store.tags["canary"] == P
    assert platform.version() == "1.0.0"
    assert (
        report.rollback_deploy is not None and f"deploying reg.test/app@{P}" in report.rollback_deploy.output
    )
