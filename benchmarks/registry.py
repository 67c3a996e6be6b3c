#!/usr/bin/env python3
"""Registry benchmark: shipflow against skopeo and crane on the same local registries.

Not a test: a standalone script that prints a Markdown table (and writes it with ``--output``).

What it does, in one run:

1. Generates two images as OCI layouts (cached in ``--workdir``): ``big``, about 300 MB in 5
   layers, and ``small``, about 1 MB in 5 layers. Each layer is a tar holding one file of random
   bytes, gzip-compressed at level 1 (``application/vnd.oci.image.layer.v1.tar+gzip``); random
   bytes do not compress, so the blobs are as large as their content. Gzip (not plain tar)
   because skopeo compresses uncompressed layers when pushing to a registry, which would change
   digests and make it do different work than the others.
2. Starts docker-registry instances on free 127.0.0.1 ports and pushes both images with skopeo
   (``--preserve-digests``) to registry A.
3. Times, for every tool, interleaved round by round (the first tool rotates), ``--runs`` times
   (the big cross-registry copy ``--copy-runs`` times). Tools: ``shipflow`` (the CLI),
   ``shipflow-lib`` (the same library call in a fresh interpreter, timed after its imports, to
   separate start-up from work), ``skopeo`` and ``crane``. Cases:

   * cross-repository copy on registry A (``bench/<size>-src`` → a new repository): a tool
     that mounts moves no blob bytes. "Blob bytes moved" comes from registry A's access log:
     bytes of blob GET responses plus the size of every blob whose upload was completed;
   * cross-registry copy, A → a fresh registry B for each run (fresh, so that no tool can
     mount from an earlier run's copy);
   * same-repository retag: ``shipflow tag REF@DIGEST TAG``, ``skopeo copy`` to a new tag in the
     same repository, ``crane tag``; for the big and the small image.

   Medians are reported with the ratio shipflow/peer (< 1: shipflow is faster). Peak memory
   (max RSS, from ``wait4``) of every process is recorded; the table shows it for the
   cross-registry copy of the big image.

Usage::

    .venv/bin/python benchmarks/registry.py [--runs 5] [--copy-runs 3] [--big-mb 300] [--output FILE]

Needs: docker-registry, skopeo, crane (``$CRANE``, else ``$SHIPFLOW_PEERS_BIN/crane``, default
/opt/shipflow-peers/bin), and the ``shipflow`` CLI of this checkout (``$SHIPFLOW`` or
``.venv/bin/shipflow``).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("shipflow", "shipflow-lib", "skopeo", "crane")
# The same copy/retag through shipflow's library inside an already started interpreter: the
# time printed excludes interpreter start-up and imports, to show where the CLI's time goes.
LIBRARY_SNIPPET = """
import sys, time
from shipflow.oci.copy import copy, retag
from shipflow.oci.digest import Digest
from shipflow.oci.open import open_store
from shipflow.oci.reference import parse_reference
import shipflow.oci.registry.client, shipflow.oci.registry.store  # loaded lazily by open_store
op, first, second = sys.argv[1:4]
started = time.perf_counter()
if op == "copy":
    src, dst = parse_reference(first), parse_reference(second)
    copy(open_store(src), src.identifier, open_store(dst, create=True), dst.tag)
else:
    ref = parse_reference(first)
    retag(open_store(ref), Digest.parse(ref.identifier), second)
print(time.perf_counter() - started)
"""
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYERS = 5


# --- image generation ---------------------------------------------------------------------


@dataclass
class Image:
    """A generated image: its OCI layout on disk and what it is made of."""

    name: str
    layout: Path
    digest: str
    blob_sizes: dict[str, int]

    @property
    def size(self) -> int:
        return sum(self.blob_sizes.values())


def _write_blob(layout: Path, data_path: Path) -> tuple[str, int]:
    """Move a finished file into ``blobs/sha256`` under its digest."""
    sha = hashlib.sha256()
    with data_path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
    blob_dir = layout / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    size = data_path.stat().st_size
    data_path.replace(blob_dir / sha.hexdigest())
    return f"sha256:{sha.hexdigest()}", size


def _write_bytes_blob(layout: Path, data: bytes) -> tuple[str, int]:
    with tempfile.NamedTemporaryFile(dir=layout, delete=False) as tmp:
        tmp.write(data)
    return _write_blob(layout, Path(tmp.name))


def _random_layer(layout: Path, index: int, size: int) -> tuple[str, int, str]:
    """A gzip'd tar holding one random file of ``size`` bytes: (digest, size, diff_id)."""
    tar_path = layout / f"layer{index}.tar"
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"data/layer{index}.bin")
        info.size = size
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, _RandomReader(size))
    diff = hashlib.sha256()
    gz_path = layout / f"layer{index}.tar.gz"
    with (
        tar_path.open("rb") as src,
        gz_path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz,
    ):
        while chunk := src.read(1 << 20):
            diff.update(chunk)
            gz.write(chunk)
    tar_path.unlink()
    digest, blob_size = _write_blob(layout, gz_path)
    return digest, blob_size, f"sha256:{diff.hexdigest()}"


