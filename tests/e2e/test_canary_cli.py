"""``shipflow canary`` and ``shipflow rollback`` as a user runs them: shipflow.yaml, the local
target, real busybox canaries, signals, the GitHub step summary and outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.canary_services import CanaryRepo, make_canary_repo
from fixtures.procs import free_port
from shipflow.release.deploy import LocalSettings
from shipflow.release.deploy.local import LocalTarget

SHIPFLOW = [sys.executable, "-m", "shipflow.cli.main"]


class Project:
    def __init__(self, root: Path, repo: CanaryRepo) -> None:
        self.root = root
        self.repo = repo
        self.port = free_port()
        self.state = root / "state"
        self.summary = root / "summary.md"
        self.outputs = root / "outputs.txt"

    def write_config(self, **canary: Any) -> None:
        settings = {"interval": "200ms", "duration": "2s", "timeout": "150ms", "recovery_timeout": "10s"}
        settings.update(canary)
        lines = [
            f"image: {self.repo.name}",
            "keys:",
            "  trusted: [cosign.pub]",
            "roles:",
            "  tech-lead: [lead-login-1, oncall]",
            "environments:",
            "  canary: {promoted_by: [tech-lead]}",
            "  production: {from: canary, promoted_by: [tech-lead]}",
            "canary:",
        ]
        lines += [f"  {key}: {value}" for key, value in settings.items()]
        lines.append(f"  deploy: {{target: local, port: {self.port}, state_dir: state}}")
        (self.root / "shipflow.yaml").write_text("\n".join(lines) + "\n")

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GITHUB_", "SHIPFLOW_", "ROLLBACK_", "CANARY_"))
        }
        env.update(
            GITHUB_STEP_SUMMARY=str(self.summary),
            GITHUB_OUTPUT=str(self.outputs),
            GITHUB_ACTOR="lead-login-1",
        )
        env.update(extra)
        return env

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*SHIPFLOW, *args],
            cwd=self.root,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=300,
        )

    def version(self) -> str:
        return str(httpx.get(f"http://127.0.0.1:{self.port}/api/health", timeout=5).json()["version"])

    def tag(self, name: str = "canary") -> str:
        return str(self.repo.store.resolve(name).digest)

    def local(self) -> LocalTarget:
        return LocalTarget(self.repo.store, LocalSettings(state_dir=self.state, port=self.port))


@pytest.fixture
def project(canary_images: dict[str, Any], tmp_path: Path, subreaper: None) -> Iterator[Project]:
    repo = make_canary_repo(tmp_path, canary_images, tags={"canary": "previous", "production": "previous"})
    made = Project(tmp_path, repo)
    made.write_config()
    # The canary environment runs the previous version, started by an earlier shipflow run.
    first = made.run(
        "rollback", "--env", "canary", "--to", str(repo.digests["previous"]), "--no-health-check"
    )
    assert first.returncode == 0, first.stderr
    yield made
    made.local().stop("canary")


def test_help_lists_the_commands() -> None:
    result = subprocess.run([*SHIPFLOW, "--help"], capture_output=True, text=True, check=True)
    assert "canary" in result.stdout and "rollback" in result.stdout


def test_healthy_canary_exits_0_with_json_summary_and_outputs(project: Project) -> None:
    digest = str(project.repo.digests["healthy"])
    result = project.run("canary", "--digest", digest, "--json", "--interval", "250ms", "--timeout", "200ms")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "passed" and report["exitCode"] == 0
    assert report["candidate"] == digest and report["previous"] == str(project.repo.digests["previous"])
    assert report["actor"] == "lead-login-1"
    assert (
        report["settings"]["interval"] == 0.25 and report["settings"]["sources"]["interval"] == "--interval"
    )
    assert project.tag() == digest and project.version() == "2.0.0"
    assert "check 1/" in result.stderr  # progress, as plain lines when not a terminal
    summary = project.summary.read_text()
    assert summary.startswith("## ✅ canary passed") and "```mermaid" in summary
    outputs = dict(line.split("=", 1) for line in project.outputs.read_text().splitlines())
    assert (
        outputs["verdict"] == "passed" and outputs["deployed"] == digest and outputs["rolled_back"] == "false"
    )


def test_failing_canary_exits_1_and_the_previous_version_serves(
    project: Project, webhook_receiver: Any
) -> None:
    project.write_config(duration="10s")
    receiver = webhook_receiver("ok")
    token = "sentinel-webhook-token-42"
    result = project.run(
        "-vv", "canary", "--digest", str(project.repo.digests["fail-after"]), ROLLBACK_WEBHOOK=receiver.url()
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("⏪ rolled back: tripped: 3 consecutive failed checks")
    assert "detection:" in result.stdout and "rollback:" in result.stdout
    previous = str(project.repo.digests["previous"])
    assert project.tag() == previous and project.version() == "1.0.0"
    assert f"deployed: :canary names {previous}" in result.stdout
    summary = project.summary.read_text()
    assert "Trip rule:** consecutive" in summary and "❌ fail" in summary
    outputs = dict(line.split("=", 1) for line in project.outputs.read_text().splitlines())
    assert outputs["rolled_back"] == "true" and outputs["deployed"] == previous
    # ROLLBACK_WEBHOOK got the JSON payload; its token is in no output, not even at -vv.
    assert len(receiver.received) == 1 and receiver.received[0].json()["verdict"] == "rolled-back"
    # The history (`shipflow history`, the promotion layer's command) has both moves of the tag.
    listed = project.run("history", "canary", "--json")
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)["entries"]
    candidate = str(project.repo.digests["fail-after"])
    assert [(e["digest"], e["action"], e["outcome"]) for e in entries[:3]] == [
        (previous, "auto-rollback", "ok"),
        (candidate, "canary", "rolled-back"),
        (previous, "promote", "ok"),
    ]
    assert entries[0]["details"]["timings"]["detection"] > 0
    assert receiver.received[0].path.endswith(token)
    assert "webhook" in result.stderr.lower()
    for text in (result.stdout, result.stderr, summary, project.outputs.read_text()):
        assert token not in text


def test_sigterm_mid_watch_rolls_back_and_states_what_is_deployed(project: Project) -> None:
    digest = str(project.repo.digests["healthy"])
    proc = subprocess.Popen(
        [
            *SHIPFLOW,
            "canary",
            "--digest",
            digest,
            "--duration",
            "60s",
            "--interval",
            "250ms",
            "--timeout",
            "200ms",
            "--json",
        ],
        cwd=project.root,
        env=project.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if project.version() == "2.0.0":
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        time.sleep(0.6)  # a few checks into the watch
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, stderr
    assert "SIGTERM: stopping the watch" in stderr
    report = json.loads(stdout)
    previous = str(project.repo.digests["previous"])
    assert report["verdict"] == "rolled-back" and "interrupted" in report["reason"]
    assert (
        report["tag"] == previous and report["target"]["digest"] == previous and report["target"]["running"]
    )
    assert f":canary names {previous}" in report["state"]
    assert project.tag() == previous and project.version() == "1.0.0"


def test_manual_rollback_from_another_process(project: Project) -> None:
    healthy = str(project.repo.digests["healthy"])
    first = project.run("canary", "--digest", healthy, "--interval", "250ms", "--timeout", "200ms")
    assert first.returncode == 0, first.stderr
    old_pid = json.loads((project.state / "canary.json").read_text())["pid"]
    previous = str(project.repo.digests["previous"])
    started = time.monotonic()
    result = project.run("rollback", "--env", "canary", "--to", previous, "--json", "--actor", "oncall")
    wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "rolled-back" and report["actor"] == "oncall"
    assert report["recovery"][-1]["status"] == "pass"
    assert project.tag() == previous and project.version() == "1.0.0"
    new_pid = json.loads((project.state / "canary.json").read_text())["pid"]
    assert new_pid != old_pid and not Path(f"/proc/{old_pid}/cmdline").read_bytes()  # the old process is gone
    assert wall < 120  # the SLA is 10 minutes; benchmarks/canary.py measures it


def test_manual_rollback_goes_back_through_the_history(project: Project) -> None:
    healthy = str(project.repo.digests["healthy"])
    first = project.run("canary", "--digest", healthy, "--interval", "250ms", "--timeout", "200ms")
    assert first.returncode == 0, first.stderr
    result = project.run(
        "rollback", "--env", "canary", "--json", "--actor", "oncall", "--reason", "bad deploy"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    previous = str(project.repo.digests["previous"])
    assert report["previous"] == previous and report["previousSource"] == "canary history"
    assert report["recorded"] is True and project.version() == "1.0.0"
    # A digest the environment never held is refused, naming what it did hold.
    never = str(project.repo.digests["degraded"])
    refused = project.run("rollback", "--env", "canary", "--to", never, "--no-health-check")
    assert refused.returncode == 1
    assert "is not a digest canary held before" in refused.stdout
    assert project.tag() == previous


def test_rollback_never_deploys_an_unsigned_digest(
    canary_images: dict[str, Any], tmp_path: Path, subreaper: None
) -> None:
    from shipflow.release.history import HistoryEntry, record_entry

    # canary held `previous` (whose signature is gone), then `healthy`.
    repo = make_canary_repo(tmp_path, canary_images, unsigned=("previous",), tags={"canary": "previous"})
    repo.store.tag(repo.digests["healthy"], "canary")
    record_entry(
        repo.store,
        HistoryEntry(environment="canary", digest=repo.digests["healthy"], action="promote", actor="ci"),
    )
    made = Project(tmp_path, repo)
    made.write_config()
    result = made.run("rollback", "--env", "canary", "--no-health-check")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "did not verify" in result.stdout
    assert made.tag() == str(repo.digests["healthy"])


def test_configuration_errors_exit_2_with_file_and_line(project: Project) -> None:
    head = (
        f"image: {project.repo.name}\nkeys: {{trusted: [cosign.pub]}}\nroles: {{lead: [x]}}\n"
        "environments: {canary: {promoted_by: [lead]}}\n"
    )
    (project.root / "shipflow.yaml").write_text(
        head + "canary:\n  interval: 1s\n  timeout: 2s\n  health_url: http://x.test/h\n"
    )
    result = project.run("canary", "--digest", str(project.repo.digests["healthy"]))
    assert result.returncode == 2
    assert (
        "shipflow.yaml:7: canary.timeout: the check timeout (2s) must be shorter than the interval"
        in result.stderr
    )
