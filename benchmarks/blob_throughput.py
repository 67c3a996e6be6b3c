#!/usr/bin/env python3
"""Blob throughput: how fast shipflow moves bytes, against curl (a floor), crane and skopeo.

Not a test: a standalone profiling script. It starts its own docker-registry on a free
127.0.0.1 port (always stopped at the end), generates (once, cached in ``--workdir``) a random
blob of ``--mb`` MB and an image of the same total size in 5 gzip'd layers, and measures, as the
median of ``--runs`` runs:

* blob pull: ``RegistryStore.open_blob`` (verified stream, discarded) vs ``curl -o /dev/null``
  and ``crane blob`` (to /dev/null);
* blob push: ``RegistryStore.put_blob`` from the file vs curl (``POST`` + one streamed ``PUT``);
* layout: ``LayoutStore.put_blob`` from the file (hashed, fsynced, renamed) and
  ``LayoutStore.open_blob`` (verified read) vs ``cp`` and ``cat > /dev/null``;
* image push (layout → registry) and pull (registry → layout) with ``shipflow.oci.copy.copy``
  vs ``skopeo copy`` and ``crane push`` / ``crane pull --format oci``.

Every shipflow operation runs in a fresh interpreter (``--worker``) that times itself after
its imports (creating the HTTP client and the first request are included) and reports its
peak memory (max RSS); peers are timed as whole processes (their start-up is included, a few
ms for Go binaries). Ratios are time ratios shipflow/peer: ≤ 1.0 means shipflow is as fast.

``--baseline-src DIR`` adds a tool "baseline": every shipflow case again with shipflow imported
from another source tree (an older checkout's ``src``), interleaved with the rest, for a fair
before/after comparison on a noisy machine.

``--profile OP`` runs one shipflow operation under cProfile (or pyinstrument, if installed,
with ``--pyinstrument``) and prints where the time goes instead of the table.

Usage::

    .venv/bin/python benchmarks/blob_throughput.py [--mb 300] [--runs 3] [--only pull,push]
    .venv/bin/python benchmarks/blob_throughput.py --profile blob-pull
    .venv/bin/python benchmarks/blob_throughput.py --baseline-src /path/to/old/checkout/src

Needs docker-registry, curl, skopeo and crane (``$CRANE`` or /opt/shipflow-peers/bin/crane).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib
import io
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
LAYERS = 5
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
SRC_REPO = "bench/src"
TAG = "bench"


# --- generated inputs ------------------------------------------------------------------------


@dataclass
class Inputs:
    blob: Path
    blob_digest: str
    blob_size: int
    image: Path  # an OCI layout holding the image under TAG
    image_size: int


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(4 * MIB):
            sha.update(chunk)
    return sha.hexdigest()


def _random_file(path: Path, size: int) -> None:
    with path.open("wb") as out:
        left = size
        while left:
            n = min(left, 4 * MIB)
            out.write(os.urandom(n))
            left -= n


class _HashingWriter(io.RawIOBase):
    """Hashes what tarfile writes (the diff_id) and passes it on to the gzip stream."""

    def __init__(self, target: gzip.GzipFile) -> None:
        self.target = target
        self.sha = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.sha.update(data)
        self.target.write(data)
        return len(data)


def _blob_into(layout: Path, path: Path) -> tuple[str, int]:
    hexdigest = _sha256_file(path)
    target = layout / "blobs" / "sha256" / hexdigest
    size = path.stat().st_size
    path.replace(target)
    return f"sha256:{hexdigest}", size


def _bytes_into(layout: Path, data: bytes) -> tuple[str, int]:
    path = layout / "tmp.bin"
    path.write_bytes(data)
    return _blob_into(layout, path)


def _generate_image(layout: Path, total: int) -> int:
    """An OCI layout with one image of LAYERS gzip'd tars of random bytes (gzip level 0:
    random data does not compress, and level 0 keeps generation quick)."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    layers = []
    for i in range(LAYERS):
        content = layout / f"content{i}.bin"
        _random_file(content, total // LAYERS - 2048)  # tar headers and padding
        gz_path = layout / f"layer{i}.tar.gz"
        with gz_path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=0, mtime=0) as gz:
            writer = _HashingWriter(gz)
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                info = tar.gettarinfo(str(content), arcname=f"data/layer{i}.bin")
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with content.open("rb") as fh:
                    tar.addfile(info, fh)
        content.unlink()
        digest, size = _blob_into(layout, gz_path)
        layers.append((digest, size, f"sha256:{writer.sha.hexdigest()}"))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [d for _, _, d in layers]},
    }
    config_digest, config_size = _bytes_into(layout, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": d, "size": s} for d, s, _ in layers],
    }
    manifest_digest, manifest_size = _bytes_into(layout, json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": TAG},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return config_size + sum(s for _, s, _ in layers)


def prepare_inputs(workdir: Path, mb: int) -> Inputs:
    """Generate the blob and the image once; later runs reuse them (keyed by size)."""
    base = workdir / f"inputs-{mb}mb"
    marker = base / "inputs.json"
    if marker.exists():
        saved = json.loads(marker.read_text())
        return Inputs(
            Path(saved["blob"]),
            saved["blob_digest"],
            saved["blob_size"],
            Path(saved["image"]),
            saved["image_size"],
        )
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    print(f"generating a {mb} MB blob and a {mb} MB image in {base} ...", file=sys.stderr)
    blob = base / "blob.bin"
    _random_file(blob, mb * 1000 * 1000)
    image = base / "image"
    image_size = _generate_image(image, mb * 1000 * 1000)
    inputs = Inputs(blob, f"sha256:{_sha256_file(blob)}", blob.stat().st_size, image, image_size)
    marker.write_text(json.dumps({**inputs.__dict__, "blob": str(blob), "image": str(image)}))
    return inputs


# --- the registry ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Registry:
    """docker-registry on a free loopback port, storage under ``root``; stopped by close()."""

    def __init__(self, root: Path) -> None:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise SystemExit("docker-registry is not installed (apt-get install docker-registry)")
        self.port = _free_port()
        root.mkdir(parents=True, exist_ok=True)
        config = root / "config.yml"
        # JSON is YAML: no yaml dependency needed here.
        config.write_text(
            json.dumps(
                {
                    "version": 0.1,
                    "log": {"level": "error", "accesslog": {"disabled": True}},
                    "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
                    "http": {"addr": f"127.0.0.1:{self.port}", "secret": "blob-bench"},
                }
            )
        )
        self._log = (root / "registry.log").open("wb")
        self.process = subprocess.Popen([binary, "serve", str(config)], stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"docker-registry exited early; see {root / 'registry.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/v2/", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        self.close()
        raise SystemExit("docker-registry did not come up within 20 s")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


# --- timing --------------------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    max_rss_mb: float


def run_timed(cmd: list[str], *, stdout: int | None = subprocess.DEVNULL) -> Sample:
    """Run a process to completion: wall time and its peak RSS (from wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr[-2000:]}")
    return Sample(elapsed, usage.ru_maxrss / 1024)


# Environment of the worker processes; the "baseline" tool puts another source tree first.
_worker_env: dict[str, str] | None = None


def run_worker(op: str, *args: str) -> Sample:
    """A shipflow operation in a fresh interpreter; it prints its own time and peak RSS."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", op, *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=_worker_env)
    if out.returncode != 0:
        raise SystemExit(f"worker {op} failed:\n{out.stderr[-3000:]}")
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    return Sample(doc["seconds"], doc["max_rss_mb"])


# --- shipflow operations (run inside the worker) -------------------------------------------------


def _file_chunks(path: Path, size: int = MIB) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def _worker_ops() -> dict[str, Callable[..., None]]:
    from shipflow.oci.copy import copy
    from shipflow.oci.digest import Digest
    from shipflow.oci.layout import LayoutStore
    from shipflow.oci.registry.client import RegistryClient
    from shipflow.oci.registry.config import RegistryConfig
    from shipflow.oci.registry.store import RegistryStore

    def registry_store(host: str, repo: str) -> RegistryStore:
        return RegistryStore(RegistryClient(host, RegistryConfig()), repo)

    def blob_pull(host: str, repo: str, digest: str) -> None:
        with registry_store(host, repo).open_blob(Digest.parse(digest)) as chunks:
            for _ in chunks:
                pass

    def blob_push(host: str, repo: str, digest: str, path: str) -> None:
        file = Path(path)
        registry_store(host, repo).put_blob(Digest.parse(digest), file.stat().st_size, _file_chunks(file))

    def layout_write(layout: str, digest: str, path: str) -> None:
        file = Path(path)
        LayoutStore(Path(layout), create=True).put_blob(
            Digest.parse(digest), file.stat().st_size, _file_chunks(file)
        )

    def layout_read(layout: str, digest: str) -> None:
        with LayoutStore(Path(layout)).open_blob(Digest.parse(digest)) as chunks:
            for _ in chunks:
                pass

    def image_push(layout: str, host: str, repo: str) -> None:
        copy(LayoutStore(Path(layout)), TAG, registry_store(host, repo), TAG)

    def image_pull(host: str, repo: str, layout: str) -> None:
        copy(registry_store(host, repo), TAG, LayoutStore(Path(layout), create=True), TAG)

    return {
        "blob-pull": blob_pull,
        "blob-push": blob_push,
        "layout-write": layout_write,
        "layout-read": layout_read,
        "image-push": image_push,
        "image-pull": image_pull,
    }


def worker_main(op: str, args: list[str]) -> None:
    ops = _worker_ops()  # imports happen here, before the clock starts
    started = time.perf_counter()
    ops[op](*args)
    elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "max_rss_mb": rss}))


