#!/usr/bin/env python3
"""Build benchmark: ``shipflow build`` of the example service with buildah, and build-once reuse.

Not a test: a standalone script that prints a Markdown table (and writes it with ``--output``).

What it measures (medians of ``--runs``), on the example (examples/immoflowme, prepared as a
git repository by its prepare.sh; FROM scratch + busybox, two RUN steps):

1. ``buildah bud`` + ``buildah push`` to an OCI layout, run by hand with the same flags shipflow
   uses, in a fresh storage root each time: the build itself, the floor.
2. ``shipflow build`` (the CLI as users run it) into a fresh OCI layout each time: a cold build
   (new buildah storage, nothing reused). The difference to 1 is shipflow's overhead: context
   hashing, git, the store copy, tags, interpreter start-up.
3. ``shipflow build`` of the same revision into a store that has it: build-once reuse (one tag
   lookup and the config read; nothing built).
4. 2 and 3 through the library (``build_image``) in this interpreter: no start-up.

It also checks that every cold build produced the same digest (reproducibility).

Usage::

    .venv/bin/python benchmarks/build.py [--runs 5] [--output FILE]

Needs: buildah, busybox-static, git, and this checkout's venv (``.venv/bin/shipflow``).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHIPFLOW = str(Path(sys.executable).parent / "shipflow")

from shipflow.build import BuildSettings, build_image  # noqa: E402


def timed(func: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = func(*args)
    return time.perf_counter() - started, value


def run(argv: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def bare_buildah(repo: Path, work: Path, epoch: int) -> str:
    """buildah bud + push with shipflow's flags, in a fresh storage root; returns the digest."""
    root = Path(tempfile.mkdtemp(dir=work))
    (root / "tmp").mkdir()
    env = {**os.environ, "TMPDIR": str(root / "tmp")}
    base = ["buildah", "--storage-driver", "vfs", "--root", str(root / "s"), "--runroot", str(root / "r")]
    try:
        run(
            [
                *base,
                "bud",
                "--isolation",
                "chroot",
                "--timestamp",
                str(epoch),
                "--identity-label=false",
                "--format",
                "oci",
                "--build-arg",
                "VERSION=1.2.3",
                "-t",
                "localhost/bench:x",
                str(repo),
            ],
            env,
        )
        run(
            [
                *base,
                "push",
                "--quiet",
                "--format",
                "oci",
                "--digestfile",
                str(root / "d"),
                "localhost/bench:x",
                f"oci:{root / 'layout'}:latest",
            ],
            env,
        )
        return (root / "d").read_text().strip()
    finally:
        subprocess.run([*base, "rm", "--all"], capture_output=True, env=env, check=False)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="shipflow-bench-build-"))
    try:
        repo = work / "repo"
        revision = run(["sh", str(ROOT / "examples/immoflowme/prepare.sh"), str(repo), "1.2.3"]).strip()
        epoch = int(run(["git", "-C", str(repo), "log", "-1", "--format=%ct"]).strip())
        digests: set[str] = set()
        times: dict[str, list[float]] = {
            k: [] for k in ("bare", "cli-cold", "cli-reuse", "lib-cold", "lib-reuse")
        }
        for i in range(args.runs):
            times["bare"].append(timed(bare_buildah, repo, work, epoch)[0])
            cli = [
                SHIPFLOW,
                "build",
                str(repo),
                "--image",
                f"oci:{work / f'cli-{i}'}",
                "--build-arg",
                "VERSION=1.2.3",
            ]
            seconds, out = timed(run, cli)
            times["cli-cold"].append(seconds)
            digests.add(out.split("@")[-1].strip())
            times["cli-reuse"].append(timed(run, cli)[0])
            settings = BuildSettings(
                context=repo, image=f"oci:{work / f'lib-{i}'}", build_args={"VERSION": "1.2.3"}
            )
            seconds, result = timed(build_image, settings)
            times["lib-cold"].append(seconds)
            digests.add(str(result.digest))
            seconds, again = timed(build_image, settings)
            assert again.reused
            times["lib-reuse"].append(seconds)
            shutil.rmtree(work / f"cli-{i}", ignore_errors=True)
            shutil.rmtree(work / f"lib-{i}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    lines = [
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.node()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end; Python {platform.python_version()}",
        f"Example: examples/immoflowme at revision {revision[:12]} (FROM scratch + busybox, 2 RUN steps); "
        f"runs: {args.runs}; medians in seconds (min-max).",
        "",
        "| what | median s | min-max s |",
        "|---|---:|---:|",
    ]
    labels = {
        "bare": "buildah bud + push by hand (the build itself)",
        "cli-cold": "`shipflow build` cold (fresh store, fresh buildah storage)",
        "cli-reuse": "`shipflow build` again, same revision (build-once reuse)",
        "lib-cold": "`build_image()` cold, in-process",
        "lib-reuse": "`build_image()` reuse, in-process",
    }
    for key, label in labels.items():
        lines.append(f"| {label} | {med[key]:.2f} | {min(times[key]):.2f}-{max(times[key]):.2f} |")
    lines += [
        "",
        f"shipflow's overhead on a cold build (CLI - bare): {med['cli-cold'] - med['bare']:+.2f} s; "
        f"reuse is {med['cli-cold'] / med['cli-reuse']:.1f}x faster than building.",
        f"Distinct digests over all {2 * args.runs} cold shipflow builds: {len(digests)} "
        f"({'reproducible' if len(digests) == 1 else 'NOT reproducible: ' + ', '.join(sorted(digests))}).",
    ]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
