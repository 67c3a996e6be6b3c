"""The three on-disk formats of rpm's package database; each yields the header blobs.

* ``rpmdb.sqlite`` (rpm ≥ 4.16; RHEL 9, Fedora ≥ 33, Amazon Linux 2023): table
  ``Packages(hnum, blob)``. Opened by SQLite itself from a private copy (with its
  ``-wal`` file when one was left behind), in defensive mode: no trusted schema, no memory
  maps, cell-size checks, a size limit on every value, and a progress handler that stops a
  query after :data:`MAX_SQLITE_STEPS` virtual-machine steps.
* ``Packages`` (Berkeley DB hash, rpm < 4.16; RHEL/CentOS 7 and 8, Amazon Linux 2): read
  here page by page — the meta page (magic ``0x061561``, either byte order), then each hash
  page's item pairs; a value is a header when it is stored on overflow pages
  (``H_OFFPAGE``), whose chain is followed with a page budget and cycle detection. The other
  items (the instance counter under key 0) are not headers.
* ``Packages.db`` (rpm's "ndb", SUSE): the header (magic ``RpmP``), slot pages of 16-byte
  slots (``Slot``, package index, block offset, block count) and blobs (``BlbS`` header with
  index, checksum and length) at 16-byte block offsets.

Every count, offset and length is checked against the file before use; a violation raises
:class:`RpmDbError`, which the cataloger reports as "not read".
"""

from __future__ import annotations

import sqlite3
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

MAX_SQLITE_STEPS = 200_000_000
MAX_BLOB_BYTES = 256 * 1024**2
_SQLITE_MAGIC = b"SQLite format 3\0"

_BDB_HASH_MAGIC = 0x061561
_BDB_PAGE_SIZES = frozenset(1 << n for n in range(9, 17))  # 512 .. 65536
_P_HASH_UNSORTED, _P_OVERFLOW, _P_HASH = 2, 7, 13
_H_OFFPAGE = 3
_BDB_PAGE_HEADER = 26

_NDB_MAGIC = 0x506D7052  # "RpmP" little-endian
_NDB_SLOT_MAGIC = 0x746F6C53  # "Slot"
_NDB_BLOB_MAGIC = 0x53626C42  # "BlbS"
_NDB_PAGE = 4096
_NDB_BLOCK = 16
_NDB_MAX_SLOT_PAGES = 2048


class RpmDbError(Exception):
    """A package database file that cannot be read safely."""


# -- SQLite ------------------------------------------------------------------------------------


def sqlite_blobs(database: bytes, wal: bytes | None = None) -> list[bytes]:
    if not database.startswith(_SQLITE_MAGIC):
        raise RpmDbError("not an SQLite 3 database")
    with tempfile.TemporaryDirectory(prefix="shipflow-rpmdb-") as tmp:
        path = Path(tmp) / "rpmdb.sqlite"
        path.write_bytes(database)
        if wal:
            Path(f"{path}-wal").write_bytes(wal)
        try:
            return _query_sqlite(path)
        except sqlite3.Error as exc:
            raise RpmDbError(f"SQLite: {exc}") from exc


def _query_sqlite(path: Path) -> list[bytes]:
    connection = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=True)
    try:
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_BLOB_BYTES)
        connection.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 10_000)
        steps = [0]

        def progress() -> int:
            steps[0] += 1
            return 1 if steps[0] > MAX_SQLITE_STEPS // 1000 else 0

        connection.set_progress_handler(progress, 1000)
        for pragma in ("trusted_schema=OFF", "cell_size_check=ON", "mmap_size=0"):
            connection.execute(f"PRAGMA {pragma}")
        kind = connection.execute(
            "SELECT type FROM sqlite_master WHERE name = 'Packages' COLLATE NOCASE"
        ).fetchone()
        if kind is None or kind[0] != "table":
            raise RpmDbError("no Packages table")
        rows = connection.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
    finally:
        connection.close()
    return [bytes(blob) for _, blob in rows if isinstance(blob, (bytes, memoryview))]


# -- Berkeley DB -------------------------------------------------------------------------------


