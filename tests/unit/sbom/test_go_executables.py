"""The Go build-info reader on crafted executables: each format's way to the blob (ELF section
or segment, Mach-O section or segment, PE data section), both blob layouts (Go ≥ 1.18 inline
strings, older pointers), the module lines, and hostile headers. Real binaries built by
``go build`` are in tests/integration/test_go_binaries.py."""

from __future__ import annotations

import io
import json
import struct

import pytest

from shipflow.sbom.catalogers.executables import ExecutableFormatError, read_build_info
from shipflow.sbom.catalogers.gobinary import GoBinaryCataloger, modules, parse_modinfo, stdlib_version
from support.binaries import FULL_MODINFO, MODINFO, elf64, inline_blob, macho64, pe64


def test_elf_section_and_segment_fallback() -> None:
    for with_section in (True, False):
        version, modinfo = read_build_info(elf64(inline_blob(), with_section=with_section)) or ("", "")
        assert version == "go1.22.3" and modinfo == MODINFO


def test_module_lines_replacements_and_stdlib() -> None:
    info = parse_modinfo("go1.22.3", MODINFO)
    assert list(modules(info)) == [
        ("example.com/app", "v1.2.3"),
        ("github.com/google/uuid", "v1.6.0"),  # the replacement is what was compiled
        ("golang.org/x/text", "v0.3.7"),  # ./local (devel) has no version: skipped
        ("stdlib", "v1.22.3"),
    ]
    assert info.settings == {"-compiler": "gc", "GOOS": "linux"}
    devel = parse_modinfo("go1.21.0", "path\tx\nmod\tx\t(devel)\t\n")
    assert list(modules(devel)) == [("stdlib", "v1.21.0")]


@pytest.mark.parametrize(
    ("go", "stdlib"),
    [
        ("go1.26.8", "v1.26.8"),
        ("go1.21", "v1.21.0"),
        ("go1.20", "v1.20.0"),
        ("go1.22rc1", "v1.22.0-rc.1"),
        ("go1.9beta2", "v1.9.0-beta.2"),
        ("go1.22.1 X:boringcrypto", "v1.22.1"),
        ("go1.26.8-X:jsonv2", "v1.26.8"),  # the trivy peer built here
        ("go1.26.8-X:jsonv2,greenteagc", "v1.26.8"),
        ("go1.26.8-Xjsonv2", None),
        ("devel go1.23-abcdef Tue", None),
    ],
)
def test_go_versions_as_stdlib_versions(go: str, stdlib: str | None) -> None:
    assert stdlib_version(go) == stdlib


def test_pre_1_18_pointer_layout_big_endian_32_bit_elf() -> None:
    """Go < 1.18: the header points at Go string headers (pointer, length) in the image."""
    vaddr = 0x10000
    strings_at = 64  # offset within the payload
    version, modinfo = b"go1.16.15", FULL_MODINFO.encode("latin-1")
    version_hdr = struct.pack(">II", vaddr + strings_at + 16, len(version))
    modinfo_hdr = struct.pack(">II", vaddr + strings_at + 16 + len(version), len(modinfo))
    header = (
        b"\xff Go buildinf:"
        + bytes([4, 0x1])
        + struct.pack(">II", vaddr + strings_at, vaddr + strings_at + 8)
        + bytes(8)
    )
    payload = header + bytes(strings_at - len(header)) + version_hdr + modinfo_hdr + version + modinfo
    image = bytearray(0x100) + payload
    elf = bytearray(52)
    elf[:16] = b"\x7fELF\x01\x02\x01" + bytes(9)
    struct.pack_into(">HHIIIIIHHHHHH", elf, 16, 2, 8, 1, vaddr, 52, 0, 0, 52, 32, 1, 40, 0, 0)
    image[:52] = elf
    image[52 : 52 + 32] = struct.pack(
        ">IIIIIIII", 1, 0x100, vaddr, vaddr, len(payload), len(payload), 0x6, 0x1000
    )
    assert read_build_info(bytes(image)) == ("go1.16.15", MODINFO)


def test_macho_section_segment_and_fat_files() -> None:
    for section in (True, False):
        assert read_build_info(macho64(inline_blob(), section=section)) == ("go1.22.3", MODINFO)
    thin = macho64(inline_blob(), section=True)
    fat = struct.pack(">II", 0xCAFEBABE, 1) + struct.pack(">iiIII", 0x01000007, 3, 4096, len(thin), 12)
    fat += bytes(4096 - len(fat)) + thin
    assert read_build_info(fat) == ("go1.22.3", MODINFO)


def test_pe_data_section() -> None:
    assert read_build_info(pe64(inline_blob())) == ("go1.22.3", MODINFO)


def test_not_go_and_unknown_formats() -> None:
    assert read_build_info(elf64(b"no build info here" * 10)) is None
    with pytest.raises(ExecutableFormatError):
        read_build_info(b"#!/bin/sh\necho hello\n" * 4)


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:100],  # truncated inside the program headers' data
        lambda b: b[:56] + struct.pack("<H", 60_000) + b[58:],  # e_phnum absurd
        lambda b: b[:32] + struct.pack("<Q", 2**40) + b[40:],  # e_phoff far past the end
        lambda b: b[: 64 + 8] + struct.pack("<Q", 2**40) + b[64 + 16 :],  # p_offset past the end
        lambda b: b[:60] + struct.pack("<H", 3) + struct.pack("<H", 7) + b[64:],  # shstrndx out of range
        lambda b: b.replace(
            b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16) + b"\x08",
            b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16) + b"\xff\xff\xff\xff\x0f",
        ),  # huge string
    ],
)
def test_hostile_elf_headers_raise_format_errors_not_crashes(damage: object) -> None:
    image = elf64(inline_blob())
    broken = damage(image)  # type: ignore[operator]
    with pytest.raises(ExecutableFormatError):
        read_build_info(broken)


def test_reducer_keeps_only_the_build_info_and_reports_damage() -> None:
    cataloger = GoBinaryCataloger(max_bytes=1024 * 1024)
    image = elf64(inline_blob())
    assert cataloger.accepts("usr/local/bin/app", 0o100755, len(image))
    assert not cataloger.accepts("usr/share/doc/readme", 0o100644, len(image))
    assert cataloger.accepts("app.exe", 0o100644, len(image))
    result = cataloger.reduce("usr/local/bin/app", io.BytesIO(image), len(image))
    assert result is not None and len(result) < len(image) // 4
    assert json.loads(result) == {"go": "go1.22.3", "modinfo": MODINFO}
    assert cataloger.reduce("bin/sh", io.BytesIO(b"#!/bin/sh\n" * 100), 1000) is None
    broken = image[:56] + struct.pack("<H", 60_000) + image[58:]
    assert "error" in json.loads(cataloger.reduce("x", io.BytesIO(broken), len(broken)) or b"{}")


def test_oversized_go_executable_is_scanned_in_chunks_and_reported() -> None:
    cataloger = GoBinaryCataloger(max_bytes=64 * 1024)
    big = elf64(inline_blob(), data_offset=3 * 1024 * 1024)  # blob 3 MiB in: several chunks
    result = json.loads(cataloger.reduce("big", io.BytesIO(big), len(big)) or b"{}")
    assert "over the 65536-byte cap" in result["error"]
    not_go = elf64(b"\0" * 64, data_offset=3 * 1024 * 1024)
    assert cataloger.reduce("big", io.BytesIO(not_go), len(not_go)) is None
