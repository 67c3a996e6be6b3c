"""SBOM throughput: `shipflow`'s layer reader + catalogers + SPDX writer against `tar -xzf`.

Generates an OCI image layout of several tar+gzip layers (>= 300 MB of layer blobs, thousands
of files: binaries-like random data, text, npm packages, Python dist-infos, a dpkg status and a
whiteout layer), then, in the same run, times

* ``catalog_image`` (digest-verified streaming of every layer, whiteouts, catalogers) plus
  rendering SPDX 2.3 JSON, and
* ``tar -xzf`` of the same layer blobs, one after another, into a scratch directory,

and prints both and the ratio (target: SBOM within 1.5x of tar).

Run: ``.venv/bin/python benchmarks/sbom.py [--size-mb 320] [--rounds 3] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from shipflow.oci.layout import LayoutStore
from shipflow.sbom import SbomFormat, catalog_image, render

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
WORDS = [
    "lorem",
    "ipsum",
    "package",
    "version",
    "license",
    "module",
    "export",
    "function",
    "return",
    "const",
    "import",
    "class",
    "static",
    "public",
]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def _text(rng: random.Random, size: int) -> bytes:
    words = rng.choices(WORDS, k=size // 6 + 1)
    return " ".join(words).encode()[:size]


def _layer(build: callable, level: int) -> bytes:  # type: ignore[valid-type]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        build(tar)
    return gzip.compress(raw.getvalue(), compresslevel=level, mtime=0)


def generate_layers(target_bytes: int, seed: int = 1) -> tuple[list[bytes], int]:
    """Layer blobs (tar+gzip) whose compressed total is at least ``target_bytes``."""
    rng = random.Random(seed)
    files = 0
    layers: list[bytes] = []

    def base(tar: tarfile.TarFile) -> None:
        nonlocal files
        status = Path("/var/lib/dpkg/status")
        if status.is_file():
            _add(tar, "var/lib/dpkg/status", status.read_bytes())
            files += 1
        _add(tar, "etc/os-release", b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n')
        for number in range(2000):
            name = f"pkg-{number}"
            doc = {"name": name, "version": f"1.{number % 50}.{number % 7}", "license": "MIT"}
            _add(tar, f"app/node_modules/{name}/package.json", json.dumps(doc).encode())
            _add(tar, f"app/node_modules/{name}/index.js", _text(rng, rng.randint(500, 20000)))
            files += 2
        for number in range(400):
            meta = f"Metadata-Version: 2.1\nName: dist{number}\nVersion: 0.{number}\nLicense: BSD-3-Clause\n"
            _add(
                tar,
                f"usr/lib/python3/site-packages/dist{number}-0.{number}.dist-info/METADATA",
                meta.encode(),
            )
            _add(tar, f"usr/lib/python3/site-packages/dist{number}/__init__.py", _text(rng, 4000))
            files += 2

    layers.append(_layer(base, 6))
    total = len(layers[0])
    number = 0
    while total < target_bytes:
        number += 1

        def bulk(tar: tarfile.TarFile, number: int = number) -> None:
            nonlocal files
            # Mostly incompressible "binaries" (like shared libraries), some text.
            written = 0
            index = 0
            while written < 96 * 1024**2:
                size = rng.choice([4096, 65536, 262144, 1048576, 4194304])
                data = rng.randbytes(size) if index % 4 else _text(rng, size)
                _add(tar, f"opt/bulk{number}/dir{index % 40}/file{index}.bin", data)
                written += size
                index += 1
                files += 1
            if number == 2:  # deletes in a later layer: whiteouts
                _add(tar, "app/node_modules/.wh.pkg-7", b"")
                _add(tar, "opt/bulk1/.wh.dir3", b"")

        blob = _layer(bulk, 6)
        layers.append(blob)
        total += len(blob)
    return layers, files


def write_layout(path: Path, layers: list[bytes]) -> str:
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}}).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": put(config),
                "size": len(config),
            },
            "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": put(b), "size": len(b)} for b in layers],
        }
    ).encode()
    digest = put(manifest)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "bench"},
            }
        ],
    }
    (path / "index.json").write_text(json.dumps(index))
    return digest


def time_sbom(layout: Path, digest: str) -> tuple[float, int]:
    start = time.perf_counter()
    inventory = catalog_image(LayoutStore(layout), digest)
    document = render(inventory, SbomFormat.SPDX_JSON)
    elapsed = time.perf_counter() - start
    assert document
    return elapsed, len(inventory.packages)


def time_tar(layout: Path, layer_digests: list[str], scratch: Path) -> float:
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    start = time.perf_counter()
    for digest in layer_digests:
        blob = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
        subprocess.run(["tar", "-xzf", str(blob), "-C", str(scratch)], check=True)
    elapsed = time.perf_counter() - start
    shutil.rmtree(scratch)
    return elapsed


def time_tar_list(layout: Path, layer_digests: list[str]) -> float:
    """``tar -tzf``: decompress and walk the archives without writing files (a stricter floor)."""
    start = time.perf_counter()
    for digest in layer_digests:
        blob = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
        subprocess.run(["tar", "-tzf", str(blob)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=320, help="compressed layer bytes to generate (MiB)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate into (and keep) this directory")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="shipflow-sbom-bench-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        layout = work / "layout"
        t0 = time.perf_counter()
        if (layout / "index.json").is_file():  # --keep DIR from an earlier run: reuse it
            digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
            manifest = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes())
            layer_digests = [layer["digest"] for layer in manifest["layers"]]
            compressed = sum(layer["size"] for layer in manifest["layers"])
            files = -1
        else:
            layers, files = generate_layers(args.size_mb * 1024**2)
            digest = write_layout(layout, layers)
            compressed = sum(len(b) for b in layers)
            layer_digests = [f"sha256:{hashlib.sha256(b).hexdigest()}" for b in layers]
            del layers
        print(
            f"image: {len(layer_digests)} tar+gzip layers, {compressed / 1024**2:.0f} MiB compressed, "
            f"{files if files >= 0 else 'reused:'} files (prepared in {time.perf_counter() - t0:.1f} s)"
        )
        sbom_times: list[float] = []
        tar_times: list[float] = []
        list_times: list[float] = []
        packages = 0
        for _ in range(args.rounds):
            tar_times.append(time_tar(layout, layer_digests, work / "extract"))
            list_times.append(time_tar_list(layout, layer_digests))
            elapsed, packages = time_sbom(layout, digest)
            sbom_times.append(elapsed)
        sbom, tar = statistics.median(sbom_times), statistics.median(tar_times)
        print(f"packages cataloged: {packages}")
        tar_runs = ", ".join(f"{t:.2f}" for t in tar_times)
        sbom_runs = ", ".join(f"{t:.2f}" for t in sbom_times)
        print(f"tar -xzf (all layers):          median {tar:.2f} s  runs {tar_runs}")
        print(f"shipflow sbom (SPDX, verified): median {sbom:.2f} s  runs {sbom_runs}")
        listing = statistics.median(list_times)
        print(f"tar -tzf (no files written):    median {listing:.2f} s")
        print(f"ratio sbom / tar -xzf: {sbom / tar:.2f}x (target <= 1.5x)")
        print(f"ratio sbom / tar -tzf: {sbom / listing:.2f}x")
        print(f"throughput: {compressed / 1024**2 / sbom:.0f} MiB/s of compressed layers")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
