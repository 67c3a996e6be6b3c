"""The layer reader's fast tar-header decoder agrees with :mod:`tarfile`, field for field.

``shipflow.sbom.layers._header_fast`` decodes ordinary headers itself and hands anything else
back to ``tarfile.TarInfo.frombuf``. Each header here is written by :mod:`tarfile` itself (every
format, long names, links, devices, big numbers) or is such a header with bytes changed; for
each, the fast decoder either declines (None) or builds exactly what tarfile builds.
"""

from __future__ import annotations

import io
import random
import tarfile

import pytest

from shipflow.sbom.layers import _header_fast, _SafeTarInfo

FIELDS = (
    "name",
    "mode",
    "uid",
    "gid",
    "size",
    "mtime",
    "chksum",
    "type",
    "linkname",
    "uname",
    "gname",
    "devmajor",
    "devminor",
)
ENC, ERRORS = "utf-8", "surrogateescape"


def _members() -> list[tarfile.TarInfo]:
    made: list[tarfile.TarInfo] = []

    def add(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mtime = 1_700_000_000
        for key, value in fields.items():
            setattr(info, key, value)
        made.append(info)

    add("etc/os-release", size=123, mode=0o644, uid=0, gid=0, uname="root", gname="root")
    add("usr/bin", tarfile.DIRTYPE, mode=0o755)
    add("usr/lib/x86_64-linux-gnu/libc.so.6", tarfile.SYMTYPE, linkname="libc-2.36.so")
    add("usr/share/doc/hard", tarfile.LNKTYPE, linkname="usr/share/doc/original")
    add("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3)
    add("run/fifo", tarfile.FIFOTYPE)
    add("var/lib/dpkg/status", size=0o7777777, uid=65534, gid=65534, uname="nobody", gname="nogroup")
    # ustar splits this into prefix + name; GNU and pax write a long-name record first
    add("usr/share/" + "deep/" * 25 + "file.txt", size=1)
    add("opt/" + "x" * 150, size=2)
    add("usr/share/locale/fr/LC_MESSAGES/caf\u00e9.mo", size=3)
    add("big", size=9 * 1024**3)  # over 8 GiB: base-256 (GNU) or a pax size record
    add("uid", uid=3_000_000, gid=3_000_001)  # over 0o7777777
    add(".wh.removed")
    return made


def _headers() -> list[bytes]:
    """Every 512-byte header block tarfile writes for the members, in each format."""
    blocks: list[bytes] = []
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        for member in _members():
            try:
                data = member.tobuf(fmt, ENC, ERRORS)
            except ValueError:
                continue  # ustar cannot hold it (too long, too big): nothing to compare
            blocks += [data[i : i + 512] for i in range(0, len(data), 512)]
    return blocks


def _fields(info: tarfile.TarInfo) -> dict[str, object]:
    return {name: getattr(info, name) for name in FIELDS}


def _tarfile_says(block: bytes) -> tarfile.TarInfo | None:
    try:
        return tarfile.TarInfo.frombuf(block, ENC, ERRORS)
    except tarfile.HeaderError:
        return None


def test_written_headers_decode_as_tarfile_decodes_them() -> None:
    blocks = _headers()
    decoded = 0
    for block in blocks:
        ours = _header_fast(tarfile.TarInfo, block, ENC, ERRORS)
        theirs = _tarfile_says(block)
        if ours is None:
            continue
        assert theirs is not None, block
        assert _fields(ours) == _fields(theirs)
        decoded += 1
    # the fast path is the common one: every header but base-256 numbers and data blocks
    assert decoded >= len(_members()) * 2


def test_base256_and_end_blocks_go_to_tarfile() -> None:
    big = tarfile.TarInfo("big")
    big.size = 9 * 1024**3
    gnu = big.tobuf(tarfile.GNU_FORMAT, ENC, ERRORS)
    assert gnu[124] == 0o200  # base-256 size
    assert _header_fast(tarfile.TarInfo, gnu[:512], ENC, ERRORS) is None
    assert _header_fast(tarfile.TarInfo, bytes(512), ENC, ERRORS) is None
    assert _header_fast(tarfile.TarInfo, b"x" * 100, ENC, ERRORS) is None


def test_signed_checksum_and_sparse_go_to_tarfile() -> None:
    info = tarfile.TarInfo("caf\u00e9")
    block = bytearray(info.tobuf(tarfile.USTAR_FORMAT, ENC, ERRORS)[:512])
    signed = 256 + sum(b - 256 if b > 127 else b for b in block[:148] + block[156:])
    assert signed != 256 + sum(block[:148] + block[156:])  # the name's UTF-8 bytes are > 127
    block[148:156] = b"%06o\0 " % signed
    assert _tarfile_says(bytes(block)) is not None  # tarfile accepts the signed sum (old Sun tars)
    assert _header_fast(tarfile.TarInfo, bytes(block), ENC, ERRORS) is None
    sparse = tarfile.TarInfo("sparse")
    sparse.type = tarfile.GNUTYPE_SPARSE
    header = sparse.tobuf(tarfile.GNU_FORMAT, ENC, ERRORS)[:512]
    assert _header_fast(tarfile.TarInfo, header, ENC, ERRORS) is None


@pytest.mark.parametrize("seed", range(4))
def test_damaged_headers_never_disagree(seed: int) -> None:
    """Bytes flipped in real headers (checksum refreshed, so tarfile reads the fields): the fast
    decoder declines or agrees, never decodes differently or accepts what tarfile refuses."""
    rng = random.Random(seed)
    alphabet = b"01234567 \0\x80\xff-+_x/\x1c\t"
    blocks = _headers()
    for _ in range(1500):
        block = bytearray(rng.choice(blocks))
        for _ in range(rng.randint(1, 4)):
            block[rng.randrange(512)] = rng.choice(alphabet)
        if rng.random() < 0.8:
            block[148:156] = b" " * 8
            block[148:156] = b"%06o\0 " % (sum(block) & 0o777777)
        ours = _header_fast(tarfile.TarInfo, bytes(block), ENC, ERRORS)
        if ours is not None:
            theirs = _tarfile_says(bytes(block))
            assert theirs is not None, bytes(block)
            assert _fields(ours) == _fields(theirs)


def test_archives_read_through_the_safe_class_match_tarfile() -> None:
    """Whole archives in each format list the same members through ``_SafeTarInfo``."""
    for fmt in (tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as archive:
            for member in _members():
                if member.size > 4 * 1024**2:
                    continue  # the 9 GiB member: its header is compared above
                try:
                    archive.addfile(member, io.BytesIO(b"x" * member.size))
                except ValueError:
                    continue  # ustar cannot hold it
        data = buf.getvalue()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as plain:
            expected = [_fields(m) for m in plain.getmembers()]
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:", tarinfo=_SafeTarInfo) as safe:
            got = [_fields(m) for m in safe.getmembers()]
        assert got == expected and len(got) >= 8
