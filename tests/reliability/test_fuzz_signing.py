"""Fuzz what signing reads: signature payloads, DSSE envelopes and in-toto statements (as
fetched from a registry), predicates (as users hand them to ``attest``), and key files (PEM,
cosign's encrypted format)."""

from __future__ import annotations

import base64
import json

from hypothesis import example, given
from hypothesis import strategies as st

from reliability.fuzzing import DATA, check, json_bytes, mutated, shaped, shaped_bytes
from shipflow.oci.digest import Digest
from shipflow.signing.dsse import build_envelope, parse_envelope, parse_statement
from shipflow.signing.keys import load_private_key, load_public_key
from shipflow.signing.payload import build_payload, parse_payload
from shipflow.signing.sign import statement_with_raw_predicate

DIGEST = Digest.of(b"fuzz")
PAYLOAD_SEEDS = [
    build_payload(DIGEST, "ghcr.io/org/app"),
    build_payload(DIGEST, "ghcr.io/org/app", {"env": "prod", "<&>": "\u2028"}),
]
STATEMENT = statement_with_raw_predicate(
    subject_name="ghcr.io/org/app",
    digest=DIGEST,
    predicate_type="https://spdx.dev/Document",
    predicate=b'{"a":1}',
)
ENVELOPE_SEEDS = [build_envelope("application/vnd.in-toto+json", STATEMENT, [("", b"\x30\x45" + b"s" * 69)])]
VOCABULARY = [
    "critical",
    "identity",
    "docker-reference",
    "image",
    "docker-manifest-digest",
    "type",
    "optional",
    "payloadType",
    "payload",
    "signatures",
    "keyid",
    "sig",
    "_type",
    "predicateType",
    "subject",
    "digest",
    "name",
    "predicate",
    "sha256",
    "https://in-toto.io/Statement/v0.1",
    "application/vnd.in-toto+json",
    "cosign container image signature",
    str(DIGEST),
    base64.b64encode(STATEMENT).decode(),
]


PAYLOAD_SHAPE = {
    "critical": {
        "identity": {"docker-reference": "ghcr.io/org/app"},
        "image": {"docker-manifest-digest": str(DIGEST)},
        "type": "cosign container image signature",
    },
    "optional": {"env": "prod"},
}
ENVELOPE_SHAPE = {
    "payloadType": "application/vnd.in-toto+json",
    "payload": base64.b64encode(STATEMENT).decode(),
    "signatures": [{"keyid": "", "sig": "MEUCIQ=="}],
}
STATEMENT_SHAPE = {
    "_type": "https://in-toto.io/Statement/v0.1",
    "predicateType": "https://spdx.dev/Document",
    "subject": [{"name": "ghcr.io/org/app", "digest": {"sha256": DIGEST.hex}}],
    "predicate": {"a": 1},
}


@given(mutated(PAYLOAD_SEEDS) | json_bytes(VOCABULARY) | shaped_bytes(PAYLOAD_SHAPE))
def test_fuzz_signature_payload(data: bytes) -> None:
    check("signature payload", parse_payload, data, size=len(data))


def _envelope_and_statement(data: bytes) -> None:
    envelope = parse_envelope(data)
    parse_statement(envelope.payload)
    _ = envelope.pae


@given(mutated(ENVELOPE_SEEDS) | json_bytes(VOCABULARY) | shaped_bytes(ENVELOPE_SHAPE))
def test_fuzz_dsse_envelope(data: bytes) -> None:
    check("DSSE envelope + statement", _envelope_and_statement, data, size=len(data))


@given(mutated([STATEMENT]) | json_bytes(VOCABULARY) | shaped_bytes(STATEMENT_SHAPE))
@example(b'{"_type": []}')  # found by this test: TypeError (unhashable) in parse_statement
def test_fuzz_statement(data: bytes) -> None:
    check("in-toto statement", parse_statement, data, size=len(data))


def _predicate(data: bytes) -> None:
    statement = statement_with_raw_predicate(
        subject_name="r/x", digest=DIGEST, predicate_type="x://y", predicate=data
    )
    # What attest embeds, verify-attestation must read back.
    parsed = parse_statement(statement)
    assert parsed.names_digest(DIGEST)
    assert json.loads(data.strip()) == parsed.predicate or data.strip() != data


@given(
    mutated([b'{"spdxVersion":"SPDX-2.3","packages":[{"name":"a"}]}', b"[1,2,3]", b'"x"']) | json_bytes(["a"])
)
def test_fuzz_predicate(data: bytes) -> None:
    check("attest predicate", _predicate, data, size=len(data))


KEY_SEEDS = [
    (DATA / "cosign" / "cosign.key").read_bytes(),
    (DATA / "cosign" / "cosign.pub").read_bytes(),
]


COSIGN_KEY_SHAPE = {
    "kdf": {"name": "scrypt", "params": {"N": 32768, "r": 8, "p": 1}, "salt": "c2FsdA=="},
    "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(b"n" * 24).decode()},
    "ciphertext": "Y2lwaGVy",
}


def _pem(kind: str) -> st.SearchStrategy[bytes]:
    """A PEM block of ``kind`` around fuzzed DER or fuzzed cosign JSON."""
    body = st.binary(max_size=300) | shaped(COSIGN_KEY_SHAPE).map(lambda doc: json.dumps(doc).encode())
    return body.map(
        lambda raw: (
            f"-----BEGIN {kind}-----\n{base64.b64encode(raw).decode()}\n-----END {kind}-----\n".encode()
        )
    )


PRIVATE_KINDS = st.sampled_from(
    [
        "ENCRYPTED SIGSTORE PRIVATE KEY",
        "ENCRYPTED COSIGN PRIVATE KEY",
        "PRIVATE KEY",
        "EC PRIVATE KEY",
        "RSA PRIVATE KEY",
    ]
)


@given(mutated(KEY_SEEDS) | PRIVATE_KINDS.flatmap(_pem), st.sampled_from([b"", b"wrong", None]))
@example(  # found by this test: TypeError (unhashable list) checking the scrypt parameters
    b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"
    + base64.b64encode(b'{"kdf":{"name":"scrypt","params":{"N":[]}},"cipher":{"name":"nacl/secretbox"}}')
    + b"\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
    b"",
)
def test_fuzz_private_key_file(data: bytes, password: bytes | None) -> None:
    check("private key file", load_private_key, data, password, size=len(data))


@given(mutated(KEY_SEEDS) | _pem("PUBLIC KEY") | st.binary(max_size=200))
def test_fuzz_public_key_file(data: bytes) -> None:
    check("public key file", load_public_key, data, size=len(data))
