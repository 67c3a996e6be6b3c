"""A pipeline in a temporary directory, for promotion tests: keys made by shipflow (cosign's
format), a shipflow.yaml in the specification's shape, and images in an OCI layout or a
registry repository."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from shipflow.oci.digest import Digest
from shipflow.oci.store import Store
from shipflow.release.promote import Pipeline
from shipflow.signing import encrypt_private_key, generate_private_key, sign
from shipflow.signing.keys import PrivateKey
from support.sbom import TarBuilder, compress

PASSWORD = "pipeline-test-password"

BASE_CONFIG = """\
image: {image}
keys:
  trusted: [keys/ci.pub]
roles:
  ci: ["github-actions[bot]"]
  developer: [dev-1, dev-2]
  tech-lead: [lead-1, lead-2]
approvers:
  lead-1: keys/lead-1.pub
  lead-2: keys/lead-2.pub
environments:
  dev:        {{promoted_by: [ci]}}
  staging:    {{from: dev,     promoted_by: [developer], gates: [signature{staging_gates}]}}
  canary:     {{from: staging, promoted_by: [tech-lead], gates: [signature{canary_gates}]}}
  production: {{from: canary,  promoted_by: [tech-lead], gates: [signature, approvals], approvals: 1}}
{gates}"""


@dataclass
class PipelineDir:
    root: Path
    image: str
    keys: dict[str, PrivateKey] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.root / "shipflow.yaml"

    def key_file(self, name: str) -> Path:
        return self.root / "keys" / f"{name}.key"

    def write_config(self, *, staging_gates: str = "", canary_gates: str = "", gates: str = "") -> Path:
        text = BASE_CONFIG.format(
            image=self.image, staging_gates=staging_gates, canary_gates=canary_gates, gates=gates
        )
        self.config_path.write_text(text)
        return self.config_path

    def pipeline(self) -> Pipeline:
        return Pipeline.load(self.config_path)


@functools.cache
def _key_material() -> dict[str, tuple[PrivateKey, bytes]]:
    # Made once per test process: encrypting with scrypt (N=65536) costs ~0.3 s a key.
    made = {}
    for name in ("ci", "lead-1", "lead-2", "outsider"):
        key = generate_private_key()
        made[name] = (key, encrypt_private_key(key, PASSWORD.encode()))
    return made


def make_pipeline_dir(root: Path, image: str) -> PipelineDir:
    """Keys for CI (signing and records), two approvers and an outsider, and the config."""
    (root / "keys").mkdir(parents=True)
    made = PipelineDir(root, image)
    for name, (key, encrypted) in _key_material().items():
        made.keys[name] = key
        (root / "keys" / f"{name}.key").write_bytes(encrypted)
        (root / "keys" / f"{name}.pub").write_bytes(key.verifier.pem)
    made.write_config()
    return made


def push_image(store: Store, name: str, *, tag: str | None = None, size: int = 64) -> Digest:
    """A small image (one gzip layer with a file whose content depends on ``name``) in ``store``."""
    from shipflow.oci import mediatypes as mt
    from shipflow.oci.models import ManifestBytes

    layer, media_type = compress(TarBuilder().file(f"app/{name}.txt", name.encode() * size).bytes(), "gzip")
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    )
    config_bytes = config.encode()
    for blob in (layer, config_bytes):
        store.put_blob(Digest.of(blob), len(blob), [blob])
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": mt.OCI_CONFIG,
            "digest": str(Digest.of(config_bytes)),
            "size": len(config_bytes),
        },
        "layers": [{"mediaType": media_type, "digest": str(Digest.of(layer)), "size": len(layer)}],
    }
    data = ManifestBytes.create(json.dumps(manifest).encode(), mt.OCI_MANIFEST)
    return store.put_manifest(data, tag=tag)


def signed_image(pipeline: Pipeline, signer: PrivateKey, name: str) -> Digest:
    digest = push_image(pipeline.store, name)
    sign(pipeline.store, digest, signer, reference=pipeline.name)
    return digest
