"""RPM databases: real header blobs and a real Berkeley DB (tests/data/rpm, written by rpm,
rpmbuild and db5.3_load, see its regenerate.py), an SQLite database laid out as rpm lays it
out, an NDB file laid out per rpm's rpmpkg.c, and hostile variants of each. The full path —
rpm writing rpmdb.sqlite inside a buildah image — is tests/integration/test_rpm_image.py."""

from __future__ import annotations

import json
import sqlite3
import struct
from pathlib import Path

import pytest

from shipflow.sbom import catalog_directory
from shipflow.sbom.catalogers.rpmdb import RpmDbError, bdb_blobs, ndb_blobs, sqlite_blobs
from shipflow.sbom.catalogers.rpmheader import HeaderError, parse_header, split_source_rpm
from shipflow.sbom.model import Distro
from support.paths import DATA_DIR

RPM = DATA_DIR / "rpm"
EXPECTED = {e["name"]: e for e in json.loads((RPM / "expected.json").read_text())}
HEADERS = {path.stem: path.read_bytes() for path in sorted((RPM / "headers").glob("*.hdr"))}
ROCKY = 'NAME="Rocky Linux"\nID="rocky"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n'


def sqlite_db(path: Path, blobs: list[bytes]) -> Path:
    """An rpmdb.sqlite as rpm 4.16+ creates it: a Packages table of (hnum, blob)."""
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    connection.execute("CREATE TABLE Name (key TEXT NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL)")
    connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    connection.commit()
    connection.close()
    return path


