"""Garbage in the SBOM (issue 11 items 4 and 7): binary garbage in a dpkg status file, a zip
declared as a gzip layer, deeply nested package.json and lock files, and what a TARGET names."""

from __future__ import annotations

import io
import logging
import os
import zipfile
from pathlib import Path

import pytest

from shipflow.errors import InvalidReference, LayerFormatError, UsageError
from shipflow.oci import mediatypes as mt
from shipflow.sbom import catalog_directory
from shipflow.sbom._filetree import FileTree
from shipflow.sbom.layers import Budget, Limits, apply_layer, describe_magic
from shipflow.sbom.target import TargetKind, detect_target

GOOD_STANZA = (
    "Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\n"
    "Source: zlib (1:1.2.13.dfsg-1)\nVersion: 1:1.2.13.dfsg-1\n\n"
)


def _status_tree(tmp_path: Path, status: bytes) -> Path:
    root = tmp_path / "rootfs"
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_bytes(status)
    return root


def test_dpkg_stanza_with_binary_garbage_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    garbage = b"Package: \xff\xfe\x00\x01\nStatus: install ok installed\nVersion: 1.0\n\n"
    root = _status_tree(tmp_path, garbage + GOOD_STANZA.encode() + b"Package: ok-name\nVersion: \x1b[2J\n\n")
    with caplog.at_level(logging.WARNING, logger="shipflow.sbom.catalogers.dpkg"):
        inventory = catalog_directory(root)
    assert [(p.name, p.version, p.source_name) for p in inventory.packages] == [
        ("zlib1g", "1:1.2.13.dfsg-1", "zlib")
    ]
    warnings = [r.getMessage() for r in caplog.records]
    assert any("invalid package name '\\ufffd\\ufffd\\x00\\x01'" in w for w in warnings), warnings
    assert any("ok-name, its version '\\x1b[2J' is invalid" in w for w in warnings), warnings


def test_dpkg_invalid_source_and_architecture_are_dropped(tmp_path: Path) -> None:
    stanza = (
        b"Package: libfoo1\nStatus: install ok installed\nArchitecture: \x00\nSource: \xff bad\n"
        b"Version: 2.0-1\n\n"
    )
    [package] = catalog_directory(_status_tree(tmp_path, stanza)).packages
    assert (package.name, package.source_name, package.source_version) == ("libfoo1", "libfoo1", "2.0-1")
    assert "arch=" not in package.purl


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("etc/os-release", "ID=debian\n")
    return buffer.getvalue()


def test_a_zip_declared_as_gzip_says_what_it_is() -> None:
    blob = _zip_bytes()
    with pytest.raises(
        LayerFormatError, match=r"is a zip archive, not gzip as its media type .*tar\+gzip says"
    ):
        apply_layer(
            FileTree(),
            iter([blob]),
            digest="sha256:" + "1" * 64,
            media_type=mt.OCI_LAYER_GZIP,
            wants=lambda path: True,
            budget=Budget(Limits()),
        )


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (_zip_bytes()[:512], "a zip archive"),
        (b"\x1f\x8b\x08\x00", "gzip data"),
        (b"\x28\xb5\x2f\xfd", "zstd data"),
        (b"BZh91AY&SY", "bzip2 data"),
        (b"\xfd7zXZ\x00\x00", "xz data"),
        (b"  <!DOCTYPE html><html>", "an HTML page"),
        (b'{"errors":[{"code":"BLOB_UNKNOWN"}]}', "a JSON document"),
        (b"BZh-looking-file-name".ljust(257, b"\0") + b"ustar\x0000", "a tar archive"),
        (b"", "empty"),
        (b"\x00\x01random", None),
    ],
)
def test_describe_magic(head: bytes, kind: str | None) -> None:
    assert describe_magic(head) == kind


def test_deeply_nested_package_files_are_skipped_not_tracebacks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    (tmp_path / "node_modules/evil").mkdir(parents=True)
    (tmp_path / "node_modules/evil/package.json").write_bytes(deep)
    (tmp_path / "node_modules/fine").mkdir(parents=True)
    (tmp_path / "node_modules/fine/package.json").write_text('{"name": "fine", "version": "1.0.0"}')
    (tmp_path / "package-lock.json").write_bytes(b'{"packages": ' + deep + b"}")
    (tmp_path / "uv.lock").write_bytes(b"x = " + b"[" * 100_000)
    with caplog.at_level(logging.WARNING):
        inventory = catalog_directory(tmp_path)
    assert [p.name for p in inventory.packages] == ["fine"]
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    # The catalogers' own bounded readers: the file is "not read", with the reason.
    assert "not read: node_modules/evil/package.json: JSON nested too deeply" in warnings
    assert "not read: package-lock.json: JSON nested too deeply" in warnings
    assert "not read: uv.lock: TOML nested too deeply" in warnings


# --- what a TARGET names -------------------------------------------------------------------------


def test_detect_target_kinds(tmp_path: Path) -> None:
    sbom = tmp_path / "sbom.json"
    sbom.write_text("{}")
    assert detect_target(str(tmp_path)).kind is TargetKind.DIRECTORY
    assert detect_target(str(sbom)).kind is TargetKind.SBOM_FILE
    assert detect_target("ghcr.io/org/app:1.0").kind is TargetKind.IMAGE
    assert detect_target("oci:/nonexistent:tag").kind is TargetKind.IMAGE  # the store says what is missing
    with pytest.raises(UsageError, match="is a file"):
        detect_target(str(sbom), sbom_files=False)


@pytest.mark.parametrize(
    "text", ["/nonexistent", "./missing-dir", "../nope", "missing.spdx.json", "out/bom.cdx.json"]
)
def test_a_missing_path_is_no_such_file_or_directory(text: str) -> None:
    with pytest.raises(UsageError, match=r": no such file or directory$") as caught:
        detect_target(text)
    assert caught.value.exit_code == 2 and not isinstance(caught.value, InvalidReference)


def test_odd_targets_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidReference):
        detect_target("Not_An_Image")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file"):
        detect_target(str(fifo))
    with pytest.raises(UsageError, match="File name too long"):
        detect_target("/" + "x" * 5000)
    with pytest.raises(UsageError, match="no such file or directory"):
        detect_target("~no-such-user-here/sbom.json")  # expanduser raised RuntimeError