# --- the comparison -----------------------------------------------------------------------------


@dataclass
class Case:
    group: str
    tool: str
    run: Callable[[int], Sample]
    size: int


def _crane() -> str:
    crane = os.environ.get("CRANE", "/opt/shipflow-peers/bin/crane")
    if not Path(crane).exists():
        crane = shutil.which("crane") or crane
    return crane


def _curl_push(registry: Registry, repo: str, inputs: Inputs) -> Sample:
    started = time.perf_counter()
    request = urllib.request.Request(f"{registry.url}/v2/{repo}/blobs/uploads/", method="POST", data=b"")
    with urllib.request.urlopen(request) as response:
        location = response.headers["Location"]
    if location.startswith("/"):
        location = registry.url + location
    sep = "&" if "?" in location else "?"
    cmd = [
        "curl", "-sS", "-f", "-o", "/dev/null", "-T", str(inputs.blob),
        "-H", "Content-Type: application/octet-stream", "-H", "Expect:",
        f"{location}{sep}digest={inputs.blob_digest}",
    ]  # fmt: skip
    sample = run_timed(cmd)
    return Sample(time.perf_counter() - started, sample.max_rss_mb)


class PushTargets:
    """One fresh registry per run for image pushes, shared by the tools within the run.

    Fresh because skopeo remembers where it has seen a blob (its blob info cache) and would
    mount it from the seeded source repository instead of uploading; a registry on a new port
    is unknown to it.
    """

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.registries: dict[int, Registry] = {}

    def host(self, n: int) -> str:
        if n not in self.registries:
            self.registries[n] = Registry(self.scratch / f"push-registry-{n}")
        return self.registries[n].host

    def close(self) -> None:
        for registry in self.registries.values():
            registry.close()