def ndb_file(blobs: list[bytes]) -> bytes:
    """Packages.db in rpm's NDB layout: a 32-byte header (``RpmP``, version 0, generation,
    slot pages), 16-byte slots (``Slot``, package index, block offset, block count) filling
    the slot pages, then 16-byte-aligned blobs (``BlbS``, index, checksum, length, data)."""
    slot_pages = 1
    data = bytearray(struct.pack("<IIII", 0x506D7052, 0, 1, slot_pages) + bytes(16))
    blob_area = bytearray()
    slots = []
    for index, blob in enumerate(blobs, start=1):
        block = (slot_pages * 4096 + len(blob_area)) // 16
        record = struct.pack("<IIII", 0x53626C42, index, 0, len(blob)) + blob
        record += bytes(-len(record) % 16 + 16)  # tail space, as rpm leaves it
        slots.append(struct.pack("<IIII", 0x746F6C53, index, block, len(record) // 16))
        blob_area += record
    for slot in range(2, 4096 // 16):
        data += slots[slot - 2] if slot - 2 < len(slots) else struct.pack("<IIII", 0x746F6C53, 0, 0, 0)
    return bytes(data + blob_area)


def test_real_headers_decode_as_rpm_reads_them() -> None:
    for name, blob in HEADERS.items():
        header = parse_header(blob)
        expected = EXPECTED[name]
        assert (header.name, header.epoch, header.version, header.release, header.arch) == (
            expected["name"],
            expected["epoch"],
            expected["version"],
            expected["release"],
            expected["arch"],
        )
        assert header.source_rpm == expected["sourcerpm"] and header.license == expected["license"]


@pytest.mark.parametrize("layout", ["var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"])
def test_sqlite_database_packages_source_names_and_purls(tmp_path: Path, layout: str) -> None:
    (tmp_path / layout).parent.mkdir(parents=True)
    sqlite_db(tmp_path / layout, list(HEADERS.values()))
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text(ROCKY)
    inventory = catalog_directory(tmp_path)
    assert (
        inventory.distro == Distro("rocky", "9.3", "Rocky Linux 9.3 (Blue Onyx)") and inventory.not_read == []
    )
    found = {p.name: p for p in inventory.packages}
    hello, libs = found["shipflow-hello"], found["shipflow-tools-libs"]
    assert hello.version == "2:1.2.3-4.el9" and hello.source_version == "2:1.2.3-4.el9"
    assert hello.purl == "pkg:rpm/rocky/shipflow-hello@1.2.3-4.el9?arch=noarch&distro=rocky-9.3&epoch=2"
    assert hello.licenses == ("MIT AND (Apache-2.0 OR BSD-3-Clause)",)
    assert (libs.source_name, libs.source_version) == ("shipflow-tools", "3.1-7.el9")
    assert (
        libs.purl
        == "pkg:rpm/rocky/shipflow-tools-libs@3.1-7.el9?arch=x86_64&distro=rocky-9.3&upstream=shipflow-tools"
    )
    assert {p.locations[0].path for p in inventory.packages} == {layout}


def test_real_berkeley_db_written_by_db_load() -> None:
    blobs = bdb_blobs((RPM / "Packages").read_bytes())
    assert sorted(parse_header(b).name for b in blobs) == sorted(EXPECTED)


def test_sqlite_wal_with_uncheckpointed_rows_is_read(tmp_path: Path) -> None:
    db = tmp_path / "rpmdb.sqlite"
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)")
    connection.commit()
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    main_only = db.read_bytes()
    connection.execute("INSERT INTO Packages (blob) VALUES (?)", (HEADERS["shipflow-hello"],))
    connection.commit()
    wal = Path(f"{db}-wal").read_bytes()
    main = db.read_bytes()
    connection.close()
    assert main == main_only and wal  # the row lives only in the WAL
    assert sqlite_blobs(main) == []
    assert [parse_header(b).name for b in sqlite_blobs(main, wal)] == ["shipflow-hello"]


def test_ndb_database() -> None:
    blobs = ndb_blobs(ndb_file(list(HEADERS.values())))
    assert sorted(parse_header(b).name for b in blobs) == sorted(EXPECTED)


def test_directory_with_two_formats_reads_the_one_rpm_would(tmp_path: Path) -> None:
    rpm_dir = tmp_path / "var/lib/rpm"
    rpm_dir.mkdir(parents=True)
    sqlite_db(rpm_dir / "rpmdb.sqlite", [HEADERS["shipflow-hello"]])
    (rpm_dir / "Packages").write_bytes((RPM / "Packages").read_bytes())  # left over from before
    inventory = catalog_directory(tmp_path)
    assert [p.name for p in inventory.packages] == ["shipflow-hello"]


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("bash-5.1.8-6.el9.src.rpm", ("bash", "5.1.8-6.el9")),
        ("python3.9-3.9.18-1.el9_3.1.src.rpm", ("python3.9", "3.9.18-1.el9_3.1")),
        ("kernel-rt-5.14.0-362.8.1.el9_3.nosrc.rpm", ("kernel-rt", "5.14.0-362.8.1.el9_3")),
        ("not-a-source-rpm.rpm", None),
        ("x.src.rpm", None),
    ],
)
def test_source_rpm_file_names(filename: str, expected: tuple[str, str] | None) -> None:
    assert split_source_rpm(filename) == expected


# -- hostile headers and databases -----------------------------------------------------------


def _damaged(blob: bytes, index: int, field: int, value: int) -> bytes:
    """The header with one field (0 tag, 1 type, 2 offset, 3 count) of entry ``index`` set."""
    out = bytearray(blob)
    struct.pack_into(">I", out, 8 + index * 16 + field * 4, value & 0xFFFFFFFF)
    return bytes(out)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda b: b[:6], "shorter than its 8-byte preamble"),
        (lambda b: struct.pack(">II", 0x10000, 16) + b[8:], "index entries"),
        (lambda b: struct.pack(">II", 3, 2**29) + b[8:], "bytes of header data"),
        (lambda b: b[: len(b) - 40], "longer than its"),
        (lambda b: struct.pack(">II", 0, 0), "index entries"),
        (lambda b: _damaged(b, 1, 1, 42), "unknown type"),
        (lambda b: _damaged(b, 1, 2, 0x7FFFFFF0), "outside the header data"),
        (lambda b: _damaged(b, 1, 2, -5), "outside the header data"),
    ],
)
def test_hostile_header_blobs_raise_header_errors(make: object, reason: str) -> None:
    with pytest.raises(HeaderError, match=reason):
        parse_header(make(HEADERS["shipflow-hello"]))  # type: ignore[operator]