class _RandomReader(io.RawIOBase):
    """``size`` random bytes as a file object (tarfile reads the member's content from it)."""

    def __init__(self, size: int) -> None:
        self.remaining = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.remaining, 1 << 20)
        buffer[:n] = os.urandom(n)
        self.remaining -= n
        return n


def generate_image(workdir: Path, name: str, total_bytes: int) -> Image:
    """Write (or reuse) an OCI layout ``workdir/name`` holding one image tagged ``latest``."""
    layout = workdir / name
    marker = layout / "image.json"
    if marker.exists():
        saved = json.loads(marker.read_text())
        return Image(name, layout, saved["digest"], saved["blob_sizes"])
    if layout.exists():
        shutil.rmtree(layout)
    layout.mkdir(parents=True)
    layers = [_random_layer(layout, i, total_bytes // LAYERS) for i in range(LAYERS)]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [diff for _, _, diff in layers]},
        "history": [{"created_by": f"benchmark layer {i}"} for i in range(LAYERS)],
    }
    config_digest, config_size = _write_bytes_blob(layout, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": d, "size": s} for d, s, _ in layers],
    }
    manifest_digest, manifest_size = _write_bytes_blob(layout, json.dumps(manifest, indent=2).encode())
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    blob_sizes = {config_digest: config_size, **{d: s for d, s, _ in layers}}
    marker.write_text(json.dumps({"digest": manifest_digest, "blob_sizes": blob_sizes}))
    return Image(name, layout, manifest_digest, blob_sizes)


# --- registries ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Registry:
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_offset(self) -> int:
        return self.log.stat().st_size

    def access_lines(self, since: int) -> list[str]:
        with self.log.open("rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
        return [line for line in text.splitlines() if line.startswith("127.0.0.1 - ")]


@contextlib.contextmanager
def running_registry(parent: Path) -> Iterator[Registry]:
    """A docker-registry on a free port with its access log in a file; removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="registry-", dir=parent))
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "version": 0.1,
                "log": {"level": "warn", "accesslog": {"disabled": False}},
                "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
                "http": {"addr": f"127.0.0.1:{port}", "secret": "benchmark"},
            }
        )
    )
    log = root / "registry.log"
    with log.open("wb") as log_fh:
        proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log_fh, stderr=log_fh)
    registry = Registry(root, port, proc, log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=1):
                    break
            except (OSError, urllib.error.URLError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"docker-registry did not start:\n{log.read_text()[-2000:]}") from None
                time.sleep(0.05)
        yield registry
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) (?P<bytes>\d+|-)')


def blob_bytes_moved(lines: Sequence[str], sizes: dict[str, int]) -> tuple[int, int, int]:
    """(bytes moved, blob uploads completed, mounts) from access-log lines.

    Moved = bytes of successful blob GETs (downloads) + size of each blob whose upload was
    completed (PUT ``…/blobs/uploads/…?digest=`` 201; a monolithic ``POST …?digest=`` too).
    """
    moved = uploads = mounts = 0
    for line in lines:
        match = _ACCESS.search(line)
        if match is None:
            continue
        method, target, status = match["method"], match["target"], int(match["status"])
        if method == "GET" and "/blobs/sha256:" in target and status == 200:
            moved += int(match["bytes"]) if match["bytes"] != "-" else 0
        elif method in ("PUT", "POST") and "/blobs/uploads/" in target and status == 201:
            if "mount=" in target:
                mounts += 1
                continue
            digest = re.search(r"digest=(sha256(?::|%3A)[0-9a-f]{64})", target)
            if digest is not None:
                uploads += 1
                moved += sizes.get(digest[1].replace("%3A", ":"), 0)
    return moved, uploads, mounts


# --- running the tools --------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    max_rss_kib: int
    bytes_moved: int | None = None
    uploads: int | None = None
    mounts: int | None = None


@dataclass
class Results:
    samples: dict[tuple[str, str], list[Sample]] = field(default_factory=dict)

    def add(self, case: str, tool: str, sample: Sample) -> None:
        self.samples.setdefault((case, tool), []).append(sample)

    def median(self, case: str, tool: str) -> float | None:
        samples = self.samples.get((case, tool))
        return statistics.median(s.seconds for s in samples) if samples else None

    def peak_rss_mib(self, case: str, tool: str) -> float | None:
        samples = self.samples.get((case, tool))
        return max(s.max_rss_kib for s in samples) / 1024 if samples else None

    def moved(self, case: str, tool: str) -> int | None:
        values = [s.bytes_moved for s in self.samples.get((case, tool), []) if s.bytes_moved is not None]
        return max(values) if values else None


def timed(argv: Sequence[str], env: dict[str, str] | None = None, *, self_timed: bool = False) -> Sample:
    """Run ``argv``; wall time and the process's own max RSS (from wait4; Linux: KiB).

    ``self_timed``: the process prints its own elapsed seconds last; use that instead.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        # wait4 (not Popen.wait) gives this child's own rusage, not the sum of all children.
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            out.seek(0)
            raise RuntimeError(
                f"{' '.join(argv)} exited {proc.returncode}:\n{err.read().decode(errors='replace')[-3000:]}"
                f"\n{out.read().decode(errors='replace')[-1000:]}"
            )
        if self_timed:
            out.seek(0)
            elapsed = float(out.read().decode().split()[-1])
    return Sample(elapsed, int(usage.ru_maxrss))


@dataclass
class Tools:
    shipflow: str
    skopeo: str
    crane: str
    env: dict[str, str]

    @property
    def python(self) -> str:
        """The interpreter of shipflow's venv (next to its console script)."""
        return str(Path(self.shipflow).parent / "python")

    def run(self, tool: str, argv: list[str]) -> Sample:
        return timed(argv, self.env, self_timed=tool == "shipflow-lib")

    def copy(self, tool: str, src: str, dst: str) -> list[str]:
        if tool == "shipflow":
            return [self.shipflow, "copy", src, dst]
        if tool == "shipflow-lib":
            return [self.python, "-c", LIBRARY_SNIPPET, "copy", src, dst]
        if tool == "skopeo":
            return [
                self.skopeo,
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "--preserve-digests",
                f"docker://{src}",
                f"docker://{dst}",
            ]
        return [self.crane, "copy", "--insecure", src, dst]

    def retag(self, tool: str, repo: str, digest: str, tag: str) -> list[str]:
        if tool == "shipflow":
            return [self.shipflow, "tag", f"{repo}@{digest}", tag]
        if tool == "shipflow-lib":
            return [self.python, "-c", LIBRARY_SNIPPET, "tag", f"{repo}@{digest}", tag]
        if tool == "skopeo":
            return self.copy("skopeo", f"{repo}@{digest}", f"{repo}:{tag}")
        return [self.crane, "tag", "--insecure", f"{repo}@{digest}", tag]

    def version(self, tool: str) -> list[str]:
        """The cheapest command of each tool: what starting the process costs."""
        if tool == "shipflow":
            return [self.shipflow, "--version"]
        if tool == "shipflow-lib":
            return [self.python, "-c", "import shipflow.cli.main"]
        if tool == "skopeo":
            return [self.skopeo, "--version"]
        return [self.crane, "version"]

    def versions(self) -> dict[str, str]:
        def first_line(argv: list[str]) -> str:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "?"

        return {
            "shipflow": first_line([self.shipflow, "--version"]) if shutil.which(self.shipflow) else "?",
            "shipflow-lib": "(the same, in-process)",
            "skopeo": first_line([self.skopeo, "--version"]),
            "crane": first_line([self.crane, "version"]),
        }


def manifest_digest(host: str, repo: str, tag: str) -> str:
    request = urllib.request.Request(
        f"http://{host}/v2/{repo}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": OCI_MANIFEST},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Docker-Content-Digest"])


def check_copied(host: str, repo: str, tag: str, image: Image, what: str) -> None:
    got = manifest_digest(host, repo, tag)
    if got != image.digest:
        raise RuntimeError(f"{what}: {host}/{repo}:{tag} is {got}, expected {image.digest}")


def run(args: argparse.Namespace) -> str:
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    tools = Tools(
        shipflow=args.shipflow,
        skopeo=shutil.which("skopeo") or "skopeo",
        crane=args.crane,
        env={**os.environ, "SHIPFLOW_REGISTRY_READ_TIMEOUT": "120"},
    )
    log(f"generating images in {workdir} (cached)")
    images = {
        "big": generate_image(workdir, f"big-{args.big_mb}mb", args.big_mb * 1_000_000),
        "small": generate_image(workdir, "small-1mb", 1_000_000),
    }
    results = Results()
    chosen = [t for t in TOOLS if t in args.tools.split(",")]
    with running_registry(workdir) as reg_a:
        for key, image in images.items():
            subprocess.run(
                [
                    tools.skopeo,
                    "copy",
                    "--quiet",
                    "--dest-tls-verify=false",
                    "--preserve-digests",
                    f"oci:{image.layout}:latest",
                    f"docker://{reg_a.host}/bench/{key}-src:latest",
                ],
                check=True,
            )
            check_copied(reg_a.host, f"bench/{key}-src", "latest", image, "push")
        log(f"pushed: {', '.join(f'{k} {i.size / 1e6:.1f} MB {i.digest}' for k, i in images.items())}")

        for run_no in range(args.runs):
            for tool in _rotated(chosen, run_no):
                results.add("process start (version)", tool, timed(tools.version(tool), tools.env))
                for key, image in images.items():
                    _cross_repo(results, tools, tool, reg_a, key, image, run_no)
                    _retag(results, tools, tool, reg_a, key, image, run_no)
            for tool in _rotated(chosen, run_no):
                for key, image in images.items():
                    if key == "small" or run_no < args.copy_runs:
                        _cross_registry(results, tools, tool, reg_a, workdir, key, image, run_no)
            log(f"round {run_no + 1}/{args.runs} done")

    return report(results, images, tools, args, chosen)


def _rotated(items: Sequence[str], shift: int) -> list[str]:
    """Vary which tool goes first each round, so cache warm-up favours no one."""
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


def _cross_repo(
    results: Results, tools: Tools, tool: str, reg: Registry, key: str, image: Image, run_no: int
) -> None:
    dst_repo = f"bench/{key}-xrepo-{tool}-{run_no}"
    offset = reg.log_offset()
    sample = tools.run(
        tool, tools.copy(tool, f"{reg.host}/bench/{key}-src:latest", f"{reg.host}/{dst_repo}:latest")
    )
    time.sleep(0.2)  # let the registry flush its access log
    sample.bytes_moved, sample.uploads, sample.mounts = blob_bytes_moved(
        reg.access_lines(offset), image.blob_sizes
    )
    check_copied(reg.host, dst_repo, "latest", image, f"{tool} cross-repo")
    results.add(f"cross-repo {key}", tool, sample)


def _cross_registry(
    results: Results,
    tools: Tools,
    tool: str,
    reg_a: Registry,
    workdir: Path,
    key: str,
    image: Image,
    run_no: int,
) -> None:
    with running_registry(workdir) as reg_b:
        dst = f"{reg_b.host}/bench/{key}-xreg-{tool}-{run_no}:latest"
        sample = tools.run(tool, tools.copy(tool, f"{reg_a.host}/bench/{key}-src:latest", dst))
        check_copied(
            reg_b.host, f"bench/{key}-xreg-{tool}-{run_no}", "latest", image, f"{tool} cross-registry"
        )
    results.add(f"cross-registry {key}", tool, sample)


def _retag(
    results: Results, tools: Tools, tool: str, reg: Registry, key: str, image: Image, run_no: int
) -> None:
    repo = f"{reg.host}/bench/{key}-src"
    tag = f"retag-{tool}-{run_no}"
    sample = tools.run(tool, tools.retag(tool, repo, image.digest, tag))
    check_copied(reg.host, f"bench/{key}-src", tag, image, f"{tool} retag")
    results.add(f"retag {key}", tool, sample)


# --- report -------------------------------------------------------------------------------


def report(
    results: Results, images: dict[str, Image], tools: Tools, args: argparse.Namespace, chosen: Sequence[str]
) -> str:
    versions = tools.versions()
    lines = [
        f"Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; machine: {platform.node()}, "
        f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}",
        "Tools: " + "; ".join(f"{t} {versions[t]}" for t in chosen),
        f"Images: big {images['big'].size / 1e6:.1f} MB, small {images['small'].size / 1e6:.2f} MB; "
        f"5 gzip (level 1) layers of random bytes each. Runs: {args.runs} "
        f"(big cross-registry: {min(args.copy_runs, args.runs)}). Times are medians in seconds.",
        "`shipflow` is the CLI as users run it; `lib` is the same operation through the library in an "
        "already started interpreter (no start-up, no imports). Ratios below 1.0: shipflow is faster.",
        "",
        "| case | shipflow s | lib s | skopeo s | crane s "
        "| shipflow/skopeo | shipflow/crane | lib/skopeo | lib/crane |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    cases = [
        "cross-repo big",
        "cross-repo small",
        "cross-registry big",
        "cross-registry small",
        "retag big",
        "retag small",
        "process start (version)",
    ]
    for case in cases:
        ship, lib, sko, cra = (results.median(case, t) for t in TOOLS)
        lines.append(
            f"| {case} | {_num(ship)} | {_num(lib)} | {_num(sko)} | {_num(cra)} "
            f"| {_ratio(ship, sko)} | {_ratio(ship, cra)} | {_ratio(lib, sko)} | {_ratio(lib, cra)} |"
        )
    lines += [
        "",
        "(process start: `shipflow --version`, `skopeo --version`, `crane version`; for lib the "
        "interpreter plus `import shipflow.cli.main`.)",
        "",
        "| cross-repo copy: blob bytes moved (access log, max of runs) | shipflow | lib | skopeo | crane |",
        "|---|---:|---:|---:|---:|",
    ]
    for key in ("big", "small"):
        cells = []
        for tool in TOOLS:
            samples = results.samples.get((f"cross-repo {key}", tool), [])
            moved = results.moved(f"cross-repo {key}", tool)
            mounts = max((s.mounts or 0 for s in samples), default=0)
            cells.append(f"{moved:,} B ({mounts} mounts)" if moved is not None else "n/a")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| retag time, big / small (target for shipflow: within 20 %) | shipflow | lib | skopeo | crane |",
        "|---|---:|---:|---:|---:|",
        "| ratio of medians | "
        + " | ".join(_ratio(results.median("retag big", t), results.median("retag small", t)) for t in TOOLS)
        + " |",
        "",
        "| peak memory (max RSS, MiB) of the big cross-registry copy | shipflow | lib | skopeo | crane |",
        "|---|---:|---:|---:|---:|",
        "| max over runs (target for shipflow: < 150 MiB) | "
        + " | ".join(_num(results.peak_rss_mib("cross-registry big", t), ".0f") for t in TOOLS)
        + " |",
    ]
    return "\n".join(lines)


