"""Fuzz the parsers of what users type: image references, digests, command-line targets."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from reliability.fuzzing import check
from shipflow.oci.digest import Digest
from shipflow.oci.reference import parse_reference
from shipflow.sbom.target import detect_target

_PIECES = st.sampled_from(
    [
        "ghcr.io/",
        "localhost:5000/",
        "127.0.0.1:99999/",
        "[::1]:5000/",
        "oci:",
        "docker://",
        "org/",
        "app",
        "APP",
        ":",
        "::",
        "@",
        "@sha256:",
        "a" * 64,
        "A" * 64,
        "sha512:",
        "/",
        "//",
        "..",
        "./",
        "~",
        "-",
        "_",
        "__",
        ".",
        "tag",
        "v1.2.3",
        "x" * 300,
        "\x00",
        " ",
        "\n",
        "%2F",
        "é",
        "\u202e",
    ]
)
REFERENCES = st.lists(_PIECES, max_size=10).map("".join) | st.text(max_size=80)


@given(REFERENCES)
def test_fuzz_parse_reference(text: str) -> None:
    parsed = check("reference", parse_reference, text, size=len(text))
    if parsed is not None:
        # What parses prints back as something that parses to the same reference.
        assert check("reference (round trip)", parse_reference, str(parsed), size=len(text)) == parsed


DIGESTS = st.tuples(
    st.sampled_from(["sha256", "sha512", "SHA256", "md5", "", "sha256+b64", "a" * 40]),
    st.sampled_from([":", "", "::"]),
    st.text(alphabet="0123456789abcdefABCDEF-_=+/ g", max_size=140),
).map("".join) | st.text(max_size=80)


@given(DIGESTS)
def test_fuzz_digest_parse(text: str) -> None:
    digest = check("digest", Digest.parse, text, size=len(text))
    if digest is not None:
        assert str(digest) == text and Digest.parse(str(digest)) == digest


@given(
    REFERENCES | st.sampled_from(["/", ".", "..", "/dev/null", "/proc/self/fd/0", "/etc/passwd", "a.json"])
)
@example("~\x00")  # found by this test: ValueError from expanduser
@example("~ghcr.io/")  # found by this test: RuntimeError (no such user's home)
def test_fuzz_detect_target(text: str) -> None:
    check("scan/sbom target", detect_target, text, size=len(text))