def test_unterminated_string_and_huge_counts() -> None:
    blob = HEADERS["shipflow-hello"]
    il, dl = struct.unpack_from(">II", blob, 0)
    # Point every string entry at the last data byte, and make it non-NUL.
    damaged = bytearray(blob)
    damaged[-1] = 0x41
    for index in range(il):
        if struct.unpack_from(">I", damaged, 8 + index * 16 + 4)[0] == 6:
            struct.pack_into(">i", damaged, 8 + index * 16 + 8, dl - 1)
    with pytest.raises(HeaderError, match="not terminated"):
        parse_header(bytes(damaged))
    for index in range(il):
        if struct.unpack_from(">I", blob, 8 + index * 16 + 4)[0] == 4:  # an INT32 tag
            with pytest.raises(HeaderError, match="do not fit"):
                parse_header(_damaged(blob, index, 3, 0xFFFFFFFF))
            break


def test_hostile_berkeley_db_pages() -> None:
    good = (RPM / "Packages").read_bytes()
    page_size = struct.unpack_from("<I", good, 20)[0]
    with pytest.raises(RpmDbError, match="not a Berkeley DB hash"):
        bdb_blobs(bytes(512))
    with pytest.raises(RpmDbError, match="page size"):
        bdb_blobs(good[:20] + struct.pack("<I", 1000) + good[24:])
    with pytest.raises(RpmDbError, match="names page"):
        bdb_blobs(good[:32] + struct.pack("<I", 10**6) + good[36:])
    # A cycle in an overflow chain: every overflow page points at itself.
    looped = bytearray(good)
    for number in range(1, len(good) // page_size):
        page = number * page_size
        if looped[page + 25] == 7:
            struct.pack_into("<I", looped, page + 16, number)
    with pytest.raises(RpmDbError, match="a cycle"):
        bdb_blobs(bytes(looped))


def test_hostile_ndb_and_sqlite_files(tmp_path: Path) -> None:
    good = ndb_file(list(HEADERS.values()))
    with pytest.raises(RpmDbError, match="slot pages"):
        ndb_blobs(good[:12] + struct.pack("<I", 5000) + good[16:])
    with pytest.raises(RpmDbError, match="bad slot magic"):
        ndb_blobs(good[:32] + b"XXXX" + good[36:])
    with pytest.raises(RpmDbError, match="blob outside the file"):
        ndb_blobs(good[:40] + struct.pack("<I", 10**8) + good[44:])
    with pytest.raises(RpmDbError, match="not an SQLite"):
        sqlite_blobs(b"SQLite format 2\0" + bytes(100))
    view_db = tmp_path / "view.sqlite"
    connection = sqlite3.connect(view_db)
    connection.execute("CREATE TABLE Other (blob BLOB)")
    connection.execute("CREATE VIEW Packages AS SELECT 1 AS hnum, blob FROM Other")
    connection.commit()
    connection.close()
    with pytest.raises(RpmDbError, match="no Packages table"):
        sqlite_blobs(view_db.read_bytes())
    garbage = bytearray(sqlite_db(tmp_path / "g.sqlite", list(HEADERS.values())).read_bytes())
    garbage[200:4000] = bytes(range(256)) * 14 + bytes(200)  # overwrite the schema page
    with pytest.raises(RpmDbError, match=r"SQLite|no Packages table"):
        sqlite_blobs(bytes(garbage))


def test_a_broken_database_is_not_read_and_broken_headers_are_counted(tmp_path: Path) -> None:
    rpm_dir = tmp_path / "var/lib/rpm"
    rpm_dir.mkdir(parents=True)
    (rpm_dir / "Packages").write_bytes(b"\0" * 8192)
    inventory = catalog_directory(tmp_path)
    assert inventory.packages == [] and "neither an SQLite" in inventory.not_read[0].reason
    bad = [b"\0\0\0\x01" + bytes(20)] * 8
    sqlite_db(tmp_path / "var/lib/rpm/rpmdb.sqlite", [HEADERS["shipflow-hello"], *bad])
    inventory = catalog_directory(tmp_path)
    assert [p.name for p in inventory.packages] == ["shipflow-hello"]
    reasons = [n.reason for n in inventory.not_read]
    assert sum("malformed" in r for r in reasons) == 6  # five listed, then a count of all eight
    assert "8 package headers in all are malformed" in reasons
