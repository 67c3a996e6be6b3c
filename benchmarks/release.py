#!/usr/bin/env python3
"""Release benchmark: what ``shipflow release`` adds to a release beyond the build itself.

Not a test: a standalone script that prints a Markdown table (and writes it with ``--output``).

Two images, each released as ``make demo`` (scripts/demo.sh) releases the example: the CLI
(``shipflow release CONTEXT --version V --build-arg VERSION=V --actor github-actions[bot] --key
ci.key --json``) into an OCI layout store, with a fresh cosign key pair made by ``shipflow
keygen``, the advisory DB imported from tests/data/osv/records by ``shipflow db import``, and a
shipflow.yaml whose ``dev`` environment takes the build (no deploy target: the last step only
tags ``:dev`` and writes the signed record):

* ``example``: examples/immoflowme as its prepare.sh commits it (FROM scratch + busybox, 2 RUN
  steps);
* ``big``: FROM scratch, busybox, and ``--size-mb`` (default 300) MB of random bytes
  (incompressible) in ``--files`` files, in a git repository (the data ignored by git, not by the
  build: the context digest covers it).

Every run releases into a **fresh store**, so every step does its full work (build, sign, SBOM,
SBOM attestation, scan, vulnerability attestation, scan gate, provenance, tag :dev); the build
step's own seconds (from ``--json``) are then subtracted:

* overhead = release wall time (the CLI process, start-up and key decryption included) minus the
  build step's seconds — the figure the target uses;
* beside it, the sum of the non-build steps alone (no interpreter start-up, config, key
  decryption) and each step's median.

``shipflow release --help`` is timed as well: the CLI's start-up floor.

A second release of the same revision into the same store (it builds nothing, signs nothing
twice, skips the attestations already attached, re-scans, and finds :dev in place) is timed too,
for reference: it is not the overhead, because it skips most of the work.

Beside it, in the same run: ``tar -xzf`` of the built image's layer blobs (read from the layout
store; ``tar -xf`` for an uncompressed layer) into an empty temporary directory, timed the same
way. Target (issue 10): overhead < 25 % of that tar time + 1 s.

Usage::

    .venv/bin/python benchmarks/release.py [--runs 3] [--size-mb 300] [--files 3]
        [--images example,big] [--output FILE]

Needs: buildah, busybox-static (/bin/busybox), git, tar, ~1.5 GB free in $TMPDIR, and this
checkout's venv (``.venv/bin/shipflow``). Run it as root (buildah --isolation chroot).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipflow.release.release import STEPS  # the steps `shipflow release --json` reports

ROOT = Path(__file__).resolve().parents[1]
SHIPFLOW = str(Path(sys.executable).parent / "shipflow")
PASSWORD = "bench-password"
VERSION = "1.0.0"
CONFIG = """\
image: oci:{store}
keys: {{trusted: [{work}/keys/ci.pub]}}
roles: {{ci: ["github-actions[bot]"]}}
environments:
  dev: {{promoted_by: [ci]}}
gates:
  vulnerabilities: {{fail_on: [CRITICAL, HIGH], db: {work}/advisories.db}}
"""
BIG_DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
COPY data/ /data/
USER 1001:1001
ENTRYPOINT ["/bin/busybox", "sh"]
"""


def run(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def make_big_repo(path: Path, size_mb: int, files: int) -> str:
    """A git repository: FROM scratch + busybox + ``size_mb`` MB of random bytes in ``files`` files."""
    (path / "data").mkdir(parents=True)
    shutil.copy2("/bin/busybox", path / "busybox")
    (path / "Dockerfile").write_text(BIG_DOCKERFILE)
    (path / ".gitignore").write_text("/data/\n")
    chunk = 1024 * 1024
    for index in range(files):
        share = size_mb // files + (1 if index < size_mb % files else 0)
        with (path / "data" / f"random-{index}.bin").open("wb") as out:
            for _ in range(share):
                out.write(os.urandom(chunk))
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
        "GIT_AUTHOR_DATE": "2026-01-15T09:00:00Z",
        "GIT_COMMITTER_DATE": "2026-01-15T09:00:00Z",
    }
    run(["git", "init", "-q", "-b", "main", "."], env, path)
    run(["git", "add", "-A", "."], env, path)
    run(["git", "-c", "commit.gpgsign=false", "commit", "-q", "-m", "big image"], env, path)
    return run(["git", "rev-parse", "HEAD"], env, path).strip()


