"""Fuzz the package catalogers through ``catalog_directory`` (dpkg status, apk installed,
package.json, requirements, Python METADATA, copyright, os-release, and the real projects of
tests/data/lockfiles: package-lock.json, yarn.lock v1 and berry, pnpm-lock.yaml, Pipfile.lock,
pylock.toml, poetry.lock, uv.lock, go.mod/go.sum, Cargo.lock, composer.lock, Gemfile.lock; an
RPM Berkeley DB and a Java archive) and the safe layer reader they run on: tar layers, plain,
gzip and zstd, with hostile entries."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from reliability.fuzzing import DATA, check, json_bytes, mutated, shaped_bytes
from shipflow.oci import mediatypes as mt
from shipflow.sbom._filetree import FileTree
from shipflow.sbom.catalog import catalog_directory, catalog_source, combined_wants
from shipflow.sbom.catalogers import installed_catalogers, lockfile_catalogers
from shipflow.sbom.layers import Budget, Limits, apply_layer
from shipflow.sbom.source import TreeSource

CATALOGERS = [*installed_catalogers(), *lockfile_catalogers()]


def _catalog(files: dict[str, bytes]) -> None:
    """The real path: the files written into a directory, cataloged as ``sbom DIR`` does."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        inventory = catalog_directory(root)
    for package in inventory.packages:
        assert package.purl.startswith("pkg:")


DPKG = (
    b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\n"
    b"Version: 2.36-9+deb12u3\n"
    b"Description: GNU C Library\n continuation line\n .\n\n"
    b"Package: removed\nStatus: deinstall ok config-files\nVersion: 1.0\n\n"
)
COPYRIGHT = b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nLicense: GPL-2+\n"
OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
APK = (DATA / "sbom" / "apk" / "installed").read_bytes()[:4000]
PACKAGE_JSON = (
    b'{"name": "@scope/pkg", "version": "1.2.3", "license": {"type": "MIT"}, "licenses": [{"type": "ISC"}]}'
)
PACKAGE_LOCK = (DATA / "osv" / "project" / "package-lock.json").read_bytes()
LOCK_V1 = json.dumps(
    {
        "lockfileVersion": 1,
        "dependencies": {"a": {"version": "1.0.0", "dependencies": {"b": {"version": "2.0.0"}}}},
    }
).encode()
REQUIREMENTS = (
    DATA / "osv" / "project" / "requirements.txt"
).read_bytes() + b"-r other.txt\nx>=1 --hash=sha256:ab\n"
POETRY = (
    b'[[package]]\nname = "urllib3"\nversion = "1.26.4"\n\n[[package]]\nname = "jinja2"\nversion = "2.11.2"\n'
)
UV = (
    b'version = 1\n[[package]]\nname = "app"\nversion = "0.1.0"\nsource = { editable = "." }\n\n'
    b'[[package]]\nname = "idna"\nversion = "3.7"\n'
)
METADATA = (
    b"Metadata-Version: 2.1\nName: Requests\nVersion: 2.31.0\nLicense: Apache 2.0\n"
    b"Classifier: License :: OSI Approved\n"
)

FILES: dict[str, tuple[bytes, ...]] = {
    "var/lib/dpkg/status": (DPKG,),
    "usr/share/doc/libc6/copyright": (COPYRIGHT,),
    "etc/os-release": (OS_RELEASE,),
    "lib/apk/db/installed": (APK,),
    "usr/lib/node_modules/pkg/package.json": (PACKAGE_JSON,),
    "package-lock.json": (PACKAGE_LOCK, LOCK_V1),
    "requirements.txt": (REQUIREMENTS,),
    "poetry.lock": (POETRY,),
    "uv.lock": (UV,),
    "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA": (METADATA,),
}
LOCK_SHAPE = {
    "lockfileVersion": 3,
    "packages": {"": {"name": "root"}, "node_modules/a": {"name": "a", "version": "1.0.0", "link": False}},
    "dependencies": {"a": {"version": "1.0.0", "dependencies": {"b": {"version": "2.0.0"}}}},
}
PACKAGE_SHAPE = {"name": "x", "version": "1.0.0", "license": {"type": "MIT"}, "licenses": [{"type": "MIT"}]}


LOCKFILES = DATA / "lockfiles"


def _project(directory: str, target: str) -> tuple[str, dict[str, bytes], str]:
    """A real project from tests/data/lockfiles: every small file of it, and the one to mutate."""
    base = LOCKFILES / directory
    files = {
        str(p.relative_to(base)): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file() and p.stat().st_size <= 256 * 1024
    }
    return f"{directory}/{target}", files, target


