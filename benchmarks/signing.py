#!/usr/bin/env python3
"""Signing benchmark: shipflow's sign/verify throughput, registry requests per verify, and
the CLI against the real cosign on the same local registry.

Not a test: a standalone script that prints a Markdown table (and writes it with ``--output``).

What it measures, in one run:

1. Library throughput (signatures/s), ``--images`` images, on an OCI layout and on a local
   docker-registry: ``sign(store, digest, key)`` and ``verify(store, digest, policy)`` per image
   (each verify checks one ECDSA P-256 signature and fetches its payload).
2. Registry requests made by ONE ``verify`` when the digest is given (target <= 3): counted by an
   httpx transport wrapper inside shipflow AND, independently, from the registry's access log.
   The same count for ``cosign verify`` (from the access log) for comparison.
3. CLI wall time (median of ``--runs``): ``shipflow sign``/``verify`` against ``cosign sign
   --tlog-upload=false``/``cosign verify --insecure-ignore-tlog``, by digest. These include
   interpreter/binary start-up and the scrypt key decryption (N=65536, ~0.1-0.3 s).

Usage::

    .venv/bin/python benchmarks/signing.py [--images 50] [--runs 5] [--output FILE]

Needs: docker-registry, the ``shipflow`` CLI of this checkout (``.venv/bin/shipflow``), and
cosign (``$COSIGN`` or /opt/shipflow-peers/bin/cosign) for part 3 (skipped with a note if absent).
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
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.procs import free_port, port_open, stop, wait_until  # noqa: E402
from shipflow.oci.layout import LayoutStore  # noqa: E402
from shipflow.oci.registry.client import RegistryClient  # noqa: E402
from shipflow.oci.registry.config import RegistryConfig  # noqa: E402
from shipflow.oci.registry.store import RegistryStore  # noqa: E402
from shipflow.oci.store import Store  # noqa: E402
from shipflow.signing import (  # noqa: E402
    encrypt_private_key,
    generate_private_key,
    sign,
    trusted_keys,
    verify,
)
from support.signing import make_image  # noqa: E402

PASSWORD = "bench-password"


class CountingTransport(httpx.BaseTransport):
    """Counts every HTTP request shipflow sends (method + path)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def start_registry(work: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(work / "data")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "bench"},
    }
    (work / "config.yml").write_text(yaml.safe_dump(config))
    log = work / "registry.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(["docker-registry", "serve", str(work / "config.yml")], stdout=fh, stderr=fh)
    wait_until(lambda: port_open(port), what="docker-registry")
    return proc, port, log


def access_log_requests(log: Path, start: int) -> list[str]:
    """Request lines ("GET /v2/...") the registry logged after byte offset ``start``."""
    lines = log.read_bytes()[start:].decode(errors="replace").splitlines()
    found = []
    for line in lines:
        if '"GET /v2/' in line or '"HEAD /v2/' in line or '"PUT /v2/' in line or '"POST /v2/' in line:
            found.append(line.split('"')[1])
    return found


def throughput(store: Store, images: int, label: str) -> dict[str, object]:
    key = generate_private_key()
    digests = [make_image(store, f"{label} image {i}") for i in range(images)]
    policy = trusted_keys([key.verifier])
    started = time.perf_counter()
    for digest in digests:
        sign(store, digest, key, reference="bench/app")
    sign_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for digest in digests:
        assert len(verify(store, digest, policy)) == 1
    verify_seconds = time.perf_counter() - started
    return {
        "store": label,
        "images": images,
        "sign_per_s": images / sign_seconds,
        "verify_per_s": images / verify_seconds,
    }