def _num(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if a is None or b is None else f"{a / b:.2f}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds of every case (default 5)")
    parser.add_argument(
        "--copy-runs", type=int, default=3, help="rounds of the big cross-registry copy (default 3)"
    )
    parser.add_argument("--big-mb", type=int, default=300, help="size of the big image in MB (default 300)")
    parser.add_argument(
        "--workdir",
        default=os.environ.get("BENCH_WORKDIR", "/tmp/shipflow-bench"),
        help="images + registries",
    )
    parser.add_argument(
        "--shipflow", default=os.environ.get("SHIPFLOW", str(REPO_ROOT / ".venv" / "bin" / "shipflow"))
    )
    peers = os.environ.get("SHIPFLOW_PEERS_BIN", "/opt/shipflow-peers/bin")
    parser.add_argument("--crane", default=os.environ.get("CRANE", f"{peers}/crane"))
    parser.add_argument(
        "--tools",
        default=",".join(TOOLS),
        help="comma list of tools to run (default: shipflow,shipflow-lib,skopeo,crane)",
    )
    parser.add_argument("--output", help="also write the Markdown report to this file")
    args = parser.parse_args(argv)
    needed = {
        "shipflow": args.shipflow,
        "shipflow-lib": args.shipflow,
        "crane": args.crane,
        "skopeo": "skopeo",
    }
    for binary in [needed[t] for t in TOOLS if t in args.tools.split(",")] + ["skopeo", "docker-registry"]:
        if shutil.which(binary) is None:
            parser.error(f"{binary} is not installed (see benchmarks/README.md)")
    table = run(args)
    print(table)
    if args.output:
        Path(args.output).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
