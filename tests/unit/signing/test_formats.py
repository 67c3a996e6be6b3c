"""Wire formats against what the real cosign wrote (tests/data/cosign): byte for byte."""

from __future__ import annotations

import base64
import json

import pytest

from shipflow.errors import UsageError
from shipflow.oci.digest import Digest
from shipflow.oci.reference import parse_reference
from shipflow.signing.attachments import build_attachment_manifest
from shipflow.signing.dsse import (
    INTOTO_PAYLOAD_TYPE,
    STATEMENT_V1,
    EnvelopeError,
    build_envelope,
    pae,
    parse_envelope,
    parse_statement,
    predicate_type_uri,
)
from shipflow.signing.keys import load_public_key
from shipflow.signing.payload import build_payload, docker_reference, go_json, parse_payload
from shipflow.signing.sign import statement_with_raw_predicate
from support.signing import COSIGN_DATA, cosign_digests


def _blob(digest: str) -> bytes:
    return (COSIGN_DATA / "layout" / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def _tagged_manifest(suffix: str) -> tuple[bytes, dict[str, object]]:
    index = json.loads((COSIGN_DATA / "layout" / "index.json").read_text())
    for entry in index["manifests"]:
        if entry["annotations"]["org.opencontainers.image.ref.name"].endswith(suffix):
            data = _blob(entry["digest"])
            return data, json.loads(data)
    raise AssertionError(suffix)


def test_payload_bytes_equal_what_cosign_signed() -> None:
    _, manifest = _tagged_manifest(".sig")
    layers = manifest["layers"]
    assert isinstance(layers, list)
    digest = Digest.parse(cosign_digests()["a"])
    plain, annotated = (_blob(layer["digest"]) for layer in layers)
    reference = parse_payload(plain).docker_reference
    assert build_payload(digest, reference) == plain
    assert build_payload(digest, reference, {"env": "prod"}) == annotated


def test_go_json_escapes_like_encoding_json() -> None:
    assert go_json({"b": "<&>", "a": "ü\u2028"}) == b'{"a":"\xc3\xbc\\u2028","b":"\\u003c\\u0026\\u003e"}'


def test_docker_reference_names_the_repository_like_go_containerregistry() -> None:
    assert docker_reference(parse_reference("127.0.0.1:5000/app/x:v1")) == "127.0.0.1:5000/app/x"
    assert docker_reference(parse_reference("alpine")) == "index.docker.io/library/alpine"
    assert docker_reference(parse_reference("oci:./store:dev")) == "oci:./store"


def test_attachment_manifest_and_config_are_byte_identical_to_cosigns() -> None:
    for suffix in (".sig", ".att"):
        data, manifest = _tagged_manifest(suffix)
        layers = manifest["layers"]
        assert isinstance(layers, list)
        config, rebuilt = build_attachment_manifest(layers)
        assert rebuilt == data, suffix
        assert config == _blob(manifest["config"]["digest"])  # type: ignore[index]


def test_cosign_signatures_verify_over_the_payload_bytes() -> None:
    _, manifest = _tagged_manifest(".sig")
    pub = load_public_key((COSIGN_DATA / "cosign.pub").read_bytes())
    for layer in manifest["layers"]:  # type: ignore[attr-defined]
        signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
        payload = _blob(layer["digest"])
        assert pub.verify(signature, payload)
        assert not pub.verify(signature, payload.replace(b"sha256:", b"sha512:"))


def test_cosign_envelope_verifies_over_pae_and_names_the_image() -> None:
    _, manifest = _tagged_manifest(".att")
    layer = manifest["layers"][0]  # type: ignore[index]
    envelope = parse_envelope(_blob(layer["digest"]))
    assert envelope.payload_type == INTOTO_PAYLOAD_TYPE
    pub = load_public_key((COSIGN_DATA / "cosign.pub").read_bytes())
    assert any(pub.verify(sig, envelope.pae) for _, sig in envelope.signatures)
    assert not any(pub.verify(sig, envelope.payload) for _, sig in envelope.signatures)
    statement = parse_statement(envelope.payload)
    assert statement.predicate_type == "https://spdx.dev/Document"
    assert statement.names_digest(Digest.parse(cosign_digests()["a"]))
    assert statement.predicate == json.loads((COSIGN_DATA / "sbom.spdx.json").read_bytes())


def test_pae_matches_the_dsse_spec_example() -> None:
    # secure-systems-lab/dsse protocol.md: PAE("http://example.com/HelloWorld", "hello world")
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_envelope_round_trip_and_malformed_base64() -> None:
    env = build_envelope(INTOTO_PAYLOAD_TYPE, b'{"x":1}', [("", b"sig")])
    assert env.startswith(
        b'{"payloadType":"application/vnd.in-toto+json","payload":"eyJ4IjoxfQ==","signatures":['
    )
    parsed = parse_envelope(env)
    assert parsed.payload == b'{"x":1}' and parsed.signatures == [("", b"sig")]
    broken = json.loads(env)
    broken["payload"] = "%%%not base64%%%"
    with pytest.raises(EnvelopeError, match="base64"):
        parse_envelope(json.dumps(broken).encode())


def test_statement_embeds_predicate_bytes_unchanged() -> None:
    predicate = b'{ "spdxVersion" : "SPDX-2.3",\n  "z": 1, "a": [1.0] }\n'
    digest = Digest.of(b"image")
    statement = statement_with_raw_predicate(
        subject_name="r/x", digest=digest, predicate_type="https://spdx.dev/Document", predicate=predicate
    )
    assert predicate.strip() in statement
    parsed = parse_statement(statement)
    assert parsed.statement_type == "https://in-toto.io/Statement/v0.1"
    assert parsed.names_digest(digest) and not parsed.names_digest(Digest.of(b"other"))
    v1 = statement_with_raw_predicate(
        subject_name="r/x",
        digest=digest,
        predicate_type="x://y",
        predicate=b"{}",
        statement_type=STATEMENT_V1,
    )
    assert parse_statement(v1).statement_type == STATEMENT_V1


def test_predicate_type_shorthands_follow_cosign() -> None:
    assert predicate_type_uri("spdxjson") == "https://spdx.dev/Document"
    assert predicate_type_uri("cyclonedx") == "https://cyclonedx.org/bom"
    assert predicate_type_uri("slsaprovenance1") == "https://slsa.dev/provenance/v1"
    assert predicate_type_uri("vuln") == "https://cosign.sigstore.dev/attestation/vuln/v1"
    assert predicate_type_uri("https://example.com/p/v1") == "https://example.com/p/v1"
    with pytest.raises(UsageError, match="unknown predicate type"):
        predicate_type_uri("nonsense")


@pytest.mark.parametrize(
    ("name", "type_name", "matches"),
    [
        ("valid-custom", "custom", True),
        ("valid-vuln", "vuln", True),
        ("malformed-custom", "custom", False),
        ("malformed-vuln", "vuln", False),
    ],
)
def test_cosign_upstream_envelopes_reach_cosigns_predicate_verdicts(
    name: str, type_name: str, matches: bool
) -> None:
    """sigstore/cosign pkg/policy/testdata envelopes: the "malformed" ones carry a predicateType
    without a scheme, so a --type filter must not select them (cosign's AttestationToPayloadJSON)."""
    envelope = parse_envelope((COSIGN_DATA / "upstream" / f"envelope-{name}.json").read_bytes())
    assert envelope.payload_type == INTOTO_PAYLOAD_TYPE
    assert len(envelope.signatures) == 1
    statement = parse_statement(envelope.payload)
    assert statement.subjects[0][0] == "registry.local:5000/knative/demo"
    assert (statement.predicate_type == predicate_type_uri(type_name)) is matches