def build_cases(
    registry: Registry, targets: PushTargets, inputs: Inputs, scratch: Path, groups: set[str]
) -> list[Case]:
    crane, skopeo, curl = _crane(), shutil.which("skopeo") or "skopeo", shutil.which("curl") or "curl"
    host, blob_url = registry.host, f"{registry.url}/v2/{SRC_REPO}/blobs/{inputs.blob_digest}"
    size, isize = inputs.blob_size, inputs.image_size
    to = targets.host

    def fresh(name: str, n: int) -> Path:
        path = scratch / f"{name}-{n}"
        if path.exists():
            shutil.rmtree(path)
        return path

    cases = [
        Case(
            "blob pull",
            "shipflow",
            lambda n: run_worker("blob-pull", host, SRC_REPO, inputs.blob_digest),
            size,
        ),
        Case(
            "blob pull", "curl", lambda n: run_timed([curl, "-sS", "-f", "-o", "/dev/null", blob_url]), size
        ),
        Case(
            "blob pull",
            "crane",
            lambda n: run_timed([crane, "blob", "--insecure", f"{host}/{SRC_REPO}@{inputs.blob_digest}"]),
            size,
        ),
        Case(
            "blob push",
            "shipflow",
            lambda n: run_worker(
                "blob-push", host, f"bench/sf-blob-{n}", inputs.blob_digest, str(inputs.blob)
            ),
            size,
        ),
        Case("blob push", "curl", lambda n: _curl_push(registry, f"bench/curl-blob-{n}", inputs), size),
        Case(
            "layout write",
            "shipflow",
            lambda n: run_worker(
                "layout-write", str(fresh("sf-layout", n)), inputs.blob_digest, str(inputs.blob)
            ),
            size,
        ),
        Case(
            "layout write",
            "cp",
            lambda n: run_timed(["cp", str(inputs.blob), str(scratch / f"cp-{n}.bin")]),
            size,
        ),
        Case(
            "layout read",
            "shipflow",
            lambda n: run_worker("layout-read", str(scratch / "read-layout"), inputs.blob_digest),
            size,
        ),
        Case("layout read", "cat", lambda n: run_timed(["cat", str(inputs.blob)]), size),
        Case(
            "image push",
            "shipflow",
            lambda n: run_worker("image-push", str(inputs.image), to(n), "bench/sf-img"),
            isize,
        ),
        Case(
            "image push",
            "skopeo",
            lambda n: run_timed(
                [
                    skopeo,
                    "copy",
                    "-q",
                    "--dest-tls-verify=false",
                    f"oci:{inputs.image}:{TAG}",
                    f"docker://{to(n)}/bench/sk-img:{TAG}",
                ]
            ),
            isize,
        ),
        Case(
            "image push",
            "crane",
            lambda n: run_timed(
                [crane, "push", "--insecure", str(inputs.image), f"{to(n)}/bench/cr-img:{TAG}"]
            ),
            isize,
        ),
        Case(
            "image pull",
            "shipflow",
            lambda n: run_worker("image-pull", host, SRC_REPO, str(fresh("sf-pull", n))),
            isize,
        ),
        Case(
            "image pull",
            "skopeo",
            lambda n: run_timed(
                [
                    skopeo,
                    "copy",
                    "-q",
                    "--src-tls-verify=false",
                    f"docker://{host}/{SRC_REPO}:{TAG}",
                    f"oci:{fresh('sk-pull', n)}:{TAG}",
                ]
            ),
            isize,
        ),
        Case(
            "image pull",
            "crane",
            lambda n: run_timed(
                [
                    crane,
                    "pull",
                    "--insecure",
                    "--format",
                    "oci",
                    f"{host}/{SRC_REPO}:{TAG}",
                    str(fresh("cr-pull", n)),
                ]
            ),
            isize,
        ),
    ]
    return [c for c in cases if c.group.split()[0] in groups or c.group in groups]


