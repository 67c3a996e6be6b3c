"""Helpers for the SBOM tests: real package installs, hand-made OCI layouts of crafted layers,
and the real SPDX / CycloneDX validators."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import zstandard

from fixtures.procs import require_binary

NPM_PACKAGES = (
    "lodash@4.17.15",
    "minimist@1.2.0",
    "mkdirp@0.5.1",
    "@babel/helper-validator-identifier@7.10.4",
)
PIP_PACKAGES = ("urllib3==1.26.4", "jinja2==2.11.2")


def npm_install(dest: Path, specs: Iterable[str] = NPM_PACKAGES) -> Path:
    """A real ``npm install`` into ``dest`` (package.json, package-lock.json, node_modules)."""
    npm = require_binary("npm")
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "package.json").write_text('{"name": "sbom-fixture", "version": "1.0.0", "private": true}\n')
    result = subprocess.run(
        [npm, "install", "--save-exact", "--no-audit", "--no-fund", "--no-update-notifier", *specs],
        cwd=dest,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.fail(f"npm install failed (the npm registry must be reachable):\n{result.stderr[-3000:]}")
    return dest


def pip_install_target(dest: Path, specs: Iterable[str] = PIP_PACKAGES) -> Path:
    """A real ``pip install --target`` (no dependencies: the listed ones are pure Python)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--target",
            str(dest),
            *specs,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.fail(f"pip install failed (PyPI must be reachable):\n{result.stderr[-3000:]}")
    return dest


def tree_files(root: Path, prefix: str) -> dict[str, bytes | tuple[bytes, int]]:
    """Every regular file under ``root`` as image_builder context files under ``prefix``."""
    files: dict[str, bytes | tuple[bytes, int]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
            files[f"{prefix}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    return files


# -- validators ------------------------------------------------------------------------------


def validate_spdx(text: str, tmp_path: Path) -> dict[str, object]:
    """Full spdx-tools validation (parse + validate_full_spdx_document); returns the JSON."""
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    path = tmp_path / "validate.spdx.json"
    path.write_text(text)
    document = parse_file(str(path))
    messages = validate_full_spdx_document(document)
    assert messages == [], [m.validation_message for m in messages][:10]
    doc = json.loads(text)
    assert isinstance(doc, dict)
    return doc


def validate_cyclonedx(text: str) -> dict[str, object]:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)[:2000]
    doc = json.loads(text)
    assert isinstance(doc, dict)
    return doc


# -- crafted layers in a real OCI layout -----------------------------------------------------


@dataclass
class TarBuilder:
    """A layer tar built entry by entry with :mod:`tarfile` (hostile entries included)."""

    buffer: io.BytesIO = field(default_factory=io.BytesIO)

    def __post_init__(self) -> None:
        self._tar = tarfile.open(fileobj=self.buffer, mode="w", format=tarfile.PAX_FORMAT)  # noqa: SIM115 - closed in bytes()

    def file(self, name: str, data: bytes = b"", mode: int = 0o644) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        self._tar.addfile(info, io.BytesIO(data))
        return self

    def dir(self, name: str) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        self._tar.addfile(info)
        return self

    def symlink(self, name: str, target: str) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE
        info.linkname = target
        self._tar.addfile(info)
        return self

    def hardlink(self, name: str, target: str) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type = tarfile.LNKTYPE
        info.linkname = target
        self._tar.addfile(info)
        return self

    def device(self, name: str) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type = tarfile.CHRTYPE
        info.devmajor, info.devminor = 1, 3
        self._tar.addfile(info)
        return self

    def bytes(self) -> bytes:
        self._tar.close()
        return self.buffer.getvalue()


OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def compress(data: bytes, how: str) -> tuple[bytes, str]:
    if how == "gzip":
        return gzip.compress(data, mtime=0), OCI_LAYER + "+gzip"
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(data), OCI_LAYER + "+zstd"
    return data, OCI_LAYER


def _put_blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}"


def write_layout(layout: Path, layers: list[tuple[bytes, str]], *, tag: str = "latest") -> str:
    """An OCI image layout holding one image made of ``layers`` (blob bytes, media type);
    returns the manifest digest."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _put_blob(layout, config),
            "size": len(config),
        },
        "layers": [
            {"mediaType": media_type, "digest": _put_blob(layout, blob), "size": len(blob)}
            for blob, media_type in layers
        ],
    }
    manifest_bytes = json.dumps(manifest).encode()
    digest = _put_blob(layout, manifest_bytes)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": len(manifest_bytes),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    return digest
