"""The new catalogers inside images, through the layer reader (crafted layers in a real OCI
layout, read back through LayoutStore): Go executables and Java archives reduced as they
stream past (mode bits, whiteouts, hard links, caps), lock files of a project copied into the
image without their dev dependencies, and locations with the layer that wrote each file."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from shipflow.errors import UnsafeContentError
from shipflow.oci.layout import LayoutStore
from shipflow.sbom import Inventory, catalog_image
from shipflow.sbom.catalogers import gobinary, java
from shipflow.sbom.layers import Limits
from support.binaries import elf64, inline_blob
from support.paths import DATA_DIR
from support.sbom import TarBuilder, compress, write_layout

LOCKS = DATA_DIR / "lockfiles"


def _jar(group: str, artifact: str, version: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            f"META-INF/maven/{group}/{artifact}/pom.properties",
            f"groupId={group}\nartifactId={artifact}\nversion={version}\n",
        )
    return buffer.getvalue()


def _catalog(tmp_path: Path, layers: list[bytes], limits: Limits | None = None) -> Inventory:
    digest = write_layout(tmp_path / "layout", [compress(layer, "gzip") for layer in layers])
    return catalog_image(LayoutStore(tmp_path / "layout"), digest, limits=limits)


def test_go_binaries_jars_and_lock_files_in_layers(tmp_path: Path) -> None:
    go_binary = elf64(inline_blob())
    base = (
        TarBuilder()
        .file("etc/os-release", b'ID=debian\nVERSION_ID="12"\n')
        .file("usr/local/bin/app", go_binary, mode=0o755)
        .file("usr/local/bin/not-executable", go_binary, mode=0o644)  # no x bit: not a program
        .hardlink("usr/local/bin/app-link", "usr/local/bin/app")
        .file("opt/lib/a-1.0.jar", _jar("org.example", "a", "1.0"))
        .file("opt/lib/b-2.0.jar", _jar("org.example", "b", "2.0"))
        .file("app/package.json", (LOCKS / "pnpm-v9" / "package.json").read_bytes())
        .file("app/pnpm-lock.yaml", (LOCKS / "pnpm-v9" / "pnpm-lock.yaml").read_bytes())
        .file("app/node_modules/left-pad/yarn.lock", b"# a dependency's own lock file: not the project's\n")
        .bytes()
    )
    upper = TarBuilder().file("opt/lib/.wh.b-2.0.jar").bytes()  # deletes b-2.0.jar
    inventory = _catalog(tmp_path, [base, upper])
    manifest = LayoutStore(tmp_path / "layout").get_manifest("latest").as_manifest()
    layers = [str(layer.digest) for layer in manifest.layers]
    packages = {(p.type, p.name, p.version): p for p in inventory.packages}
    assert inventory.not_read == []

    go = {key: p for key, p in packages.items() if key[0] == "golang"}
    assert set(go) == {
        ("golang", "example.com/app", "v1.2.3"),
        ("golang", "github.com/google/uuid", "v1.6.0"),
        ("golang", "golang.org/x/text", "v0.3.7"),
        ("golang", "stdlib", "v1.22.3"),
    }
    stdlib = go[("golang", "stdlib", "v1.22.3")]
    assert {loc.path for loc in stdlib.locations} == {"/usr/local/bin/app", "/usr/local/bin/app-link"}
    assert {loc.layer for loc in stdlib.locations} == {layers[0]}

    maven = [key for key in packages if key[0] == "maven"]
    assert maven == [("maven", "org.example:a", "1.0")]  # b was whited out

    npm = {key for key in packages if key[0] == "npm"}
    assert len(npm) == 82 - 3  # the lock file's dev-only packages are not in the image
    assert ("npm", "mkdirp", "0.5.1") not in npm and ("npm", "debug", "2.6.9") in npm
    assert not any(p.dev for p in packages.values())


def test_executables_and_archives_over_their_caps_are_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gobinary, "MAX_BINARY_BYTES", 64 * 1024)
    monkeypatch.setattr(java, "MAX_ARCHIVE_BYTES", 1024)
    layer = (
        TarBuilder()
        .file("bin/big", elf64(inline_blob(), data_offset=512 * 1024), mode=0o755)
        .file("lib/big.jar", _jar("g", "big", "1") + b"\0" * 2048)
        .file("lib/small.jar", _jar("g", "a", "1"))
        .bytes()
    )
    inventory = _catalog(tmp_path, [layer])
    reasons = {n.location.path: (n.cataloger, n.reason) for n in inventory.not_read}
    assert reasons["/bin/big"][0] == "go-binary" and "over the 65536-byte cap" in reasons["/bin/big"][1]
    assert (
        reasons["/lib/big.jar"][0] == "java-archive"
        and "over the 1024-byte cap" in reasons["/lib/big.jar"][1]
    )
    assert [p.name for p in inventory.packages] == ["g:a"]


def test_reduced_results_count_against_the_captured_bytes_cap(tmp_path: Path) -> None:
    builder = TarBuilder()
    for index in range(50):
        builder.file(f"lib/x{index}.jar", _jar("org.example", f"artifact-{index}", "1.0"))
    with pytest.raises(UnsafeContentError, match="exceed"):
        _catalog(tmp_path, [builder.bytes()], Limits(max_captured_bytes=2000))
