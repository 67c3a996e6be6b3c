"""RPM header blobs, as the package databases store them (rpm's ``header.c``/``hdrblob``).

A blob is ``il`` (number of index entries) and ``dl`` (data length), both 32-bit big-endian,
then ``il`` 16-byte index entries (tag, type, offset, count) and ``dl`` bytes of data. Every
number is checked before use, as rpm's own ``hdrblobVerifyInfo`` does: the counts against
rpm's limits, each entry's type, and its data range (and alignment) against ``dl``; strings
must end inside the data. Only the tags a package record needs are decoded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# rpm's limits (header_internal.h): at most 0xffff tags and 256 MiB of data.
MAX_TAGS = 0xFFFF
MAX_DATA = 256 * 1024**2

TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_LICENSE = 1014
TAG_VENDOR = 1011
TAG_ARCH = 1022
TAG_SOURCERPM = 1044
TAG_MODULARITYLABEL = 5096
_WANTED = frozenset(
    {
        TAG_NAME,
        TAG_VERSION,
        TAG_RELEASE,
        TAG_EPOCH,
        TAG_LICENSE,
        TAG_VENDOR,
        TAG_ARCH,
        TAG_SOURCERPM,
        TAG_MODULARITYLABEL,
    }
)

# type -> (size of one element, alignment); strings are variable-size.
_CHAR, _INT8, _INT16, _INT32, _INT64, _STRING, _BIN, _STRING_ARRAY, _I18NSTRING = range(1, 10)
_FIXED = {_CHAR: (1, 1), _INT8: (1, 1), _INT16: (2, 2), _INT32: (4, 4), _INT64: (8, 8), _BIN: (1, 1)}
_STRINGS = frozenset({_STRING, _STRING_ARRAY, _I18NSTRING})


class HeaderError(Exception):
    """A header blob that does not hold together."""


@dataclass(frozen=True, slots=True)
class RpmHeader:
    name: str
    version: str
    release: str
    epoch: int | None
    arch: str | None
    source_rpm: str | None
    license: str | None
    vendor: str | None
    modularity_label: str | None


def _string(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    if end < 0:
        raise HeaderError(f"string at data offset {offset} is not terminated")
    return data[offset:end].decode("utf-8", "replace")


def parse_header(blob: bytes) -> RpmHeader:
    if len(blob) < 8:
        raise HeaderError("header blob shorter than its 8-byte preamble")
    il, dl = struct.unpack_from(">II", blob, 0)
    if il < 1 or il > MAX_TAGS:
        raise HeaderError(f"{il} index entries (rpm allows 1..{MAX_TAGS})")
    if dl > MAX_DATA:
        raise HeaderError(f"{dl} bytes of header data (rpm allows {MAX_DATA})")
    data_start = 8 + il * 16
    if data_start + dl > len(blob):
        raise HeaderError(
            f"header of {il} entries and {dl} data bytes is longer than its {len(blob)}-byte blob"
        )
    data = blob[data_start : data_start + dl]
    values: dict[int, str | int] = {}
    for index in range(il):
        tag, kind, offset, count = struct.unpack_from(">iIiI", blob, 8 + index * 16)
        if kind > _I18NSTRING:
            raise HeaderError(f"tag {tag} has unknown type {kind}")
        if offset < 0 or (offset >= max(dl, 1) and kind != 0):
            raise HeaderError(f"tag {tag} points outside the header data ({offset})")
        if kind in _FIXED:
            size, align = _FIXED[kind]
            if offset % align or count > dl or offset + size * count > dl:
                raise HeaderError(f"tag {tag}: {count} values of {size} bytes at {offset} do not fit")
        elif kind in _STRINGS and (count == 0 or count > dl):
            raise HeaderError(f"tag {tag}: {count} strings")
        if tag not in _WANTED:
            continue
        if kind in (_STRING, _I18NSTRING, _STRING_ARRAY):
            values[tag] = _string(data, offset)
        elif kind == _INT32 and count >= 1:
            values[tag] = struct.unpack_from(">i", data, offset)[0]
    name, version, release = values.get(TAG_NAME), values.get(TAG_VERSION), values.get(TAG_RELEASE)
    if not isinstance(name, str) or not isinstance(version, str) or not isinstance(release, str):
        raise HeaderError("no NAME, VERSION and RELEASE strings")
    epoch = values.get(TAG_EPOCH)

    def text(tag: int) -> str | None:
        value = values.get(tag)
        return value if isinstance(value, str) and value else None

    return RpmHeader(
        name=name,
        version=version,
        release=release,
        epoch=epoch if isinstance(epoch, int) else None,
        arch=text(TAG_ARCH),
        source_rpm=text(TAG_SOURCERPM),
        license=text(TAG_LICENSE),
        vendor=text(TAG_VENDOR),
        modularity_label=text(TAG_MODULARITYLABEL),
    )


def split_source_rpm(filename: str) -> tuple[str, str] | None:
    """``bash-5.1.8-6.el9.src.rpm`` -> (``bash``, ``5.1.8-6.el9``): name, version-release."""
    stem = filename
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    else:
        return None
    name_version, _, release = stem.rpartition("-")
    name, _, version = name_version.rpartition("-")
    if not name or not version or not release:
        return None
    return name, f"{version}-{release}"
