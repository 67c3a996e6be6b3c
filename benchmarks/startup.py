#!/usr/bin/env python3
"""Start-up benchmark: shipflow's everyday commands against the Go tools users compare it with.

Not a test: a standalone script that prints a Markdown report (and writes it with ``--output``).
Issue 7 item 6 and issue 12's "Measure" section set the targets; this script measures them in
one run, on one image, with every tool interleaved round by round (so a change in the
machine's load hits all of them alike).

What it does:

1. Builds the ``debian-app`` image of the peer corpus (``tests/support/corpus.py``: this
   machine's dpkg status, ~780 packages, plus npm and Python packages) with buildah into an OCI
   layout, and loads one set of OSV records into shipflow's, Grype's and Trivy's databases
   (``support.peers.build_peer_databases``), exactly as ``benchmarks/peers.py`` does.
2. Starts a docker-registry on a free loopback port (``benchmarks/registry.py``'s
   ``running_registry``), copies the image there with skopeo, makes a cosign key pair and signs
   the digest with cosign (no transparency log).
3. Times, ``--runs`` times after one warm-up (``--peer-runs`` for the scan and SBOM cases, whose
   peers take seconds), the wall clock of each whole process as a user runs it, and its CPU
   time (user + system, from ``wait4``):

   ========  =========================================================================
   version   ``shipflow --version`` · ``skopeo --version`` · ``crane version``
   tag       ``shipflow tag H/bench/app@DIGEST TAG`` · ``crane tag`` · ``skopeo copy``
             to a new tag of the same repository (the same manifest GET + PUT)
   verify    ``shipflow verify --key cosign.pub H/bench/app@DIGEST`` · ``cosign verify
             --insecure-ignore-tlog`` (the same signature, made by cosign)
   inspect   ``shipflow inspect oci:LAYOUT:TAG`` · ``skopeo inspect oci:LAYOUT:TAG``
   scan      ``shipflow scan oci:LAYOUT:TAG --format json`` · ``trivy image --input`` (with
             its layer cache, and ``--cache-backend memory``) · ``grype oci-dir:``
   sbom      ``shipflow sbom oci:LAYOUT:TAG`` (SPDX) · ``trivy … --format spdx-json`` ·
             ``syft scan oci-dir: -o spdx-json``
   ========  =========================================================================

   ``--baseline-src DIR`` adds a column: the same shipflow commands run from another source
   tree (e.g. ``git worktree add /tmp/before <commit>``, then ``--baseline-src
   /tmp/before/src``), with the venv's libraries: before and after in one run.
4. ``--importtime`` adds each shipflow command's import profile (``python -X importtime``:
   total and the top entries by cumulative time), for this checkout and the baseline.

Medians (min) in seconds; ratio = shipflow / the fastest peer (< 1: shipflow is faster); each
target is issue 7's absolute one, or issue 12's "≤ 0.5x the faster peer" for scan and SBOM.

Usage (from the repository root, on an otherwise idle machine)::

    .venv/bin/python benchmarks/startup.py [--runs 15] [--peer-runs 7] [--output FILE]
        [--baseline-src DIR] [--importtime] [--workdir DIR]

Needs what ``bash .ci/run`` installs: buildah, skopeo, docker-registry, busybox-static, npm, the
venv (``.venv/bin/shipflow``, or ``$SHIPFLOW``), and crane, cosign, syft, grype, trivy,
peerdb-grype, peerdb-trivy from ``scripts/install-peers.sh``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from registry import running_registry  # noqa: E402

from fixtures.images import ImageBuilder  # noqa: E402
from fixtures.peers import peer_binary  # noqa: E402
from support.corpus import corpus_image  # noqa: E402
from support.peers import TRIVY_OFFLINE_FLAGS, build_peer_databases  # noqa: E402

SHIPFLOW = os.environ.get("SHIPFLOW", str(REPO / ".venv" / "bin" / "shipflow"))
PYTHON = str(Path(SHIPFLOW).with_name("python"))
IMAGE = "debian-app"

# issue 7 item 6 (seconds, medians on an idle machine)
TARGETS = {"version": 0.05, "tag": 0.20, "verify": 0.30, "inspect": 0.12, "scan": 0.15, "sbom": 0.15}
# issue 12: shipflow <= this share of the faster of these peers
PEER_TARGETS = {"scan": (0.5, ("grype", "trivy")), "sbom": (0.5, ("syft", "trivy"))}


@dataclass
class Sample:
    wall: float
    cpu: float


@dataclass
class Case:
    name: str
    commands: dict[str, list[str]]  # tool -> argv
    runs: int
    env: dict[str, str] = field(default_factory=dict)
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def median(self, tool: str) -> float | None:
        got = self.samples.get(tool)
        return statistics.median(s.wall for s in got) if got else None

    def low(self, tool: str) -> float | None:
        got = self.samples.get(tool)
        return min(s.wall for s in got) if got else None

    def cpu(self, tool: str) -> float | None:
        got = self.samples.get(tool)
        return statistics.median(s.cpu for s in got) if got else None


def run_once(argv: Sequence[str], env: dict[str, str]) -> Sample:
    """Wall and CPU time of one process (stdout discarded); fails loudly on a non-zero exit."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        elapsed = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            raise SystemExit(
                f"{' '.join(argv)} exited {code}:\n{err.read().decode(errors='replace')[-3000:]}"
            )
    return Sample(elapsed, usage.ru_utime + usage.ru_stime)


