#!/usr/bin/env python3
"""Promotion benchmark: what one promotion costs, and that the cost does not grow with the image.

Not a test: a standalone script that prints a Markdown table (and writes it with ``--output``).

In one run, on a local docker-registry (CNCF distribution 2.8):

1. For a 1 MB and a 300 MB image (signed), the library's whole promote (signature gate,
   retag, signed record, history entry) dev → staging, median wall time over ``--runs``
   promotions of fresh digests, and the registry requests it sends, split into "checks and
   retag" (everything up to reading the new tag back) and "record and history".
2. The same promotion through the CLI (``shipflow promote``; includes interpreter start-up and
   the scrypt decryption of the record key).
3. Beside it, the bare retag done by ``crane tag`` and by ``skopeo copy`` (docker:// to docker://
   within the repository), which check nothing and record nothing.

Targets (issue 8): 1 MB and 300 MB within 20 % of each other; at most 8 requests for the checks
and the retag; the library's whole promote under 0.25 s on loopback.

Usage::

    .venv/bin/python benchmarks/promotion.py [--runs 5] [--output FILE]
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
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.procs import free_port, port_open, stop, wait_until  # noqa: E402
from shipflow.oci import mediatypes as mt  # noqa: E402
from shipflow.oci.digest import Digest  # noqa: E402
from shipflow.oci.models import ManifestBytes  # noqa: E402
from shipflow.oci.reference import parse_reference  # noqa: E402
from shipflow.oci.registry.client import RegistryClient  # noqa: E402
from shipflow.oci.registry.config import RegistryConfig  # noqa: E402
from shipflow.oci.registry.credentials import Credentials  # noqa: E402
from shipflow.oci.registry.store import RegistryStore  # noqa: E402
from shipflow.oci.store import Store  # noqa: E402
from shipflow.release.config import load_config  # noqa: E402
from shipflow.release.promote import Pipeline, PromotionRequest, promote  # noqa: E402
from shipflow.signing import encrypt_private_key, generate_private_key, sign  # noqa: E402

PASSWORD = "bench-password"
CONFIG = """\
image: {image}
keys: {{trusted: [ci.pub]}}
roles: {{ci: ["github-actions[bot]"], developer: [dev-1]}}
environments:
  dev:     {{promoted_by: [ci]}}
  staging: {{from: dev, promoted_by: [developer], gates: [signature]}}