def crypto_only(rounds: int) -> dict[str, float]:
    key = generate_private_key()
    payload = (
        b'{"critical":{"identity":{"docker-reference":"x"},"image":{"docker-manifest-digest":"sha256:00"}}}'
    )
    started = time.perf_counter()
    sigs = [key.sign(payload) for _ in range(rounds)]
    sign_s = time.perf_counter() - started
    started = time.perf_counter()
    for sig in sigs:
        assert key.verifier.verify(sig, payload)
    verify_s = time.perf_counter() - started
    return {"sign_per_s": rounds / sign_s, "verify_per_s": rounds / verify_s}


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed: {result.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="shipflow-sign-bench-"))
    proc, port, log = start_registry(work)
    host = f"127.0.0.1:{port}"
    lines = [
        f"# Signing benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()})",
        "",
    ]
    try:
        # 1. throughput
        layout = throughput(LayoutStore(work / "layout", create=True), args.images, "OCI layout")
        registry_store = RegistryStore(RegistryClient(host, RegistryConfig()), "bench/throughput")
        remote = throughput(registry_store, args.images, "registry")
        crypto = crypto_only(1000)
        lines += [
            "## Library throughput (one ECDSA P-256 signature per image)",
            "",
            "| store | images | sign (signatures/s) | verify (signatures/s) |",
            "|---|---:|---:|---:|",
        ]
        for row in (layout, remote):
            lines.append(
                f"| {row['store']} | {row['images']} | {row['sign_per_s']:.1f} | {row['verify_per_s']:.1f} |"
            )
        lines.append(
            f"| (crypto only, no store) | 1000 | {crypto['sign_per_s']:.0f} | {crypto['verify_per_s']:.0f} |"
        )

        # 2. requests per verify, digest given
        counting = CountingTransport()
        client = RegistryClient(host, RegistryConfig(), transport=counting)
        store = RegistryStore(client, "bench/requests")
        key = generate_private_key()
        digest = make_image(store, "request count")
        sign(store, digest, key, reference=f"{host}/bench/requests")
        fresh_counting = CountingTransport()  # a fresh client: no cached connection or token state
        fresh = RegistryStore(
            RegistryClient(host, RegistryConfig(), transport=fresh_counting), "bench/requests"
        )
        offset = log.stat().st_size
        verify(fresh, digest, trusted_keys([key.verifier]))
        time.sleep(0.3)  # let the registry flush its access log
        logged = access_log_requests(log, offset)
        lines += [
            "",
            "## Registry requests for one verify (digest given, one signature)",
            "",
            "| tool | requests (client count) | requests (registry access log) | requests |",
            "|---|---:|---:|---|",
            f"| shipflow verify | {len(fresh_counting.requests)} | {len(logged)} | "
            f"{'; '.join(fresh_counting.requests)} |",
        ]

        # 3. CLI against cosign
        cosign = os.environ.get("COSIGN") or shutil.which("cosign") or "/opt/shipflow-peers/bin/cosign"
        shipflow = str(ROOT / ".venv" / "bin" / "shipflow")
        keyfile = work / "bench.key"
        keyfile.write_bytes(encrypt_private_key(key, PASSWORD.encode()))
        (work / "bench.pub").write_bytes(key.verifier.pem)
        env = {**os.environ, "COSIGN_PASSWORD": PASSWORD, "COSIGN_YES": "true", "HOME": str(work)}
        if Path(cosign).exists():
            cli_store = RegistryStore(RegistryClient(host, RegistryConfig()), "bench/cli")
            rows: dict[str, list[float]] = {k: [] for k in ("sf-sign", "co-sign", "sf-verify", "co-verify")}
            cosign_verify_requests = 0
            for run in range(args.runs):
                ref = f"{host}/bench/cli@{make_image(cli_store, f'cli run {run}')}"
                rows["sf-sign"].append(timed([shipflow, "sign", ref, "--key", str(keyfile)], env))
                rows["co-sign"].append(
                    timed([cosign, "sign", "--key", str(keyfile), "--tlog-upload=false", ref], env)
                )
                rows["sf-verify"].append(
                    timed([shipflow, "verify", ref, "--key", str(work / "bench.pub")], env)
                )
                offset = log.stat().st_size
                rows["co-verify"].append(
                    timed(
                        [
                            cosign,
                            "verify",
                            "--key",
                            str(work / "bench.pub"),
                            "--insecure-ignore-tlog=true",
                            ref,
                        ],
                        env,
                    )
                )
                time.sleep(0.3)
                cosign_verify_requests = len(access_log_requests(log, offset))
            lines.insert(
                lines.index("## Registry requests for one verify (digest given, one signature)") + 5,
                f"| cosign verify (2 signatures: cosign's + shipflow's) | - | {cosign_verify_requests} | |",
            )
            med = {k: statistics.median(v) for k, v in rows.items()}
            lines += [
                "",
                f"## CLI wall time, median of {args.runs} (by digest; includes start-up and scrypt)",
                "",
                "| operation | shipflow (s) | cosign (s) | shipflow/cosign |",
                "|---|---:|---:|---:|",
                f"| sign | {med['sf-sign']:.2f} | {med['co-sign']:.2f} | "
                f"{med['sf-sign'] / med['co-sign']:.2f} |",
                f"| verify | {med['sf-verify']:.2f} | {med['co-verify']:.2f} | "
                f"{med['sf-verify'] / med['co-verify']:.2f} |",
            ]
        else:
            lines += ["", f"(cosign not found at {cosign}: CLI comparison skipped)"]
    finally:
        stop(proc)
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