def with_baseline(cases: list[Case], baseline_src: Path) -> list[Case]:
    """Add a "baseline" tool: each shipflow case again, importing shipflow from
    ``baseline_src`` (e.g. an older checkout's ``src``), with its own repositories and
    directories (run numbers offset by 1000) so it never finds the other's blobs."""

    def baseline(case: Case) -> Callable[[int], Sample]:
        def run(n: int) -> Sample:
            global _worker_env
            path = os.pathsep.join(p for p in (str(baseline_src), os.environ.get("PYTHONPATH")) if p)
            _worker_env = {**os.environ, "PYTHONPATH": path}
            try:
                return case.run(n + 1000)
            finally:
                _worker_env = None

        return run

    result = []
    for case in cases:
        result.append(case)
        if case.tool == "shipflow":
            result.append(Case(case.group, "baseline", baseline(case), case.size))
    return result


def seed_registry(registry: Registry, inputs: Inputs, scratch: Path) -> None:
    """The pull sources: the blob and the image in SRC_REPO, and a layout holding the blob."""
    run_timed(
        [shutil.which("skopeo") or "skopeo", "copy", "-q", "--dest-tls-verify=false",
         f"oci:{inputs.image}:{TAG}", f"docker://{registry.host}/{SRC_REPO}:{TAG}"]
    )  # fmt: skip
    _curl_push(registry, SRC_REPO, inputs)
    read_layout = scratch / "read-layout"
    blobs = read_layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    shutil.copyfile(inputs.blob, blobs / inputs.blob_digest.split(":", 1)[1])
    (read_layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (read_layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": []}))


def report(results: dict[tuple[str, str], list[Sample]], cases: list[Case]) -> str:
    lines = [
        "| operation | tool | median s | MB/s | max RSS MB | shipflow/tool (time) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for case in cases:
        samples = results[(case.group, case.tool)]
        median = statistics.median(s.seconds for s in samples)
        ours = statistics.median(s.seconds for s in results[(case.group, "shipflow")])
        ratio = "" if case.tool == "shipflow" else f"{ours / median:.2f}"
        rss = max(s.max_rss_mb for s in samples)
        mbps = case.size / 1e6 / median
        lines.append(f"| {case.group} | {case.tool} | {median:.3f} | {mbps:.0f} | {rss:.0f} | {ratio} |")
    return "\n".join(lines)


def profile(op: str, registry: Registry, inputs: Inputs, scratch: Path, use_pyinstrument: bool) -> None:
    args = {
        "blob-pull": [registry.host, SRC_REPO, inputs.blob_digest],
        "blob-push": [registry.host, "bench/profile-push", inputs.blob_digest, str(inputs.blob)],
        "layout-write": [str(scratch / "profile-layout"), inputs.blob_digest, str(inputs.blob)],
        "layout-read": [str(scratch / "read-layout"), inputs.blob_digest],
        "image-push": [str(inputs.image), registry.host, "bench/profile-img"],
        "image-pull": [registry.host, SRC_REPO, str(scratch / "profile-pull")],
    }[op]
    fn = _worker_ops()[op]
    if use_pyinstrument:
        # Local use only, not a dependency: `.venv/bin/pip install pyinstrument`.
        profiler = importlib.import_module("pyinstrument").Profiler(interval=0.001)
        profiler.start()
        fn(*args)
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        return
    import cProfile
    import pstats

    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.runcall(fn, *args)
    print(f"{op}: {time.perf_counter() - started:.3f} s under cProfile")
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--mb", type=int, default=300, help="blob and image size in MB (default 300)")
    parser.add_argument("--runs", type=int, default=3, help="runs per case; the median is shown (default 3)")
    parser.add_argument(
        "--only",
        default="blob,layout,image",
        help="groups to run: blob, layout, image, or single ones like 'blob pull' (comma-separated)",
    )
    parser.add_argument(
        "--tools", default="", help="only these tools (comma-separated; shipflow always runs)"
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path(os.environ.get("BENCH_WORKDIR", "/tmp/shipflow-blob-bench"))
    )
    parser.add_argument(
        "--profile",
        choices=["blob-pull", "blob-push", "layout-write", "layout-read", "image-push", "image-pull"],
    )
    parser.add_argument(
        "--pyinstrument", action="store_true", help="profile with pyinstrument instead of cProfile"
    )
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="also run every shipflow case importing shipflow from this src/ directory (tool 'baseline')",
    )
    parser.add_argument("--worker", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker[0], args.worker[1:])
        return

    inputs = prepare_inputs(args.workdir, args.mb)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
    registry = Registry(scratch / "registry")
    targets = PushTargets(scratch)
    try:
        seed_registry(registry, inputs, scratch)
        if args.profile:
            profile(args.profile, registry, inputs, scratch, args.pyinstrument)
            return
        groups = {g.strip() for g in args.only.split(",") if g.strip()}
        tools = {t.strip() for t in args.tools.split(",") if t.strip()}
        cases = [
            c
            for c in build_cases(registry, targets, inputs, scratch, groups)
            if not tools or c.tool in tools | {"shipflow"}
        ]
        if args.baseline_src:
            cases = with_baseline(cases, args.baseline_src.resolve())
        results: dict[tuple[str, str], list[Sample]] = {}
        # Interleaved: run n of every case before run n+1, so drifting load hits all alike.
        for n in range(args.runs):
            for case in cases:
                sample = case.run(n)
                results.setdefault((case.group, case.tool), []).append(sample)
                print(f"run {n + 1}: {case.group:12} {case.tool:8} {sample.seconds:7.3f} s", file=sys.stderr)
        load = os.getloadavg()
        sizes = (
            f"blob {inputs.blob_size / 1e6:.0f} MB, image {inputs.image_size / 1e6:.0f} MB in {LAYERS} layers"
        )
        print(f"\n{sizes}; median of {args.runs}; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}\n")
        print(report(results, cases))
    finally:
        targets.close()
        registry.close()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