def measure(case: Case, base_env: dict[str, str]) -> None:
    env = {**base_env, **case.env}
    tools = list(case.commands)
    for round_number in range(case.runs + 1):  # round 0 warms caches and is dropped
        shift = round_number % len(tools)
        for tool in tools[shift:] + tools[:shift]:
            sample = run_once(case.commands[tool], env)
            if round_number:
                case.samples.setdefault(tool, []).append(sample)
    log(f"{case.name}: " + ", ".join(f"{t} {case.median(t):.3f}" for t in tools))


def shipflow_argv(baseline_src: Path | None, *args: str) -> list[str]:
    """The shipflow CLI of this checkout, or the same commands from another source tree."""
    if baseline_src is None:
        return [SHIPFLOW, *args]
    code = (
        f"import sys; sys.path.insert(0, {str(baseline_src)!r}); from shipflow.cli.main import main; main()"
    )
    return [PYTHON, "-c", code, *args]


def import_profile(
    argv: Sequence[str], env: dict[str, str], top: int
) -> tuple[float, list[tuple[float, str]]]:
    """(total import ms, the top entries by cumulative ms) of one shipflow run."""
    if argv[0] == SHIPFLOW:
        code = "import sys; from shipflow.cli.entry import main; main()"
        command = [PYTHON, "-X", "importtime", "-c", code, *argv[1:]]
    else:
        command = [argv[0], "-X", "importtime", *argv[1:]]
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    rows: list[tuple[float, str, int]] = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((int(match[2]) / 1000, match[4], len(match[3]) // 2))
    total = sum(ms for ms, _, depth in rows if depth == 0)
    return total, [(ms, name) for ms, name, _ in sorted(rows, reverse=True)[:top]]


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def tool_version(argv: Sequence[str], env: dict[str, str]) -> str:
    result = subprocess.run(list(argv), capture_output=True, text=True, env=env, check=False)
    text = (result.stdout + result.stderr).strip()
    for line in text.splitlines():
        lowered = line.lower()
        if lowered.startswith(("version", "gitversion")) and ":" in line:
            return line.split(":", 1)[1].strip()
    return text.splitlines()[0] if text else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=15, help="timed runs of the quick cases (after a warm-up)"
    )
    parser.add_argument("--peer-runs", type=int, default=7, help="timed runs of the scan and SBOM cases")
    parser.add_argument("--baseline-src", type=Path, default=None, help="also time shipflow from this src/")
    parser.add_argument("--importtime", action="store_true", help="add the import profiles")
    parser.add_argument("--top", type=int, default=12, help="entries per import profile")
    parser.add_argument("--cases", default=",".join(TARGETS), help="comma-separated subset")
    parser.add_argument("--workdir", type=Path, default=None, help="keep images and DBs here")
    parser.add_argument("--output", type=Path, default=None, help="also write the Markdown here")
    args = parser.parse_args()
    cases_wanted = args.cases.split(",")
    baseline = args.baseline_src.resolve() if args.baseline_src else None
    if baseline is not None:
        subprocess.run([PYTHON, "-m", "compileall", "-q", str(baseline)], check=True)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="shipflow-startup-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    bins = {n: peer_binary(n) for n in ("skopeo", "crane", "cosign", "syft", "grype", "trivy")}
    builder = ImageBuilder(workdir / "buildah", peer_binary("buildah"), bins["skopeo"])
    load_start = os.getloadavg()
    started = time.perf_counter()
    out: list[str] = []
    try:
        dbs = build_peer_databases(
            workdir / "dbs",
            grype=bins["grype"],
            peerdb_grype=peer_binary("peerdb-grype"),
            peerdb_trivy=peer_binary("peerdb-trivy"),
        )
        image = corpus_image(IMAGE).build(builder, workdir / "ctx" / IMAGE)
        env = dbs.env()
        env.pop("GITHUB_STEP_SUMMARY", None)
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # as in CI: only what compileall wrote is used
        layout, ref = image.layout_path, image.layout_ref
        with running_registry(workdir) as registry:
            host = registry.host
            subprocess.run(
                [
                    bins["skopeo"],
                    "copy",
                    "-q",
                    "--dest-tls-verify=false",
                    f"oci:{layout}:{image.tag}",
                    f"docker://{host}/bench/app:v1",
                ],
                check=True,
            )
            digest = subprocess.run(
                [bins["crane"], "digest", "--insecure", f"{host}/bench/app:v1"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            pinned = f"{host}/bench/app@{digest}"
            keys = workdir / "keys"
            keys.mkdir(exist_ok=True)
            cosign_env = {**env, "COSIGN_PASSWORD": ""}
            if not (keys / "cosign.pub").exists():
                subprocess.run(
                    [bins["cosign"], "generate-key-pair", "--output-key-prefix", str(keys / "cosign")],
                    check=True,
                    env=cosign_env,
                    capture_output=True,
                )
            subprocess.run(
                [
                    bins["cosign"],
                    "sign",
                    "--key",
                    str(keys / "cosign.key"),
                    "--tlog-upload=false",
                    "--allow-http-registry",
                    "-y",
                    pinned,
                ],
                check=True,
                env=cosign_env,
                capture_output=True,
            )
            log(f"image, DBs, registry and signature ready in {time.perf_counter() - started:.0f} s")

            def ours(*command: str) -> dict[str, list[str]]:
                tools = {"shipflow": shipflow_argv(None, *command)}
                if baseline is not None:
                    tools["shipflow (baseline)"] = shipflow_argv(baseline, *command)
                return tools

            db = str(dbs.shipflow_db)
            trivy = [bins["trivy"], "image", "--input", str(layout), *TRIVY_OFFLINE_FLAGS, "--quiet"]
            cases = [
                Case(
                    "version",
                    {
                        **ours("--version"),
                        "skopeo": [bins["skopeo"], "--version"],
                        "crane": [bins["crane"], "version"],
                    },
                    args.runs,
                ),
                Case(
                    "tag",
                    {
                        **ours("tag", pinned, "bench-shipflow"),
                        "crane": [bins["crane"], "tag", "--insecure", pinned, "bench-crane"],
                        "skopeo": [
                            bins["skopeo"],
                            "copy",
                            "-q",
                            "--src-tls-verify=false",
                            "--dest-tls-verify=false",
                            f"docker://{pinned}",
                            f"docker://{host}/bench/app:bench-skopeo",
                        ],
                    },
                    args.runs,
                ),
                Case(
                    "verify",
                    {
                        **ours("verify", "--key", str(keys / "cosign.pub"), pinned),
                        "cosign": [
                            bins["cosign"],
                            "verify",
                            "--key",
                            str(keys / "cosign.pub"),
                            "--insecure-ignore-tlog",
                            "--allow-http-registry",
                            pinned,
                        ],
                    },
                    args.runs,
                ),
                Case(
                    "inspect",
                    {
                        **ours("inspect", ref),
                        "skopeo": [bins["skopeo"], "inspect", f"oci:{layout}:{image.tag}"],
                    },
                    args.runs,
                ),
                Case(
                    "scan",
                    {
                        **ours("scan", ref, "--db", db, "--format", "json", "--max-db-age", "off"),
                        "trivy": [*trivy, "--scanners", "vuln", "--format", "json"],
                        "trivy (no cache)": [
                            *trivy,
                            "--scanners",
                            "vuln",
                            "--format",
                            "json",
                            "--cache-backend",
                            "memory",
                        ],
                        "grype": [bins["grype"], f"oci-dir:{layout}", "-o", "json", "-q"],
                    },
                    args.peer_runs,
                ),
                Case(
                    "sbom",
                    {
                        **ours("sbom", ref, "--format", "spdx-json"),
                        "trivy": [*trivy, "--format", "spdx-json"],
                        "syft": [bins["syft"], "scan", f"oci-dir:{layout}", "-o", "spdx-json", "-q"],
                    },
                    args.peer_runs,
                ),
            ]
            cases = [c for c in cases if c.name in cases_wanted]
            for case in cases:
                measure(case, env)
            profiles: dict[tuple[str, str], tuple[float, list[tuple[float, str]]]] = {}
            if args.importtime:
                for case in cases:
                    for tool in ("shipflow", "shipflow (baseline)"):
                        if tool in case.commands:
                            profiles[(case.name, tool)] = import_profile(case.commands[tool], env, args.top)
            versions = {
                "shipflow": subprocess.run(
                    [SHIPFLOW, "--version"], capture_output=True, text=True
                ).stdout.strip(),
                "skopeo": tool_version([bins["skopeo"], "--version"], env),
                "crane": tool_version([bins["crane"], "version"], env),
                "cosign": tool_version([bins["cosign"], "version"], env),
                "syft": tool_version([bins["syft"], "version"], env),
                "grype": tool_version([bins["grype"], "version"], env),
                "trivy": tool_version([bins["trivy"], "--version"], env),
            }
    finally:
        builder.close()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    load_end = os.getloadavg()

    out += [
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {platform.node()}, "
        f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}; "
        f"load average (1/5/15 min) {' / '.join(f'{x:.2f}' for x in load_start)} at the start, "
        f"{' / '.join(f'{x:.2f}' for x in load_end)} at the end",
        "Tools: " + "; ".join(f"{k} {v}" for k, v in versions.items()),
        f"Image: {IMAGE} (tests/support/corpus.py) in an OCI layout and on a loopback docker-registry. "
        f"Runs: {args.runs} (scan, sbom: {args.peer_runs}) after one warm-up, tools interleaved. "
        "Wall clock of the whole process, median (min), seconds. Ratio: shipflow / the fastest peer."
        + (f" Baseline: shipflow from {baseline}." if baseline else ""),
        "",
    ]
    peers_seen = [t for c in cases for t in c.commands if not t.startswith("shipflow") and t]
    peer_columns = list(dict.fromkeys(peers_seen))
    our_columns = [t for t in ("shipflow", "shipflow (baseline)") if any(t in c.commands for c in cases)]
    header = ["case", *our_columns, *peer_columns, "ratio", "target", "met"]
    out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    verdicts: list[str] = []
    for case in cases:
        ours_median = case.median("shipflow")
        row = [case.name]
        for tool in our_columns:
            row.append(f"{fmt(case.median(tool))} ({fmt(case.low(tool))})" if tool in case.commands else "—")
        for tool in peer_columns:
            row.append(fmt(case.median(tool)) if tool in case.commands else "—")
        peer_medians = [m for t in case.commands if not t.startswith("shipflow") and (m := case.median(t))]
        row.append(f"{ours_median / min(peer_medians):.2f}" if ours_median and peer_medians else "—")
        target = TARGETS[case.name]
        met = ours_median is not None and ours_median <= target
        row += [
            f"≤ {target:.2f} s",
            "yes" if met else f"no ({ours_median / target:.1f}x)" if ours_median else "—",
        ]
        out.append("| " + " | ".join(row) + " |")
        if case.name in PEER_TARGETS and ours_median:
            share, names = PEER_TARGETS[case.name]
            faster = min((case.median(n) or float("inf")) for n in names)
            verdicts.append(
                f"- {case.name}: shipflow {ours_median:.3f} s = {ours_median / faster:.2f}x the faster of "
                f"{' and '.join(names)} ({faster:.3f} s); target ≤ {share}x: "
                + ("met" if ours_median <= share * faster else "not met")
            )
    out += ["", "CPU time (user + system), median, seconds:", ""]
    cpu_header = ["case", *our_columns, *peer_columns]
    out += ["| " + " | ".join(cpu_header) + " |", "|" + "---|" * len(cpu_header)]
    for case in cases:
        out.append(
            "| "
            + " | ".join(
                [
                    case.name,
                    *(fmt(case.cpu(t)) if t in case.commands else "—" for t in [*our_columns, *peer_columns]),
                ]
            )
            + " |"
        )
    if verdicts:
        out += ["", "Against issue 12's peer targets:", "", *verdicts]
    for (case_name, tool), (total, top) in profiles.items():
        out += [
            "",
            f"#### `{case_name}`, {tool}: imports {total:.0f} ms (python -X importtime; top {len(top)}, "
            "cumulative ms)",
            "",
        ]
        out += ["| module | cumulative ms |", "|---|---:|"]
        out += [f"| `{name}` | {ms:.1f} |" for ms, name in top]
    text = "\n".join(out) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