def layer_blobs(layout: Path, digest: str) -> list[tuple[Path, str]]:
    """The layer blobs of the image ``digest`` in an OCI layout, with their media types."""
    algorithm, hexdigest = digest.split(":", 1)
    manifest = json.loads((layout / "blobs" / algorithm / hexdigest).read_bytes())
    out = []
    for layer in manifest["layers"]:
        algorithm, hexdigest = layer["digest"].split(":", 1)
        out.append((layout / "blobs" / algorithm / hexdigest, layer["mediaType"]))
    return out


def time_tar(layers: list[tuple[Path, str]], scratch: Path) -> float:
    """``tar -xzf`` (``-xf`` for an uncompressed layer) of every layer into an empty directory."""
    target = Path(tempfile.mkdtemp(dir=scratch))
    try:
        started = time.perf_counter()
        for blob, media_type in layers:
            flags = "-xzf" if media_type.endswith("gzip") else "-xf"
            run(["tar", flags, str(blob), "-C", str(target)])
        return time.perf_counter() - started
    finally:
        shutil.rmtree(target, ignore_errors=True)


def release(context: Path, config: Path, work: Path, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    argv = [
        SHIPFLOW,
        "release",
        str(context),
        "--version",
        VERSION,
        "--build-arg",
        f"VERSION={VERSION}",
        "--actor",
        "github-actions[bot]",
        "--key",
        str(work / "keys" / "ci.key"),
        "--config",
        str(config),
        "--sbom-output",
        str(config.parent / "sbom.spdx.json"),
        "--sarif",
        str(config.parent / "scan.sarif"),
        "--json",
    ]
    started = time.perf_counter()
    out = run(argv, env, work)
    return time.perf_counter() - started, json.loads(out)


def measure(label: str, context: Path, work: Path, env: dict[str, str], runs: int) -> dict[str, Any]:
    walls: list[float] = []
    again: list[float] = []
    tars: list[float] = []
    steps: dict[str, list[float]] = {name: [] for name in STEPS}
    digests: set[str] = set()
    layers_bytes = 0
    media: set[str] = set()
    for index in range(runs):
        here = work / f"{label}-{index}"
        here.mkdir()
        store = here / "store"
        config = here / "shipflow.yaml"
        config.write_text(CONFIG.format(store=store, work=work))
        wall, result = release(context, config, work, env)
        if result["reused"]:
            raise SystemExit(f"{label}: the release into a fresh store reused a build")
        walls.append(wall)
        seen = {step["step"]: step for step in result["steps"]}
        for name in STEPS:
            if seen[name]["status"] != "done":
                raise SystemExit(f"{label}: step {name} was {seen[name]['status']}: {seen[name]['detail']}")
            steps[name].append(seen[name]["seconds"])
        digests.add(result["image_digest"])
        wall_again, result_again = release(context, config, work, env)
        if not result_again["reused"] or result_again["image_digest"] != result["image_digest"]:
            raise SystemExit(f"{label}: the second release of the same revision did not reuse the build")
        again.append(wall_again)
        layers = layer_blobs(store, result["image_digest"])
        layers_bytes = sum(blob.stat().st_size for blob, _ in layers)
        media |= {media_type for _, media_type in layers}
        tars.append(time_tar(layers, work))
        shutil.rmtree(here, ignore_errors=True)
    overheads = [wall - build for wall, build in zip(walls, steps["build"], strict=True)]
    non_build = [sum(steps[name][i] for name in STEPS[1:]) for i in range(runs)]
    med = statistics.median
    return {
        "label": label,
        "wall": med(walls),
        "build": med(steps["build"]),
        "overhead": med(overheads),
        "overhead_range": (min(overheads), max(overheads)),
        "non_build": med(non_build),
        "steps": {name: med(values) for name, values in steps.items()},
        "again": med(again),
        "tar": med(tars),
        "tar_range": (min(tars), max(tars)),
        "layers_mb": layers_bytes / 1e6,
        "media": sorted(media),
        "digests": digests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=300, help="random bytes in the big image")
    parser.add_argument("--files", type=int, default=3, help="files the big image's bytes are split into")
    parser.add_argument("--images", default="example,big", help="which images: example, big")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    images = [name.strip() for name in args.images.split(",") if name.strip()]
    if not images or set(images) - {"example", "big"}:
        parser.error("--images takes example and/or big")

    load_before = uptime()
    results: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="shipflow-bench-release-"))
    try:
        env = {**os.environ, "COSIGN_PASSWORD": PASSWORD, "SHIPFLOW_DB": str(work / "advisories.db")}
        for name in ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "COSIGN_PRIVATE_KEY"):
            env.pop(name, None)
        (work / "keys").mkdir()
        run([SHIPFLOW, "keygen", "--output-key-prefix", str(work / "keys" / "ci")], env)
        run([SHIPFLOW, "db", "import", str(ROOT / "tests/data/osv/records")], env)
        contexts: dict[str, tuple[Path, str]] = {}
        if "example" in images:
            repo = work / "example"
            revision = run(["sh", str(ROOT / "examples/immoflowme/prepare.sh"), str(repo), VERSION]).strip()
            contexts["example"] = (repo, revision)
        if "big" in images:
            repo = work / "big"
            contexts["big"] = (repo, make_big_repo(repo, args.size_mb, args.files))
        help_times = []
        for _ in range(args.runs + 1):  # the first one is a warm-up (byte-code caches)
            started = time.perf_counter()
            run([SHIPFLOW, "release", "--help"], env)
            help_times.append(time.perf_counter() - started)
        help_median = statistics.median(help_times[1:])
        for name in images:
            results.append(measure(name, contexts[name][0], work, env, args.runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = uptime()

    what = {
        "example": "examples/immoflowme (FROM scratch + busybox, 2 RUN steps)",
        "big": f"FROM scratch + busybox + {args.size_mb} MB random bytes in {args.files} files",
    }
    lines = [
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.node()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}; runs: {args.runs} (medians, seconds).",
        f"Load before: `{load_before}`",
        f"Load after: `{load_after}`",
        "",
        "Every run releases into a fresh OCI layout store (everything built, signed, attested anew); "
        "overhead = release wall time - the build step's seconds (the target's figure).",
        "",
        "| image | layers MB | release wall | build step | **overhead** (min-max) | non-build steps | "
        "2nd release (reuse) | tar -xzf layers (min-max) | target: 0.25·tar + 1 | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        target = 0.25 * r["tar"] + 1.0
        verdict = "met" if r["overhead"] < target else "not met"
        lines.append(
            f"| {r['label']} | {r['layers_mb']:.1f} | {r['wall']:.2f} | {r['build']:.2f} | "
            f"**{r['overhead']:.2f}** ({r['overhead_range'][0]:.2f}-{r['overhead_range'][1]:.2f}) | "
            f"{r['non_build']:.2f} | {r['again']:.2f} | {r['tar']:.2f} ({r['tar_range'][0]:.2f}-"
            f"{r['tar_range'][1]:.2f}) | {target:.2f} | {verdict} |"
        )
    lines += [
        "",
        'Steps (median seconds, from `shipflow release --json`); "start-up etc." = wall - all steps '
        "(interpreter, imports, config, key decryption, JSON output):",
        "",
        "| step | " + " | ".join(r["label"] for r in results) + " |",
        "|---|" + "---:|" * len(results),
    ]
    for name in STEPS:
        lines.append(f"| {name} | " + " | ".join(f"{r['steps'][name]:.2f}" for r in results) + " |")
    lines.append(
        "| start-up etc. | "
        + " | ".join(f"{r['wall'] - r['build'] - r['non_build']:.2f}" for r in results)
        + " |"
    )
    lines += [
        "",
        f"For scale: `shipflow release --help` (interpreter, click, the command's module) takes "
        f"{help_median:.2f} s.",
        "",
    ]
    for r in results:
        lines.append(
            f"- {r['label']}: {what[r['label']]}; layer media types {', '.join(r['media'])}; "
            f"{len(r['digests'])} distinct digest(s) over {args.runs} cold builds."
        )
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
