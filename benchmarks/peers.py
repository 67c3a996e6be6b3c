"""shipflow against Syft, Grype and Trivy on the same images and the same advisories, in one run.

Builds the image corpus of the peer comparisons (``tests/support/corpus.py``: this machine's
Debian 12 with a few npm and Python packages, an Alpine 3.19 apk database, and whatever images
were added there since) with buildah into OCI layouts, loads one set of OSV records
(``support.peers.PEER_RECORDS``) into shipflow's, Grype's and Trivy's databases (the last two via
``tools/peerdb``), and then, per image, times the CLIs as users run them (wall clock of the whole
process, median of ``--runs`` after one warm-up run):

* SBOM: ``shipflow sbom oci:LAYOUT:TAG --format spdx-json`` vs ``syft scan oci-dir:LAYOUT -o
  spdx-json`` vs ``trivy image --input LAYOUT --format spdx-json`` (target: shipflow <= 0.5x the
  faster peer);
* scan, DBs already imported: ``shipflow scan oci:LAYOUT:TAG --format json`` vs ``grype
  oci-dir:LAYOUT -o json`` vs ``trivy image --input LAYOUT --skip-db-update --offline-scan
  --format json`` (target <= 0.5x the faster peer). Trivy keeps a per-layer analysis cache in
  its cache directory; the default run uses it (as a CI job with a kept cache would), the
  ``trivy (no cache)`` column passes ``--cache-backend memory``;

and reports the package-set agreement with Syft (share of the (type, name, version) Syft lists,
in the types both catalog, that shipflow lists too; target 100 %) and the finding agreement with
Grype and Trivy (advisory groups after alias merging that all three report), each with the count
of differences that tests/interop/ does not explain (target 0: every difference explained).

Issue 7's start-up comparison is the ``debian-app`` rows: ``shipflow scan`` and ``shipflow sbom``
side by side with Trivy on a small Debian image in a layout (target <= 0.15 s each).

Run (from the repository root, on an otherwise idle machine)::

    .venv/bin/python benchmarks/peers.py [--runs 7] [--images debian-app,alpine] [--output FILE]
        [--profile]     # also: python -X importtime and cProfile of shipflow scan/sbom

Needs what ``bash .ci/run`` installs: buildah, skopeo, busybox-static, npm, the venv, and the
peers syft, grype, trivy, peerdb-grype and peerdb-trivy from ``scripts/install-peers.sh``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from fixtures.images import ImageBuilder  # noqa: E402
from fixtures.peers import peer_binary  # noqa: E402
from interop.test_findings_vs_peers import EXPLAINED as EXPLAINED_FINDINGS  # noqa: E402
from interop.test_inventory_vs_syft import EXPLAINED as EXPLAINED_PACKAGES  # noqa: E402
from support.corpus import CORPUS, corpus_image  # noqa: E402
from support.peers import (  # noqa: E402
    TRIVY_OFFLINE_FLAGS,
    PeerDatabases,
    build_peer_databases,
    group_findings,
    grype_findings,
    shipflow_findings,
    shipflow_packages,
    syft_document,
    syft_packages,
    trivy_findings,
)

SHIPFLOW = os.environ.get("SHIPFLOW", str(REPO / ".venv" / "bin" / "shipflow"))


@dataclass
class Timing:
    median: float
    low: float
    runs: int


def time_command(command: Sequence[str], env: dict[str, str], runs: int) -> Timing:
    """Wall time of ``command`` (stdout discarded), median and minimum of ``runs`` after a warm-up."""
    samples = []
    for attempt in range(runs + 1):
        started = time.perf_counter()
        result = subprocess.run(
            list(command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False
        )
        elapsed = time.perf_counter() - started
        if result.returncode not in (0, 1):  # 1: a scan gate; none is set here, but be lenient
            raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]!r}")
        if attempt:
            samples.append(elapsed)
    return Timing(statistics.median(samples), min(samples), runs)


def fmt(seconds: float) -> str:
    return f"{seconds:.3f}"


def ratio(ours: float, peers: Sequence[float]) -> str:
    return f"{ours / min(peers):.2f}"


def profile_shipflow(layout_ref: str, db: Path, out: list[str]) -> None:
    """Where shipflow's time goes: the import profile (-X importtime, top 15 cumulative) and a
    cProfile of scan and sbom in a fresh interpreter (top 20 by cumulative time)."""
    for label, args in (
        ("scan", ["scan", layout_ref, "--db", str(db), "--format", "json", "--max-db-age", "off"]),
        ("sbom", ["sbom", layout_ref, "--format", "spdx-json"]),
    ):
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "shipflow.cli.main", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        rows = []
        for line in result.stderr.splitlines():
            if line.startswith("import time:") and "cumulative" not in line:
                self_us, cumulative_us, name = line.split(":", 1)[1].split("|")
                rows.append((int(cumulative_us), int(self_us), name))
        top = sorted(rows, reverse=True)[:15]
        out += ["", f"#### `shipflow {label}`: imports (python -X importtime, top 15 cumulative, µs)", ""]
        out += ["| module | cumulative µs | self µs |", "|---|---:|---:|"]
        out += [f"| `{name.strip()}` | {cum} | {own} |" for cum, own, name in top]
        profiler = cProfile.Profile()
        from shipflow.cli.main import main as cli_main

        argv = sys.argv
        sys.argv = ["shipflow", *args]
        stdout = sys.stdout
        sys.stdout = io.StringIO()
        try:
            profiler.enable()
            try:
                cli_main()
            except SystemExit:
                pass
            finally:
                profiler.disable()
        finally:
            sys.argv = argv
            sys.stdout = stdout
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(20)
        out += [
            "",
            f"#### `shipflow {label}`: cProfile in-process (imports already done), top 20 cumulative",
            "",
        ]
        out += ["```", *text.getvalue().strip().splitlines()[-28:], "```"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--images", default=",".join(c.name for c in CORPUS))
    parser.add_argument("--workdir", type=Path, default=None, help="keep images and DBs here")
    parser.add_argument("--output", type=Path, default=None, help="also write the Markdown here")
    parser.add_argument("--profile", action="store_true", help="import profile and cProfile of shipflow")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="shipflow-peers-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    syft, grype, trivy = (peer_binary(n) for n in ("syft", "grype", "trivy"))
    builder = ImageBuilder(workdir / "buildah", peer_binary("buildah"), peer_binary("skopeo"))
    out: list[str] = []
    try:
        started = time.perf_counter()
        dbs: PeerDatabases = build_peer_databases(
            workdir / "dbs",
            grype=grype,
            peerdb_grype=peer_binary("peerdb-grype"),
            peerdb_trivy=peer_binary("peerdb-trivy"),
        )
        images = {
            name: corpus_image(name).build(builder, workdir / "ctx" / name) for name in args.images.split(",")
        }
        print(f"# images and DBs ready in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        env = dbs.env()
        versions = {
            "shipflow": subprocess.run(
                [SHIPFLOW, "--version"], capture_output=True, text=True
            ).stdout.strip(),
            "syft": subprocess.run([syft, "version"], capture_output=True, text=True, env=env).stdout,
            "grype": subprocess.run([grype, "version"], capture_output=True, text=True, env=env).stdout,
            "trivy": subprocess.run([trivy, "--version"], capture_output=True, text=True, env=env).stdout,
        }

        def version_line(text: str) -> str:
            for line in text.splitlines():
                if line.lower().startswith("version"):
                    return line.split(":", 1)[1].strip()
            return text.strip().splitlines()[0] if text.strip() else "?"

        record_dirs = ", ".join(str(p.relative_to(REPO / "tests" / "data")) for p in dbs.records)
        out += [
            f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {platform.node()}, "
            f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}; "
            f"load average at start {os.getloadavg()[0]:.2f}",
            f"Tools: {versions['shipflow']}; syft {version_line(versions['syft'])}; "
            f"grype {version_line(versions['grype'])}; trivy {version_line(versions['trivy'])}",
            f"Advisories: {len(dbs.records)} record directories ({record_dirs}), "
            "the same in all three scanners. Times: wall clock of the whole CLI process, median "
            f"(min) of {args.runs} runs after one warm-up, in seconds. Ratio: shipflow / the faster peer.",
            "",
            "| image | packages (shipflow) | sbom: shipflow | syft | trivy | ratio | scan: shipflow "
            "| grype | trivy | trivy (no cache) | ratio |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        agreement: list[str] = []
        for name, image in images.items():
            layout, ref = image.layout_path, image.layout_ref
            sbom = {
                "shipflow": time_command([SHIPFLOW, "sbom", ref, "--format", "spdx-json"], env, args.runs),
                "syft": time_command(
                    [syft, "scan", f"oci-dir:{layout}", "-o", "spdx-json", "-q"], env, args.runs
                ),
                "trivy": time_command(
                    [
                        trivy,
                        "image",
                        "--input",
                        str(layout),
                        "--format",
                        "spdx-json",
                        "--quiet",
                        *TRIVY_OFFLINE_FLAGS,
                    ],
                    env,
                    args.runs,
                ),
            }
            scan_args = ["scan", ref, "--db", str(dbs.shipflow_db), "--format", "json", "--max-db-age", "off"]
            trivy_scan = [trivy, "image", "--input", str(layout), *TRIVY_OFFLINE_FLAGS, "--scanners", "vuln"]
            scan = {
                "shipflow": time_command([SHIPFLOW, *scan_args], env, args.runs),
                "grype": time_command([grype, f"oci-dir:{layout}", "-o", "json", "-q"], env, args.runs),
                "trivy": time_command([*trivy_scan, "--format", "json", "--quiet"], env, args.runs),
                "trivy-nocache": time_command(
                    [*trivy_scan, "--cache-backend", "memory", "--format", "json", "--quiet"], env, args.runs
                ),
            }
            ours, _ = shipflow_packages(layout, image.tag)
            syft_set = syft_packages(syft_document(syft, layout, env))
            shared_types = {k.type for k in ours}
            syft_shared = {k for k in syft_set if k.type in shared_types}
            listed = len(syft_shared & ours)
            package_notes = [e for e in EXPLAINED_PACKAGES if e.image == name]
            unexplained_packages = sum(
                1
                for side, keys in (("syft-only", syft_shared - ours), ("shipflow-only", ours - syft_shared))
                for key in keys
                if not any(e.side == side and e.matches(key) for e in package_notes)
            )
            out.append(
                f"| {name} | {len(ours)} | {fmt(sbom['shipflow'].median)} ({fmt(sbom['shipflow'].low)}) "
                f"| {fmt(sbom['syft'].median)} | {fmt(sbom['trivy'].median)} "
                f"| {ratio(sbom['shipflow'].median, [sbom['syft'].median, sbom['trivy'].median])} "
                f"| {fmt(scan['shipflow'].median)} ({fmt(scan['shipflow'].low)}) "
                f"| {fmt(scan['grype'].median)} "
                f"| {fmt(scan['trivy'].median)} | {fmt(scan['trivy-nocache'].median)} "
                f"| {ratio(scan['shipflow'].median, [scan['grype'].median, scan['trivy'].median])} |"
            )
            findings = (
                shipflow_findings(layout, image.tag, dbs.shipflow_db)
                + grype_findings(grype, layout, env)
                + trivy_findings(trivy, layout, env)
            )
            groups = group_findings(findings)
            everyone = sum(1 for g in groups if len(g.tools) == 3)
            pairs = {
                peer: sum(1 for g in groups if ("shipflow" in g.tools) == (peer in g.tools))
                for peer in ("grype", "trivy")
            }
            per_tool = {t: sum(1 for g in groups if t in g.tools) for t in ("shipflow", "grype", "trivy")}
            unexplained_findings = sum(
                1
                for g in groups
                if len(g.tools) < 3
                and not any(e.image == name and e.matches("image", g) for e in EXPLAINED_FINDINGS)
            )
            pct = 100.0 * listed / len(syft_shared) if syft_shared else 100.0
            agreement.append(
                f"| {name} | {listed}/{len(syft_shared)} ({pct:.1f} %) in {', '.join(sorted(shared_types))} "
                f"| {unexplained_packages} "
                f"| {len(groups)} | {per_tool['shipflow']} / {per_tool['grype']} / {per_tool['trivy']} "
                f"| {everyone} | {pairs['grype']}/{len(groups)} | {pairs['trivy']}/{len(groups)} "
                f"| {unexplained_findings} |"
            )
        out += [
            "",
            "| image | Syft's packages shipflow lists (shared types) | package differences not explained "
            "| advisory groups | reported by shipflow / grype / trivy | by all three "
            "| shipflow agrees with grype | shipflow agrees with trivy | finding differences not explained |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
            *agreement,
        ]
        if args.profile and "debian-app" in images:
            profile_shipflow(images["debian-app"].layout_ref, dbs.shipflow_db, out)
    finally:
        builder.close()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    text = "\n".join(out) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