def bdb_blobs(data: bytes) -> list[bytes]:
    if len(data) < 512:
        raise RpmDbError("shorter than a Berkeley DB meta page")
    for end in ("<", ">"):
        (magic,) = struct.unpack_from(end + "I", data, 12)
        if magic == _BDB_HASH_MAGIC:
            break
    else:
        raise RpmDbError("not a Berkeley DB hash database (magic)")
    (page_size,) = struct.unpack_from(end + "I", data, 20)
    (last_page,) = struct.unpack_from(end + "I", data, 32)
    if page_size not in _BDB_PAGE_SIZES:
        raise RpmDbError(f"page size {page_size} is not a Berkeley DB page size")
    pages = len(data) // page_size
    if last_page >= pages:
        raise RpmDbError(f"meta page names page {last_page}, the file has {pages}")
    blobs: list[bytes] = []
    for number in range(1, last_page + 1):
        page = data[number * page_size : (number + 1) * page_size]
        if page[25] not in (_P_HASH, _P_HASH_UNSORTED):
            continue
        (entries,) = struct.unpack_from(end + "H", page, 20)
        if _BDB_PAGE_HEADER + 2 * entries > page_size:
            raise RpmDbError(f"page {number}: {entries} items do not fit")
        for index in range(1, entries, 2):  # items are key/value pairs: values are odd
            (offset,) = struct.unpack_from(end + "H", page, _BDB_PAGE_HEADER + 2 * index)
            if offset >= page_size:
                raise RpmDbError(f"page {number}: item {index} at {offset} is outside the page")
            if page[offset] != _H_OFFPAGE:
                continue  # an on-page value: not a header (the instance counter)
            if offset + 12 > page_size:
                raise RpmDbError(f"page {number}: overflow reference at {offset} runs past the page")
            first, length = struct.unpack_from(end + "II", page, offset + 4)
            blobs.append(_bdb_overflow(data, end, page_size, pages, first, length))
    return blobs


def _bdb_overflow(data: bytes, end: str, page_size: int, pages: int, first: int, length: int) -> bytes:
    if length > MAX_BLOB_BYTES:
        raise RpmDbError(f"a value of {length} bytes")
    parts: list[bytes] = []
    got = 0
    seen: set[int] = set()
    number = first
    while number:
        if number >= pages or number in seen:
            raise RpmDbError(f"overflow chain reaches page {number} (outside the file, or a cycle)")
        seen.add(number)
        page = data[number * page_size : (number + 1) * page_size]
        if page[25] != _P_OVERFLOW:
            raise RpmDbError(f"page {number} in an overflow chain is not an overflow page")
        (next_page,) = struct.unpack_from(end + "I", page, 16)
        (used,) = struct.unpack_from(end + "H", page, 22)
        if _BDB_PAGE_HEADER + used > page_size:
            raise RpmDbError(f"overflow page {number} claims {used} bytes")
        parts.append(page[_BDB_PAGE_HEADER : _BDB_PAGE_HEADER + used])
        got += used
        if got > length:
            raise RpmDbError("overflow chain is longer than its value")
        number = next_page
    if got != length:
        raise RpmDbError(f"overflow chain holds {got} of {length} bytes")
    return b"".join(parts)


# -- NDB ---------------------------------------------------------------------------------------


def ndb_blobs(data: bytes) -> list[bytes]:
    if len(data) < 32:
        raise RpmDbError("shorter than an NDB header")
    magic, version, _, slot_pages = struct.unpack_from("<IIII", data, 0)
    if magic != _NDB_MAGIC or version != 0:
        raise RpmDbError("not an rpm NDB database (magic/version)")
    if not 0 < slot_pages <= _NDB_MAX_SLOT_PAGES or slot_pages * _NDB_PAGE > len(data):
        raise RpmDbError(f"{slot_pages} slot pages do not fit the file")
    blobs: list[bytes] = []
    # The 32-byte database header takes the place of the first two slots.
    for slot_offset in range(32, slot_pages * _NDB_PAGE, 16):
        slot_magic, index, block, blocks = struct.unpack_from("<IIII", data, slot_offset)
        if slot_magic != _NDB_SLOT_MAGIC:
            raise RpmDbError(f"bad slot magic at offset {slot_offset}")
        if index == 0:
            continue  # a free slot
        start = block * _NDB_BLOCK
        if start + 16 > len(data) or blocks * _NDB_BLOCK > len(data) - start:
            raise RpmDbError(f"package {index}: blob outside the file")
        blob_magic, blob_index, _, length = struct.unpack_from("<IIII", data, start)
        if blob_magic != _NDB_BLOB_MAGIC or blob_index != index:
            raise RpmDbError(f"package {index}: no blob header where its slot points")
        if 16 + length > blocks * _NDB_BLOCK:
            raise RpmDbError(f"package {index}: a {length}-byte blob in {blocks} blocks")
        blobs.append(data[start + 16 : start + 16 + length])
    return blobs


def detect(data: bytes) -> str | None:
    """ "sqlite", "bdb" or "ndb" from the file's first bytes."""
    if data.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if len(data) >= 16 and struct.unpack_from("<I", data, 0)[0] == _NDB_MAGIC:
        return "ndb"
    if len(data) >= 16 and _BDB_HASH_MAGIC in struct.unpack_from("<I", data, 12) + struct.unpack_from(
        ">I", data, 12
    ):
        return "bdb"
    return None


def blobs(data: bytes, wal: bytes | None = None) -> Iterator[bytes]:
    kind = detect(data)
    if kind == "sqlite":
        yield from sqlite_blobs(data, wal)
    elif kind == "bdb":
        yield from bdb_blobs(data)
    elif kind == "ndb":
        yield from ndb_blobs(data)
    else:
        raise RpmDbError("neither an SQLite, a Berkeley DB hash nor an NDB rpm database")
