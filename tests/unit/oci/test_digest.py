"""Digest: parsing, validation with precise messages, hashing helpers."""

from __future__ import annotations

import hashlib

import pytest

from shipflow.errors import EXIT_USAGE, DigestError
from shipflow.oci.digest import Digest

HEX64 = "0123456789abcdef" * 4
HEX128 = HEX64 * 2


def test_parse_sha256_and_sha512() -> None:
    assert Digest.parse(f"sha256:{HEX64}") == Digest("sha256", HEX64)
    digest = Digest.parse(f"sha512:{HEX128}")
    assert (digest.algorithm, digest.hex) == ("sha512", HEX128)
    assert str(digest) == f"sha512:{HEX128}"


def test_of_matches_hashlib() -> None:
    data = b"shipflow"
    assert Digest.of(data).hex == hashlib.sha256(data).hexdigest()
    assert Digest.of(data, "sha512").hex == hashlib.sha512(data).hexdigest()
    assert Digest.of(data).matches(data)
    assert not Digest.of(data).matches(data + b" ")


def test_hasher_streams_to_the_same_digest() -> None:
    digest = Digest.of(b"abcdef")
    hasher = digest.hasher()
    for part in (b"ab", b"cd", b"ef"):
        hasher.update(part)
    assert hasher.hexdigest() == digest.hex


def test_tag_form_and_short() -> None:
    digest = Digest("sha256", HEX64)
    assert digest.tag_form == f"sha256-{HEX64}"
    assert digest.short == "sha256:0123456789ab"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "malformed digest '': expected ALGORITHM:HEX"),
        (HEX64, f"malformed digest '{HEX64}': expected ALGORITHM:HEX"),
        (f"md5:{HEX64[:32]}", f"unsupported digest algorithm 'md5' in 'md5:{HEX64[:32]}'"),
        ("sha256:abc", "malformed sha256 digest 'sha256:abc': expected 64 lowercase hex characters"),
        (f"sha256:{HEX64}0", "expected 64 lowercase hex characters"),
        (f"sha512:{HEX64}", "malformed sha512 digest"),
        (f"sha256:{HEX64.upper()}", "expected 64 lowercase hex characters"),
        (f"sha256:{HEX64[:-1]}g", "expected 64 lowercase hex characters"),
        ("SHA256:" + HEX64, "unsupported digest algorithm 'SHA256'"),
    ],
)
def test_malformed_digests_are_refused_precisely(text: str, message: str) -> None:
    with pytest.raises(DigestError) as info:
        Digest.parse(text)
    assert message in info.value.message
    assert info.value.hint
    assert info.value.exit_code == EXIT_USAGE


def test_constructor_validates_too() -> None:
    with pytest.raises(DigestError, match="unsupported digest algorithm 'sha1'"):
        Digest("sha1", "a" * 40)  # type: ignore[arg-type]
    with pytest.raises(DigestError, match="expected 64"):
        Digest("sha256", "abc")


def test_digests_are_values() -> None:
    assert Digest.parse(f"sha256:{HEX64}") == Digest.parse(f"sha256:{HEX64}")
    assert len({Digest.parse(f"sha256:{HEX64}"), Digest("sha256", HEX64)}) == 1