"""


class CountingTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.requests: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((request.method, request.url.path))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def start_registry(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(work / "data")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "bench"},
    }
    (work / "config.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(work / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: port_open(port), timeout=30, what="docker-registry")
    return proc, port


def push_image(store: Store, size: int, salt: str) -> Digest:
    """An image of one layer of ``size`` random bytes (random: nothing to deduplicate)."""
    layer = os.urandom(size)
    config = json.dumps({"architecture": "amd64", "os": "linux", "salt": salt}).encode()
    for blob in (layer, config):
        store.put_blob(Digest.of(blob), len(blob), [blob])
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": str(Digest.of(config)), "size": len(config)},
        "layers": [{"mediaType": mt.OCI_LAYER_TAR, "digest": str(Digest.of(layer)), "size": len(layer)}],
    }
    return store.put_manifest(ManifestBytes.create(json.dumps(manifest).encode(), mt.OCI_MANIFEST))


def new_variant(store: Store, base: Digest, salt: str) -> Digest:
    """A new digest sharing ``base``'s layer (only the config differs): no 300 MB upload per run."""
    manifest = json.loads(store.get_manifest(str(base)).data)
    config = json.dumps({"architecture": "amd64", "os": "linux", "salt": salt}).encode()
    store.put_blob(Digest.of(config), len(config), [config])
    manifest["config"] = {"mediaType": mt.OCI_CONFIG, "digest": str(Digest.of(config)), "size": len(config)}
    return store.put_manifest(ManifestBytes.create(json.dumps(manifest).encode(), mt.OCI_MANIFEST))


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    shipflow_cli = ROOT / ".venv" / "bin" / "shipflow"
    crane = shutil.which("crane") or "/opt/shipflow-peers/bin/crane"
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proc, port = start_registry(work)
        try:
            host = f"127.0.0.1:{port}"
            key = generate_private_key()
            (work / "ci.key").write_bytes(encrypt_private_key(key, PASSWORD.encode()))
            (work / "ci.pub").write_bytes(key.verifier.pem)
            # Both images are set up first and then measured run by run in turn, so that a change
            # of the shared machine's load during the run weighs on both alike.
            sizes = (("1 MB", 1_000_000), ("300 MB", 300_000_000))
            setups: dict[str, dict[str, Any]] = {}
            for label, size in sizes:
                repo = f"bench/promote-{size}"
                config_path = work / f"shipflow-{size}.yaml"
                config_path.write_text(CONFIG.format(image=f"{host}/{repo}"))
                config = load_config(config_path)
                transport = CountingTransport()
                client = RegistryClient(
                    host, RegistryConfig(), transport=transport, credentials=Credentials()
                )
                store = RegistryStore(client, repo)
                pipeline = Pipeline(config, store, parse_reference(config.image))
                setups[label] = {
                    "repo": repo,
                    "config": config_path,
                    "transport": transport,
                    "client": client,
                    "store": store,
                    "pipeline": pipeline,
                    "base": push_image(store, size, label),
                    "lib": [],
                    "checks": [],
                    "extra": [],
                    "cli": [],
                    "crane": [],
                    "skopeo": [],
                }

            def fresh_in_dev(s: dict[str, Any], salt: str) -> Digest:
                digest = new_variant(s["store"], s["base"], salt)
                sign(s["store"], digest, key, reference=s["pipeline"].name)
                promote(
                    s["pipeline"],
                    PromotionRequest(digest, None, "dev", "github-actions[bot]"),
                    signer=key,
                    environ={},
                )
                return digest

            for run in range(args.runs + 1):
                for label, s in setups.items():
                    digest = fresh_in_dev(s, f"{label}-{run}")
                    s["transport"].requests.clear()
                    started = time.perf_counter()
                    promote(
                        s["pipeline"],
                        PromotionRequest(digest, "dev", "staging", "dev-1"),
                        signer=key,
                        environ={},
                    )
                    elapsed = time.perf_counter() - started
                    if run == 0:
                        continue  # warm-up: connections, imports
                    s["lib"].append(elapsed)
                    requests = s["transport"].requests
                    retag = requests.index(("PUT", f"/v2/{s['repo']}/manifests/staging"))
                    s["checks"].append(retag + 2)  # the PUT and the read-back
                    s["extra"].append(len(requests) - retag - 2)
            # The CLI, the same promotion (fresh digest each run).
            env = {**os.environ, "COSIGN_PASSWORD": PASSWORD}
            for run in range(args.runs):
                for label, s in setups.items():
                    digest = fresh_in_dev(s, f"{label}-cli-{run}")
                    started = time.perf_counter()
                    subprocess.run(
                        [
                            str(shipflow_cli),
                            "promote",
                            "--digest",
                            str(digest),
                            "--to",
                            "staging",
                            "--actor",
                            "dev-1",
                            "--key",
                            str(work / "ci.key"),
                            "--config",
                            str(s["config"]),
                        ],
                        check=True,
                        capture_output=True,
                        env=env,
                    )
                    s["cli"].append(time.perf_counter() - started)
            for run in range(args.runs):
                for label, s in setups.items():
                    digest = new_variant(s["store"], s["base"], f"{label}-peer-{run}")
                    ref = f"{host}/{s['repo']}"
                    started = time.perf_counter()
                    subprocess.run(
                        [crane, "tag", "--insecure", f"{ref}@{digest}", f"crane-{run}"],
                        check=True,
                        capture_output=True,
                    )
                    s["crane"].append(time.perf_counter() - started)
                    started = time.perf_counter()
                    subprocess.run(
                        [
                            "skopeo",
                            "copy",
                            "--src-tls-verify=false",
                            "--dest-tls-verify=false",
                            f"docker://{ref}@{digest}",
                            f"docker://{ref}:skopeo-{run}",
                        ],
                        check=True,
                        capture_output=True,
                    )
                    s["skopeo"].append(time.perf_counter() - started)
            results: dict[str, dict[str, float]] = {}
            for label, s in setups.items():
                s["client"].close()
                results[label] = {
                    "lib": median(s["lib"]),
                    "cli": median(s["cli"]),
                    "crane": median(s["crane"]),
                    "skopeo": median(s["skopeo"]),
                    "checks": max(s["checks"]),
                    "extra": max(s["extra"]),
                }
        finally:
            stop(proc)
    small, big = results["1 MB"], results["300 MB"]
    rows.append(
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.node()}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
        f"Python {platform.python_version()}; runs: {args.runs} (the two sizes in turn); medians in seconds."
    )
    rows.append("")
    rows.append(
        "| image | library promote s | CLI promote s | crane tag s | skopeo copy s "
        "| requests: checks + retag | requests: record + history |"
    )
    rows.append("|---|---:|---:|---:|---:|---:|---:|")
    for label, r in results.items():
        rows.append(
            f"| {label} | {r['lib']:.3f} | {r['cli']:.3f} | {r['crane']:.3f} | {r['skopeo']:.3f} | "
            f"{int(r['checks'])} | {int(r['extra'])} |"
        )
    rows.append("")
    rows.append("| target | result | met? |")
    rows.append("|---|---|---|")
    ratio = big["lib"] / small["lib"]
    rows.append(
        f"| 300 MB vs 1 MB within 20 % (library) | {ratio:.2f} | {'yes' if 0.8 <= ratio <= 1.2 else 'no'} |"
    )
    cli_ratio = big["cli"] / small["cli"]
    rows.append(
        f"| 300 MB vs 1 MB within 20 % (CLI) | {cli_ratio:.2f} | "
        f"{'yes' if 0.8 <= cli_ratio <= 1.2 else 'no'} |"
    )
    most = max(small["checks"], big["checks"])
    rows.append(
        f"| ≤ 8 requests for the checks and the retag | {int(most)} | {'yes' if most <= 8 else 'no'} |"
    )
    rows.append(
        f"| library promote < 0.25 s | {max(small['lib'], big['lib']):.3f} s | "
        f"{'yes' if max(small['lib'], big['lib']) < 0.25 else 'no'} |"
    )
    text = "\n".join(rows) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
