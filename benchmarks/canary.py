#!/usr/bin/env python3
"""Canary benchmark: how fast a sick canary is detected and the previous version serves again.

Not a test: a standalone script that prints Markdown tables (and writes them with ``--output``).

What it does, in one run:

1. Builds the busybox canary images of ``tests/fixtures/canary_services.py`` with buildah (the
   ``previous`` version 1.0.0, ``healthy`` 2.0.0, and ``fail-after``: healthy for its first 1 to
   2 s, then 503) into one OCI layout, signed with a fresh key.
2. **Detection to recovery, by interval** (``--intervals``, default 0.2, 1 and 10 s; threshold 3):
   a whole canary through the library with the ``local`` target (the image runs as a real
   process, ``unshare --root``): the previous version runs, the ``fail-after`` image is deployed
   and watched until the trip, then rolled back. Reported from the controller's monotonic clock:
   detection (first failing check → trip), rollback (trip → the previous version answering
   healthy) and their sum (first failing check → previous version serving), also as a multiple
   of the interval. Target: sum ≤ 3i + 1 s.
3. **The rollback alone**, ``--runs`` times per target, with the interval at 0.2 s: the part
   from the trip to the first healthy answer of the previous version (verify its signature,
   re-tag, redeploy, first healthy check):

   * ``tag``: the platform follows the tag; here a real HTTP service in this process that
     resolves ``:canary`` in the layout on every request and answers 503 for the bad digest;
   * ``local``: stop the canary's process, start the previous image's (root filesystem already
     extracted), wait for its port, first healthy check.

   Target: < 1 s (``local``: plus process start).
4. **Manual rollback wall time**: ``shipflow rollback --env canary --to DIGEST`` as a user runs
   it (a fresh interpreter: start-up, config, signature verification, re-tag, local redeploy,
   health confirmed), ``--runs`` times, alternating between ``previous`` and ``healthy``; and
   the tag-only form (``--no-health-check`` on an environment without a deploy target).
   Bytecode is cached as for an installed tool (``PYTHONDONTWRITEBYTECODE`` is dropped for these
   runs). The CPU time (user + system) is reported beside the wall time, which on a shared
   machine mostly measures the load; the bare interpreter importing the CLI is timed too.

Usage::

    .venv/bin/python benchmarks/canary.py [--intervals 0.2,1,10] [--runs 5] [--output FILE]

Needs: buildah and Debian's busybox-static (``bash .ci/run`` installs them), root (the local
target chroots), the ``shipflow`` CLI of this checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))  # the canary images and their builder live with the tests

from fixtures.canary_services import DOCKERFILE, HANDLER_SH, IMAGE_VARIANTS, START_SH, make_canary_repo  # noqa: E402
from fixtures.images import BUSYBOX, ImageBuilder  # noqa: E402
from fixtures.peers import peer_binary  # noqa: E402
from fixtures.procs import free_port  # noqa: E402
from shipflow.release.canary import (  # noqa: E402
    CanaryRequest,
    CanarySettings,
    Collaborators,
    KeySignatureCheck,
    MemoryHistory,
    RunVerdict,
    run_canary,
)
from shipflow.release.deploy import DeployRequest, LocalSettings, TagSettings  # noqa: E402
from shipflow.release.deploy.local import LocalTarget  # noqa: E402
from shipflow.release.deploy.tag import TagTarget  # noqa: E402
from shipflow.release.history import HistoryEntry, record_entry  # noqa: E402

THRESHOLD = 3


def build_images(work: Path) -> dict[str, Any]:
    builder = ImageBuilder(work / "buildah", peer_binary("buildah"), peer_binary("skopeo"))
    context = {
        "busybox": (BUSYBOX.read_bytes(), 0o755),
        "start.sh": (START_SH, 0o755),
        "handler.sh": (HANDLER_SH, 0o755),
    }
    built = {}
    for name in ("previous", "healthy", "fail-after"):
        behaviour, version, reported = IMAGE_VARIANTS[name]
        dockerfile = DOCKERFILE.format(behaviour=behaviour, version=version, reported=reported)
        built[name] = builder.build(f"canary-{name}", dockerfile, context)
    return built


class TagFollower:
    """A platform that follows ``:canary``: every request resolves the tag in the store and
    answers 503 while it names ``bad``."""

    def __init__(self, store: Any, bad: Any) -> None:
        follower = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                digest = store.resolve("canary").digest
                ok = digest != bad
                body = json.dumps({"status": "ok" if ok else "failing"}).encode()
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        follower.url = f"http://127.0.0.1:{self.port}/api/health"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def canary_once(repo: Any, target: Any, settings: CanarySettings) -> Any:
    deps = Collaborators(
        store=repo.store,
        target=target,
        history=MemoryHistory({"canary": [repo.digests["previous"]]}),
        signatures=KeySignatureCheck(repo.store, repo.policy()),
    )
    report = run_canary(CanaryRequest(repo.name, repo.digests["fail-after"]), settings, deps)
    if report.verdict is not RunVerdict.ROLLED_BACK:
        raise RuntimeError(f"expected a rollback, got {report.verdict.value}: {report.reason}")
    return report


def local_target(repo: Any, state: Path, port: int) -> LocalTarget:
    target = LocalTarget(repo.store, LocalSettings(state_dir=state, port=port))
    target.deploy(DeployRequest("canary", repo.name, repo.digests["previous"]))
    repo.store.tag(repo.digests["previous"], "canary")
    return target


def by_interval(repo: Any, work: Path, intervals: list[float]) -> list[dict[str, Any]]:
    rows = []
    for interval in intervals:
        port = free_port()
        target = local_target(repo, work / "state-interval", port)
        try:
            settings = CanarySettings(
                health_url=f"http://127.0.0.1:{port}/api/health",
                interval=interval,
                duration=max(60.0, 10 * interval),
                timeout=min(2.0, interval * 0.75),
                failure_threshold=THRESHOLD,
                deploy=target.settings,
            )
            report = canary_once(repo, target, settings)
        finally:
            target.stop("canary")
        total = report.timings["first_failure_to_recovered"]
        rows.append(
            {
                "interval": interval,
                "detection": report.timings["detection"],
                "rollback": report.timings["rollback"],
                "total": total,
                "multiple": total / interval,
                "target": THRESHOLD * interval + 1.0,
                "met": total <= THRESHOLD * interval + 1.0,
                "checks": report.counts["total"],
            }
        )
        print(f"interval {interval:g}s: first failure -> previous serving {total:.2f}s", file=sys.stderr)
    return rows


def rollback_alone(repo: Any, work: Path, runs: int) -> list[dict[str, Any]]:
    rows = []
    follower = TagFollower(repo.store, repo.digests["fail-after"])
    try:
        for name in ("tag", "local"):
            times: list[float] = []
            deploys: list[float] = []
            for _ in range(runs):
                if name == "tag":
                    repo.store.tag(repo.digests["previous"], "canary")
                    target: Any = TagTarget(repo.store)
                    url, deploy_settings = follower.url, TagSettings()
                else:
                    port = free_port()
                    target = local_target(repo, work / "state-alone", port)
                    url, deploy_settings = f"http://127.0.0.1:{port}/api/health", target.settings
                settings = CanarySettings(
                    health_url=url, interval=0.2, duration=60.0, timeout=0.15, deploy=deploy_settings
                )
                try:
                    report = canary_once(repo, target, settings)
                finally:
                    if name == "local":
                        target.stop("canary")
                times.append(report.timings["rollback"])
                deploys.append(report.rollback_deploy.seconds)
            rows.append(
                {
                    "target": name,
                    "median": statistics.median(times),
                    "min": min(times),
                    "max": max(times),
                    "deploy_median": statistics.median(deploys),
                    "runs": times,
                }
            )
            print(f"rollback alone, {name}: median {statistics.median(times):.3f}s", file=sys.stderr)
    finally:
        follower.close()
    return rows


def timed(
    cmd: list[str], cwd: Path, env: dict[str, str]
) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall time and CPU time (user + system, from the children's rusage) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result


def manual_rollback(repo: Any, work: Path, runs: int) -> list[dict[str, Any]]:
    project = work / "project"
    project.mkdir(exist_ok=True)
    (project / "cosign.pub").write_bytes(repo.pub.read_bytes())
    port = free_port()
    (project / "shipflow.yaml").write_text(
        f"image: {repo.name}\nkeys: {{trusted: [cosign.pub]}}\nroles: {{oncall: [bench]}}\n"
        "environments:\n  canary: {promoted_by: [oncall]}\n"
        "  production: {from: canary, promoted_by: [oncall]}\n"
        "canary:\n  interval: 200ms\n  timeout: 150ms\n  recovery_timeout: 30s\n"
        f"  deploy: {{target: local, port: {port}, state_dir: state}}\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "SHIPFLOW_", "ROLLBACK_", "CANARY_"))
    }
    # As an installed tool runs: with its bytecode cached (pip compiles it at install; the warm-up
    # runs below write it here). Without this, every run would compile shipflow's sources again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    shipflow = [sys.executable, "-m", "shipflow.cli.main"]
    previous, other = str(repo.digests["previous"]), str(repo.digests["healthy"])
    # Both digests were held by both environments before (as after earlier releases), so either
    # is a valid `--to`; each rollback below adds its own history entry.
    for env_name in ("canary", "production"):
        for name in ("healthy", "previous"):
            record_entry(
                repo.store,
                HistoryEntry(environment=env_name, digest=repo.digests[name], action="promote", actor="ci"),
            )
    rows = []
    try:
        # Warm: both root filesystems extracted, the previous version running.
        for digest in (other, previous):
            subprocess.run(
                [*shipflow, "rollback", "--env", "canary", "--to", digest, "--no-health-check"],
                cwd=project,
                env=env,
                capture_output=True,
                check=True,
            )
        for label, args in (
            ("local target, health confirmed", ["--env", "canary"]),
            ("tag only (production, no deploy target)", ["--env", "production", "--no-health-check"]),
        ):
            times, cpu = [], []
            for i in range(runs):
                digest = other if i % 2 == 0 else previous
                wall, used, result = timed(
                    [*shipflow, "rollback", *args, "--to", digest, "--json"], project, env
                )
                if result.returncode != 0:
                    raise RuntimeError(
                        f"shipflow rollback failed: {result.stdout[-2000:]} {result.stderr[-2000:]}"
                    )
                times.append(wall)
                cpu.append(used)
            rows.append(
                {
                    "case": label,
                    "median": statistics.median(times),
                    "min": min(times),
                    "max": max(times),
                    "cpu": statistics.median(cpu),
                }
            )
            print(f"manual rollback, {label}: median {statistics.median(times):.2f}s", file=sys.stderr)
        baseline = [
            timed([sys.executable, "-c", "import shipflow.cli.main"], project, env) for _ in range(runs)
        ]
        rows.append(
            {
                "case": "for scale: the interpreter importing the CLI, nothing else",
                "median": statistics.median(b[0] for b in baseline),
                "min": min(b[0] for b in baseline),
                "max": max(b[0] for b in baseline),
                "cpu": statistics.median(b[1] for b in baseline),
            }
        )
    finally:
        LocalTarget(repo.store, LocalSettings(state_dir=project / "state", port=port)).stop("canary")
    return rows


def render(
    intervals: list[dict[str, Any]], alone: list[dict[str, Any]], manual: list[dict[str, Any]], runs: int
) -> str:
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}), threshold {THRESHOLD}.",
        "",
        "#### First failing check → previous version serving (local target)",
        "",
        "| interval i | detection (s) | rollback (s) | first failure → previous serving (s) "
        "| in units of i | target 3i + 1 s | met |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in intervals:
        lines.append(
            f"| {row['interval']:g} s | {row['detection']:.2f} | {row['rollback']:.2f} | "
            f"{row['total']:.2f} | {row['multiple']:.2f} | {row['target']:.1f} s | "
            f"{'yes' if row['met'] else 'NO'} |"
        )
    lines += [
        "",
        f"#### The rollback alone: trip → previous version healthy, median of {runs} (interval 0.2 s)",
        "",
        "| target | median (s) | min (s) | max (s) | of which the target's rollback (s) | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in alone:
        goal = "< 1 s" if row["target"] == "tag" else "< 1 s + process start"
        lines.append(
            f"| {row['target']} | {row['median']:.3f} | {row['min']:.3f} | {row['max']:.3f} | "
            f"{row['deploy_median']:.3f} | {goal} |"
        )
    lines += [
        "",
        f"#### Manual rollback wall time: `shipflow rollback`, median of {runs} (SLA 10 min)",
        "",
        "| case | median wall (s) | min (s) | max (s) | median CPU, user + system (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in manual:
        lines.append(
            f"| {row['case']} | {row['median']:.2f} | {row['min']:.2f} | {row['max']:.2f} "
            f"| {row['cpu']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--intervals", default="0.2,1,10", help="comma-separated check intervals in seconds")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("the local target needs root (chroot); run as root")
    work = Path(tempfile.mkdtemp(prefix="shipflow-canary-bench-"))
    images = build_images(work)
    repo = make_canary_repo(work, images, tags={"canary": "previous", "production": "previous"})
    intervals = by_interval(repo, work, [float(x) for x in args.intervals.split(",")])
    alone = rollback_alone(repo, work, args.runs)
    manual = manual_rollback(repo, work, args.runs)
    text = render(intervals, alone, manual, args.runs)
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
