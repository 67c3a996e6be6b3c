"""The Go build information embedded in an executable, read from its bytes (never run).

Every Go executable carries a build-info blob: a 32-byte header starting with the magic
``\\xff Go buildinf:`` (16-byte aligned), then the Go version and the module information
(``path``/``mod``/``dep``/``=>``/``build`` lines between two 16-byte sentinels). Since Go 1.18
both strings follow the header inline, as uvarint-length-prefixed bytes; before that the
header holds pointers to Go string headers in the image.

Where to look is the executable format's business (as Go's ``debug/buildinfo`` does it):

* ELF: the ``.go.buildinfo`` section, else the first writable, non-executable ``PT_LOAD``
  segment; addresses map to file offsets through the program headers;
* Mach-O (thin, or the first architecture of a fat file): the ``__go_buildinfo`` section,
  else the first read-write segment;
* PE: the first initialised, read-write data section (addresses are relative to the image
  base).

Hand-written rather than pyelftools/pefile/macholib: three formats, of which only the
segment and section tables are needed, each a few ``struct`` reads with every count, offset
and length checked against the file's size before use. Malformed input raises
:class:`ExecutableFormatError`; nothing reads outside the buffer or allocates more than the
string lengths the caps allow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

MAGIC = b"\xff Go buildinf:"
_ALIGN = 16
_HEADER_SIZE = 32
# Bounds no real executable comes near.
MAX_TABLE_ENTRIES = 65_535
MAX_STRING_BYTES = 16 * 1024**2
MAX_SEARCH_BYTES = 256 * 1024**2

ELF_MAGIC = b"\x7fELF"
PE_MAGIC = b"MZ"
_MACHO_MAGICS = {
    b"\xfe\xed\xfa\xce": (">", 32),
    b"\xfe\xed\xfa\xcf": (">", 64),
    b"\xce\xfa\xed\xfe": ("<", 32),
    b"\xcf\xfa\xed\xfe": ("<", 64),
}
_FAT_MAGIC = b"\xca\xfe\xba\xbe"


class ExecutableFormatError(Exception):
    """The bytes claim to be an executable format but do not hold together."""


def is_executable_magic(head: bytes) -> bool:
    return head.startswith((ELF_MAGIC, PE_MAGIC, _FAT_MAGIC)) or head[:4] in _MACHO_MAGICS


@dataclass(frozen=True, slots=True)
class _Region:
    """A run of the file mapped at a virtual address."""

    addr: int
    offset: int
    size: int

    def contains(self, addr: int) -> bool:
        return self.addr <= addr < self.addr + self.size


class _Image:
    """An executable's mapped regions and where its data (and build info) starts."""

    def __init__(self, data: bytes | memoryview, regions: list[_Region], start: int, size: int) -> None:
        self.data = memoryview(data)
        self.regions = regions
        self.start = start
        self.size = size

    def read(self, addr: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``addr`` (fewer at the end of a region); b"" if unmapped."""
        for region in self.regions:
            if region.contains(addr):
                begin = region.offset + (addr - region.addr)
                end = min(region.offset + region.size, begin + size)
                return bytes(self.data[begin:end])
        return b""


def _unpack(fmt: str, data: bytes | memoryview, offset: int) -> tuple[Any, ...]:
    size = struct.calcsize(fmt)
    if offset < 0 or offset + size > len(data):
        raise ExecutableFormatError(f"header at offset {offset} runs past the end of the file")
    return struct.unpack_from(fmt, data, offset)


def _checked_region(addr: int, offset: int, size: int, length: int) -> _Region:
    if offset < 0 or size < 0 or offset + size > length:
        raise ExecutableFormatError(
            f"a region at file offset {offset} of {size} bytes runs past the end of the file"
        )
    return _Region(addr, offset, size)


def _count(value: int, what: str) -> int:
    if value > MAX_TABLE_ENTRIES:
        raise ExecutableFormatError(f"{value} {what} (more than {MAX_TABLE_ENTRIES})")
    return value


# -- ELF ---------------------------------------------------------------------------------------


def _elf(data: bytes | memoryview) -> _Image:
    if len(data) < 16:
        raise ExecutableFormatError("truncated ELF identification")
    klass, encoding = data[4], data[5]
    if klass not in (1, 2) or encoding not in (1, 2):
        raise ExecutableFormatError(f"ELF class {klass} / data encoding {encoding} unknown")
    end = "<" if encoding == 1 else ">"
    wide = klass == 2
    if wide:
        phoff, shoff = _unpack(end + "QQ", data, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = _unpack(end + "HHHHH", data, 54)
        ph_fmt, sh_fmt = end + "IIQQQQQQ", end + "IIQQQQIIQQ"
    else:
        phoff, shoff = _unpack(end + "II", data, 28)
        phentsize, phnum, shentsize, shnum, shstrndx = _unpack(end + "HHHHH", data, 42)
        ph_fmt, sh_fmt = end + "IIIIIIII", end + "IIIIIIIIII"
    regions: list[_Region] = []
    writable: tuple[int, int] | None = None
    if phnum and phentsize < struct.calcsize(ph_fmt):
        raise ExecutableFormatError(f"ELF program header entries of {phentsize} bytes are too small")
    for index in range(_count(phnum, "ELF program headers")):
        fields = _unpack(ph_fmt, data, phoff + index * phentsize)
        if wide:
            p_type, p_flags, p_offset, p_vaddr, _, p_filesz, p_memsz, _ = fields
        else:
            p_type, p_offset, p_vaddr, _, p_filesz, p_memsz, p_flags, _ = fields
        if p_filesz:
            regions.append(_checked_region(p_vaddr, p_offset, p_filesz, len(data)))
        if writable is None and p_type == 1 and p_flags & 0x3 == 0x2:  # PT_LOAD, W and not X
            writable = (p_vaddr, p_memsz)
    start = _elf_buildinfo_section(data, end, sh_fmt, wide, shoff, shentsize, shnum, shstrndx)
    if start is None:
        start = writable
    if start is None:
        raise ExecutableFormatError("no .go.buildinfo section and no writable data segment")
    return _Image(data, regions, *start)


def _elf_buildinfo_section(
    data: bytes | memoryview,
    end: str,
    sh_fmt: str,
    wide: bool,
    shoff: int,
    shentsize: int,
    shnum: int,
    shstrndx: int,
) -> tuple[int, int] | None:
    if not shnum or not shoff:
        return None  # stripped of section headers: fall back to the segment
    if shentsize < struct.calcsize(sh_fmt) or shstrndx >= shnum:
        raise ExecutableFormatError("malformed ELF section header table")
    sections = []
    for index in range(_count(shnum, "ELF sections")):
        fields = _unpack(sh_fmt, data, shoff + index * shentsize)
        name, sh_type = fields[0], fields[1]
        addr, offset, size = (fields[3], fields[4], fields[5])
        sections.append((name, sh_type, addr, offset, size))
    _, str_type, _, str_offset, str_size = sections[shstrndx]
    if str_type == 8 or str_offset + str_size > len(data):  # SHT_NOBITS: no bytes in the file
        raise ExecutableFormatError("the ELF section name table is not in the file")
    names = bytes(data[str_offset : str_offset + str_size])
    for name_offset, _, addr, _, size in sections:
        if name_offset < len(names) and names[name_offset:].split(b"\0", 1)[0] == b".go.buildinfo":
            return addr, size
    return None


# -- Mach-O ------------------------------------------------------------------------------------


def _macho(data: bytes | memoryview) -> _Image:
    end, bits = _MACHO_MAGICS[bytes(data[:4])]
    header_size = 32 if bits == 64 else 28
    ncmds, sizeofcmds = _unpack(end + "II", data, 16)
    if header_size + sizeofcmds > len(data):
        raise ExecutableFormatError("Mach-O load commands run past the end of the file")
    regions: list[_Region] = []
    section: tuple[int, int] | None = None
    segment: tuple[int, int] | None = None
    offset = header_size
    for _ in range(_count(ncmds, "Mach-O load commands")):
        cmd, cmdsize = _unpack(end + "II", data, offset)
        if cmdsize < 8 or offset + cmdsize > header_size + sizeofcmds:
            raise ExecutableFormatError(f"Mach-O load command of {cmdsize} bytes at offset {offset}")
        if cmd in (0x1, 0x19):  # LC_SEGMENT, LC_SEGMENT_64
            wide = cmd == 0x19
            seg_fmt = end + ("16sQQQQiiII" if wide else "16sIIIIiiII")
            name, vmaddr, vmsize, fileoff, filesize, maxprot, initprot, nsects, _ = _unpack(
                seg_fmt, data, offset + 8
            )
            if name.rstrip(b"\0") != b"__PAGEZERO" and filesize:
                regions.append(_checked_region(vmaddr, fileoff, filesize, len(data)))
            if segment is None and vmaddr and filesize and maxprot == 3 and initprot == 3:
                segment = (vmaddr, vmsize)
            sect_fmt = end + ("16s16sQQIIIIIIII" if wide else "16s16sIIIIIIIII")
            sect_size = struct.calcsize(sect_fmt)
            first = offset + 8 + struct.calcsize(seg_fmt)
            if first + _count(nsects, "Mach-O sections") * sect_size > offset + cmdsize:
                raise ExecutableFormatError("Mach-O sections run past their segment command")
            for index in range(nsects):
                sect = _unpack(sect_fmt, data, first + index * sect_size)
                if sect[0].rstrip(b"\0") == b"__go_buildinfo":
                    section = (sect[2], sect[3])
        offset += cmdsize
    start = section or segment
    if start is None:
        raise ExecutableFormatError("no __go_buildinfo section and no read-write segment")
    return _Image(data, regions, *start)


def _fat(data: bytes | memoryview) -> _Image:
    (count,) = _unpack(">I", data, 4)
    if count == 0 or count > 64:
        raise ExecutableFormatError(f"fat Mach-O file with {count} architectures")
    _, _, offset, size, _ = _unpack(">iiIII", data, 8)
    if offset + size > len(data) or size < 32:
        raise ExecutableFormatError("the first architecture of the fat file runs past its end")
    inner = memoryview(data)[offset : offset + size]
    if bytes(inner[:4]) not in _MACHO_MAGICS:
        raise ExecutableFormatError("the first architecture of the fat file is not Mach-O")
    return _macho(inner)


# -- PE ----------------------------------------------------------------------------------------


def _pe(data: bytes | memoryview) -> _Image:
    (lfanew,) = _unpack("<I", data, 0x3C)
    if bytes(data[lfanew : lfanew + 4]) != b"PE\0\0":
        raise ExecutableFormatError("no PE signature at e_lfanew")
    coff = lfanew + 4
    _, nsections, _, _, _, optional_size, _ = _unpack("<HHIIIHH", data, coff)
    optional = coff + 20
    (magic,) = _unpack("<H", data, optional)
    if magic == 0x10B:
        (image_base,) = _unpack("<I", data, optional + 28)
    elif magic == 0x20B:
        (image_base,) = _unpack("<Q", data, optional + 24)
    else:
        raise ExecutableFormatError(f"PE optional header magic {magic:#x} unknown")
    regions: list[_Region] = []
    start: tuple[int, int] | None = None
    table = optional + optional_size
    for index in range(_count(nsections, "PE sections")):
        _, virtual_size, virtual_addr, raw_size, raw_offset, _, _, _, _, characteristics = _unpack(
            "<8sIIIIIIHHI", data, table + index * 40
        )
        if raw_size:
            regions.append(_checked_region(image_base + virtual_addr, raw_offset, raw_size, len(data)))
        # Initialised data, readable and writable (the alignment bits aside).
        if start is None and virtual_addr and raw_size and characteristics & ~0x600000 == 0xC0000040:
            start = (image_base + virtual_addr, virtual_size)
    if start is None:
        raise ExecutableFormatError("no initialised read-write data section")
    return _Image(data, regions, *start)


# -- the build info ----------------------------------------------------------------------------


def _image(data: bytes | memoryview) -> _Image:
    head = bytes(data[:4])
    if head == ELF_MAGIC:
        return _elf(data)
    if head in _MACHO_MAGICS:
        return _macho(data)
    if head == _FAT_MAGIC:
        return _fat(data)
    if head[:2] == PE_MAGIC:
        return _pe(data)
    raise ExecutableFormatError("not an ELF, Mach-O or PE file")


def _search(image: _Image) -> int | None:
    addr = (image.start + _ALIGN - 1) & ~(_ALIGN - 1)
    limit = image.start + min(image.size, MAX_SEARCH_BYTES)
    chunk_size = 1024 * 1024
    while addr < limit:
        chunk = image.read(addr, min(chunk_size, limit - addr))
        if not chunk:
            return None
        pos = chunk.find(MAGIC)
        while pos >= 0:
            if pos % _ALIGN == 0:
                return addr + pos
            pos = chunk.find(MAGIC, pos + 1)
        # Chunks start aligned, so an aligned magic never straddles two of them.
        addr += len(chunk) - len(chunk) % _ALIGN if len(chunk) >= _ALIGN else len(chunk)
    return None


def _uvarint(data: bytes) -> tuple[int, int]:
    value = shift = 0
    for index, byte in enumerate(data[:10]):
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index + 1
        shift += 7
    raise ExecutableFormatError("malformed length in the Go build info")


def _inline_string(image: _Image, addr: int) -> tuple[str, int]:
    length, used = _uvarint(image.read(addr, 10))
    if length > MAX_STRING_BYTES:
        raise ExecutableFormatError(f"a Go build info string of {length} bytes")
    raw = image.read(addr + used, length)
    if len(raw) < length:
        raise ExecutableFormatError("the Go build info runs past its segment")
    return raw.decode("utf-8", "replace"), addr + used + length


def _pointer_string(image: _Image, addr: int, ptr_size: int, end: str) -> str:
    fmt = end + ("I" if ptr_size == 4 else "Q")
    header = image.read(addr, 2 * ptr_size)
    if len(header) < 2 * ptr_size:
        return ""
    (data_addr,) = struct.unpack_from(fmt, header, 0)
    (length,) = struct.unpack_from(fmt, header, ptr_size)
    if length > MAX_STRING_BYTES:
        raise ExecutableFormatError(f"a Go build info string of {length} bytes")
    raw = image.read(data_addr, length)
    return raw.decode("utf-8", "replace") if len(raw) == length else ""


def read_build_info(data: bytes | memoryview) -> tuple[str, str] | None:
    """``(go version, module info)`` of a Go executable; None for an executable that is not
    Go; :class:`ExecutableFormatError` for a malformed one."""
    image = _image(data)
    addr = _search(image)
    if addr is None:
        return None
    header = image.read(addr, _HEADER_SIZE)
    if len(header) < _HEADER_SIZE:
        raise ExecutableFormatError("the Go build info header is cut short")
    ptr_size, flags = header[14], header[15]
    if flags & 0x2:  # Go 1.18+: the strings follow inline
        version, after = _inline_string(image, addr + _HEADER_SIZE)
        modinfo, _ = _inline_string(image, after)
    else:
        if ptr_size not in (4, 8):
            raise ExecutableFormatError(f"Go build info pointer size {ptr_size}")
        end = ">" if flags & 0x1 else "<"
        fmt = end + ("I" if ptr_size == 4 else "Q")
        (version_addr,) = struct.unpack_from(fmt, header, 16)
        (modinfo_addr,) = struct.unpack_from(fmt, header, 16 + ptr_size)
        version = _pointer_string(image, version_addr, ptr_size, end)
        modinfo = _pointer_string(image, modinfo_addr, ptr_size, end)
    if not version:
        return None
    # The module info sits between two 16-byte sentinels.
    modinfo = modinfo[16:-16] if len(modinfo) >= 33 and modinfo[-17] == "\n" else ""
    return version, modinfo
