"""Regenerate the committed cosign fixtures with the REAL cosign (v2.4.1) and crane.

Run from the repository root (needs docker-registry, and cosign + crane on PATH or in
/opt/shipflow-peers/bin)::

    .venv/bin/python tests/data/cosign/regenerate.py

It starts a throwaway registry on a free 127.0.0.1 port, pushes two tiny images with
``crane append``, makes a key pair with ``cosign generate-key-pair``, signs image A with
``cosign sign --tlog-upload=false`` (once plain, once with ``-a env=prod``), attests image A with
``cosign attest --type spdxjson``, and copies the bytes of every manifest and blob involved
(exactly as the registry serves them) into ``layout/``, an OCI image layout whose
``index.json`` names the tags. Nothing here is re-serialised.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import httpx
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from fixtures.procs import free_port, port_open, stop, wait_until  # noqa: E402

PASSWORD = "shipflow-fixture-password"  # published with the fixtures
PEERS = "/opt/shipflow-peers/bin"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


def run(*args: str, env: dict[str, str] | None = None) -> str:
    full_env = {**os.environ, "PATH": f"{PEERS}:{os.environ['PATH']}", **(env or {})}
    result = subprocess.run(args, check=True, capture_output=True, text=True, env=full_env)
    return result.stdout


def tarball(path: Path, name: str, content: bytes) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    path.write_bytes(buf.getvalue())
    return path


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="cosign-fixtures-"))
    port = free_port()
    config = {
        "version": 0.1,
        "storage": {"filesystem": {"rootdirectory": str(work / "data")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "x"},
    }
    (work / "config.yml").write_text(yaml.safe_dump(config))
    log = (work / "registry.log").open("wb")
    proc = subprocess.Popen(["docker-registry", "serve", str(work / "config.yml")], stdout=log, stderr=log)
    try:
        wait_until(lambda: port_open(port), what="registry")
        host = f"127.0.0.1:{port}"
        repo = f"{host}/fixtures/app"
        digests = {}
        for name in ("a", "b"):
            layer = tarball(work / f"{name}.tar", f"{name}.txt", f"image {name}\n".encode())
            run("crane", "append", "--insecure", "--oci-empty-base", "-f", str(layer), "-t", f"{repo}:{name}")
            digests[name] = run("crane", "digest", "--insecure", f"{repo}:{name}").strip()

        keydir = work / "keys"
        keydir.mkdir()
        run("cosign", "generate-key-pair", cwd_env(keydir), env={"COSIGN_PASSWORD": PASSWORD})
        target = f"{repo}@{digests['a']}"
        common = ["--key", str(keydir / "cosign.key"), "--tlog-upload=false", "--allow-insecure-registry"]
        common.append("-y")
        run("cosign", "sign", *common, target, env={"COSIGN_PASSWORD": PASSWORD})
        run("cosign", "sign", *common, "-a", "env=prod", target, env={"COSIGN_PASSWORD": PASSWORD})
        predicate = work / "sbom.spdx.json"
        predicate.write_text(json.dumps({"spdxVersion": "SPDX-2.3", "name": "fixture", "packages": []}))
        run(
            "cosign",
            "attest",
            *common,
            "--type",
            "spdxjson",
            "--predicate",
            str(predicate),
            target,
            env={"COSIGN_PASSWORD": PASSWORD},
        )

        out = HERE / "layout"
        shutil.rmtree(out, ignore_errors=True)
        (out / "blobs" / "sha256").mkdir(parents=True)
        (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
        client = httpx.Client(base_url=f"http://{host}/v2/fixtures/app", timeout=30)
        index = []
        hex_a = digests["a"].split(":")[1]
        for tag in ("a", "b", f"sha256-{hex_a}.sig", f"sha256-{hex_a}.att"):
            resp = client.get(f"/manifests/{tag}", headers={"Accept": ACCEPT})
            resp.raise_for_status()
            data = resp.content
            doc = json.loads(data)
            digest = resp.headers["Docker-Content-Digest"]
            (out / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
            index.append(
                {
                    "mediaType": doc.get("mediaType", resp.headers["Content-Type"]),
                    "digest": digest,
                    "size": len(data),
                    "annotations": {"org.opencontainers.image.ref.name": tag},
                }
            )
            for desc in [doc["config"], *doc["layers"]]:
                blob = client.get(f"/blobs/{desc['digest']}", follow_redirects=True)
                blob.raise_for_status()
                (out / "blobs" / "sha256" / desc["digest"].split(":")[1]).write_bytes(blob.content)
        (out / "index.json").write_text(
            json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index})
        )
        for name in ("cosign.key", "cosign.pub"):
            shutil.copy(keydir / name, HERE / name)
        (HERE / "sbom.spdx.json").write_bytes(predicate.read_bytes())
        summary = {**digests, "repository": "fixtures/app"}
        (HERE / "digests.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(json.dumps(digests))
    finally:
        stop(proc)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def cwd_env(directory: Path) -> str:
    # cosign generate-key-pair writes into the working directory; --output-key-prefix gives a path.
    return f"--output-key-prefix={directory / 'cosign'}"


if __name__ == "__main__":
    main()
