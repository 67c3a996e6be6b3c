"""Crafted executables holding Go build info, for the unit tests of the build-info reader
and of the layer reader (real binaries built by ``go build`` are in the integration tier)."""

from __future__ import annotations

import struct

SENTINEL_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
SENTINEL_END = bytes.fromhex("f932433186182072008242104116d8f2")
MODINFO = (
    "path\texample.com/app\n"
    "mod\texample.com/app\tv1.2.3\th1:abc=\n"
    "dep\tgithub.com/google/uuid\tv1.3.0\n"
    "=>\tgithub.com/google/uuid\tv1.6.0\th1:def=\n"
    "dep\texample.com/local\tv0.0.0\n"
    "=>\t./local\t(devel)\t\n"
    "dep\tgolang.org/x/text\tv0.3.7\th1:ghi=\n"
    "build\t-compiler=gc\n"
    "build\tGOOS=linux\n"
)
FULL_MODINFO = (SENTINEL_START + MODINFO.encode() + SENTINEL_END).decode("latin-1")
BASE = 0x400000


def _uvarint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def inline_blob(version: str = "go1.22.3", modinfo: str = FULL_MODINFO) -> bytes:
    header = b"\xff Go buildinf:" + bytes([8, 0x2]) + bytes(16)
    body = b""
    for text in (version, modinfo):
        raw = text.encode("latin-1")
        body += _uvarint(len(raw)) + raw
    return header + body


def elf64(payload: bytes, *, with_section: bool = True, data_offset: int = 0x1000) -> bytes:
    """A little-endian ELF64 executable: one RW PT_LOAD segment holding ``payload`` (16-byte
    aligned at its start), and optionally a section table with .go.buildinfo."""
    vaddr = BASE + data_offset
    names = b"\0.shstrtab\0.go.buildinfo\0"
    image = bytearray(data_offset) + payload + bytes(64)
    shoff = len(image)
    sections = [
        struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        struct.pack("<IIQQQQIIQQ", 1, 3, 0, 0, shoff + 3 * 64, len(names), 0, 0, 1, 0),
        struct.pack("<IIQQQQIIQQ", 11, 1, 3, vaddr, data_offset, len(payload), 0, 0, 16, 0),
    ]
    image += b"".join(sections) + names
    header = bytearray(64)
    header[:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    struct.pack_into(
        "<HHIQQQIHHHHHH",
        header,
        16,
        2,
        0x3E,
        1,
        BASE,
        64,
        shoff if with_section else 0,
        0,
        64,
        56,
        1,
        64,
        3 if with_section else 0,
        1,
    )
    phdr = struct.pack("<IIQQQQQQ", 1, 0x6, data_offset, vaddr, vaddr, len(payload), len(payload), 0x1000)
    image[:64] = header
    image[64 : 64 + 56] = phdr
    return bytes(image)


def macho64(payload: bytes, *, section: bool) -> bytes:
    data_offset, vmaddr = 0x1000, 0x100004000
    sect = struct.pack(
        "<16s16sQQIIIIIIII",
        b"__go_buildinfo",
        b"__DATA",
        vmaddr,
        len(payload),
        data_offset,
        4,
        0,
        0,
        0,
        0,
        0,
        0,
    )
    nsects = 1 if section else 0
    seg_cmd = struct.pack(
        "<II16sQQQQiiII",
        0x19,
        72 + 80 * nsects,
        b"__DATA",
        vmaddr,
        0x4000,
        data_offset,
        len(payload),
        3,
        3,
        nsects,
        0,
    )
    pagezero = struct.pack("<II16sQQQQiiII", 0x19, 72, b"__PAGEZERO", 0, 0x100000000, 0, 0, 0, 0, 0, 0)
    commands = pagezero + seg_cmd + (sect if section else b"")
    header = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x01000007, 3, 2, 2, len(commands), 0, 0)
    image = bytearray(header + commands)
    image += bytes(data_offset - len(image)) + payload
    return bytes(image)


def pe64(payload: bytes) -> bytes:
    image_base, raw_offset = 0x140000000, 0x400
    dos = bytearray(0x40)
    dos[:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x40)
    coff = b"PE\0\0" + struct.pack("<HHIIIHH", 0x8664, 2, 0, 0, 0, 240, 0x22)
    optional = bytearray(240)
    struct.pack_into("<H", optional, 0, 0x20B)
    struct.pack_into("<Q", optional, 24, image_base)
    text = struct.pack("<8sIIIIIIHHI", b".text", 0x10, 0x1000, 0x10, raw_offset, 0, 0, 0, 0, 0x60000020)
    data = struct.pack(
        "<8sIIIIIIHHI",
        b".data",
        len(payload),
        0x2000,
        len(payload),
        raw_offset + 0x10,
        0,
        0,
        0,
        0,
        0xC0600040,
    )
    image = bytearray(dos + coff + optional + text + data)
    image += bytes(raw_offset - len(image)) + bytes(0x10) + payload
    return bytes(image)