# (case id, the other files of the tree, the file whose bytes are fuzzed)
FIRST_METADATA = "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA"
CASES: list[tuple[str, dict[str, bytes], str]] = [
    *[(path.rsplit("/", 1)[-1], {}, path) for path in sorted(FILES)],
    _project("npm", "package-lock.json"),
    _project("yarn-v1", "yarn.lock"),
    _project("yarn-berry-v4", "yarn.lock"),
    _project("pnpm-v9", "pnpm-lock.yaml"),
    _project("pnpm-v7", "pnpm-lock.yaml"),
    _project("pipenv", "Pipfile.lock"),
    _project("pylock-uv", "pylock.toml"),
    _project("poetry", "poetry.lock"),
    _project("uv", "uv.lock"),
    _project("gomod", "go.mod"),
    _project("gomod-1.16", "go.sum"),
    _project("cargo", "Cargo.lock"),
    _project("composer", "composer.lock"),
    _project("bundler", "Gemfile.lock"),
    ("rpm Packages (Berkeley DB)", {}, "var/lib/rpm/Packages"),
    ("java archive", {}, "app/lib/greeter-1.4.2.jar"),
]
SEEDS: dict[str, list[bytes]] = {
    "var/lib/rpm/Packages": [(DATA / "rpm" / "Packages").read_bytes()],
    "app/lib/greeter-1.4.2.jar": [(DATA / "java" / "greeter-1.4.2.jar").read_bytes()],
}


def _content(case: tuple[str, dict[str, bytes], str]) -> st.SearchStrategy[bytes]:
    _, files, path = case
    seeds = list(FILES.get(path, ())) or SEEDS.get(path) or [files[path]]
    content = mutated(seeds)
    if path.endswith("package-lock.json"):
        content = content | shaped_bytes(LOCK_SHAPE)
    elif path.endswith("package.json"):
        content = (
            content | shaped_bytes(PACKAGE_SHAPE) | json_bytes(["name", "version", "license", "licenses"])
        )
    return content


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
@given(data=st.data())
def test_fuzz_catalogers(case: tuple[str, dict[str, bytes], str], data: st.DataObject) -> None:
    name, files, path = case
    content = data.draw(_content(case), label="content")
    check(f"cataloger input ({name})", _catalog, {**files, path: content}, size=len(content))


# --- tar layers ----------------------------------------------------------------------------------


def _tar(entries: Callable[[tarfile.TarFile], None], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        entries(tar)
    return buffer.getvalue()


def _add(
    tar: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = ""
) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _image_layer(tar: tarfile.TarFile) -> None:
    _add(tar, "etc/", kind=tarfile.DIRTYPE)
    _add(tar, "etc/os-release", OS_RELEASE)
    _add(tar, "var/lib/dpkg/status", DPKG)
    _add(tar, "lib/apk/db/installed", APK[:600])
    _add(tar, "usr/lib/node_modules/pkg/package.json", PACKAGE_JSON)
    _add(tar, "usr/lib/os-release", kind=tarfile.SYMTYPE, link="../../etc/os-release")
    _add(tar, "hard", kind=tarfile.LNKTYPE, link="etc/os-release")
    _add(tar, "etc/.wh.passwd")
    _add(tar, "opt/.wh..wh..opq")
    _add(tar, "a/" + "long-name/" * 30 + "file", b"x")


PLAIN = _tar(_image_layer)
GNU = _tar(_image_layer, tarfile.GNU_FORMAT)
LAYERS = {
    mt.OCI_LAYER_TAR: [PLAIN, GNU],
    mt.OCI_LAYER_GZIP: [gzip.compress(PLAIN, mtime=0), gzip.compress(GNU, mtime=0)],
    mt.OCI_LAYER_ZSTD: [zstandard.ZstdCompressor().compress(PLAIN)],
}
LIMITS = Limits(max_total_bytes=64 * 1024 * 1024, max_file_bytes=4 * 1024 * 1024, max_entries=100_000)


def _layer(blob: bytes, media_type: str | None) -> None:
    tree = FileTree()
    wants = combined_wants(installed_catalogers())
    apply_layer(
        tree,
        iter([blob[: len(blob) // 2], blob[len(blob) // 2 :]]),
        digest="sha256:" + "f" * 64,
        media_type=media_type,
        wants=wants,
        budget=Budget(LIMITS),
    )
    catalog_source(TreeSource(tree), installed_catalogers(), subject="fuzz")


def _blob_and_type(media_type: str) -> st.SearchStrategy[tuple[bytes, str | None]]:
    declared = (
        st.sampled_from([media_type, mt.OCI_LAYER_GZIP, mt.OCI_LAYER_TAR, "application/octet-stream"])
        | st.none()
    )
    return st.tuples(mutated(LAYERS[media_type]), declared)


@given(st.sampled_from(sorted(LAYERS)).flatmap(_blob_and_type))
def test_fuzz_tar_layers(case: tuple[bytes, str | None]) -> None:
    blob, media_type = case
    check("tar layer (safe reader + catalogers)", _layer, blob, media_type, size=len(blob))


def test_metadata_with_undecodable_header_bytes() -> None:
    """Found by test_fuzz_catalogers[METADATA]: a Classifier (or License-Expression) with a
    byte that is not UTF-8 comes back from the email parser as a Header object, and
    ``.strip()`` on it was an AttributeError traceback from ``sbom``."""
    metadata = b"Metadata-Version: 2.1\nName: Requests\nVersion: 2.31.0\nClassifier:\x80 License :: OSI\n"
    bad = b"License-Expression: \x80MIT\n"
    for data in (metadata, metadata.replace(b"Version: 2.31.0\n", b"Version: 2.31.0\n" + bad)):
        check("cataloger input (METADATA, pinned)", _catalog, {FIRST_METADATA: data}, size=len(data))
