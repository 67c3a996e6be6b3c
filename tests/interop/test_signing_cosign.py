"""Interop with the real cosign (v2.4.1, built from the Go module proxy) and openssl.

- images shipflow signs pass ``cosign verify --key``; shipflow attestations pass
  ``cosign verify-attestation``;
- images ``cosign sign --key`` signs (keys from ``cosign generate-key-pair``) pass shipflow's
  verify; cosign attestations pass shipflow's verify_attestations;
- keys cross-load both ways; every shipflow signature verifies with ``openssl dgst``;
- the committed fixtures (tests/data/cosign, made by the real cosign) give the same verdicts
  offline, so these checks also run where no Go peer can be built.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from fixtures.registry import Registry
from shipflow.oci.digest import Digest
from shipflow.oci.open import open_store
from shipflow.oci.store import Store
from shipflow.signing import (
    SignatureVerificationError,
    attest,
    encrypt_private_key,
    generate_private_key,
    load_private_key,
    load_public_key,
    sign,
    signature_tag,
    trusted_keys,
    verify,
    verify_attestations,
)
from shipflow.signing.dsse import STATEMENT_V1
from shipflow.signing.keys import PrivateKey
from support.cosign import PASSWORD, SIGN_FLAGS, VERIFY_FLAGS, cosign
from support.signing import COSIGN_DATA, COSIGN_PASSWORD, cosign_digests, fixture_layout, make_image

SPDX = json.dumps({"spdxVersion": "SPDX-2.3", "name": "interop", "packages": [{"name": "busybox"}]}).encode()


@pytest.fixture
def image(registry: Registry, repo_name: str) -> tuple[Store, Digest, str]:
    store = open_store(registry.ref(repo_name))
    digest = make_image(store, f"interop {repo_name}", tag="latest")
    return store, digest, f"{registry.ref(repo_name)}@{digest}"


@pytest.fixture
def shipflow_keys(tmp_path: Path) -> tuple[PrivateKey, Path, Path]:
    key = generate_private_key()
    (tmp_path / "sf.key").write_bytes(encrypt_private_key(key, PASSWORD.encode()))
    (tmp_path / "sf.pub").write_bytes(key.verifier.pem)
    return key, tmp_path / "sf.key", tmp_path / "sf.pub"


@pytest.fixture
def cosign_keys(cosign_bin: str, tmp_path: Path) -> tuple[Path, Path]:
    keydir = tmp_path / "cosign-keys"
    keydir.mkdir()
    result = cosign(cosign_bin, "generate-key-pair", cwd=keydir)
    assert result.returncode == 0, result.stderr
    return keydir / "cosign.key", keydir / "cosign.pub"


def test_cosign_verifies_what_shipflow_signed(
    cosign_bin: str, image: tuple[Store, Digest, str], shipflow_keys: tuple[PrivateKey, Path, Path]
) -> None:
    store, digest, ref = image
    key, _, pub = shipflow_keys
    sign(store, digest, key, reference=ref.split("@")[0], annotations={"env": "prod"})
    result = cosign(cosign_bin, "verify", "--key", str(pub), *VERIFY_FLAGS, "-a", "env=prod", ref)
    assert result.returncode == 0, result.stderr
    [payload] = json.loads(result.stdout)
    assert payload["critical"]["image"]["docker-manifest-digest"] == str(digest)
    assert payload["optional"] == {"env": "prod"}
    # and cosign refuses it with another key: the check above is not vacuous
    other = generate_private_key()
    (pub.parent / "other.pub").write_bytes(other.verifier.pem)
    refused = cosign(cosign_bin, "verify", "--key", str(pub.parent / "other.pub"), *VERIFY_FLAGS, ref)
    assert refused.returncode != 0


def test_shipflow_verifies_what_cosign_signed(
    cosign_bin: str, image: tuple[Store, Digest, str], cosign_keys: tuple[Path, Path]
) -> None:
    store, digest, ref = image
    key_path, pub_path = cosign_keys
    result = cosign(cosign_bin, "sign", "--key", str(key_path), *SIGN_FLAGS, "-a", "team=blue", ref)
    assert result.returncode == 0, result.stderr
    pub = load_public_key(pub_path.read_bytes())
    [verified] = verify(store, digest, trusted_keys([pub]), annotations={"team": "blue"})
    assert verified.docker_reference == ref.split("@")[0]
    with pytest.raises(SignatureVerificationError):
        verify(store, digest, trusted_keys([generate_private_key().verifier]))


def test_keys_cross_load_both_ways(
    cosign_bin: str,
    image: tuple[Store, Digest, str],
    shipflow_keys: tuple[PrivateKey, Path, Path],
    cosign_keys: tuple[Path, Path],
) -> None:
    store, digest, ref = image
    _, sf_key, sf_pub = shipflow_keys
    co_key, co_pub = cosign_keys
    # cosign signs with shipflow's key file; shipflow signs with cosign's key file
    result = cosign(cosign_bin, "sign", "--key", str(sf_key), *SIGN_FLAGS, ref)
    assert result.returncode == 0, result.stderr
    sign(store, digest, load_private_key(co_key.read_bytes(), PASSWORD.encode()), reference=ref.split("@")[0])
    # both signatures verify with both tools
    verified = verify(store, digest, trusted_keys([load_public_key(sf_pub.read_bytes())]))
    assert len(verified) == 1
    assert len(verify(store, digest, trusted_keys([load_public_key(co_pub.read_bytes())]))) == 1
    for pub in (sf_pub, co_pub):
        check = cosign(cosign_bin, "verify", "--key", str(pub), *VERIFY_FLAGS, ref)
        assert check.returncode == 0, check.stderr


def test_cosign_verifies_shipflow_attestation(
    cosign_bin: str, image: tuple[Store, Digest, str], shipflow_keys: tuple[PrivateKey, Path, Path]
) -> None:
    store, digest, ref = image
    key, _, pub = shipflow_keys
    attest(store, digest, key, predicate_type="https://spdx.dev/Document", predicate=SPDX, subject_name=ref)
    result = cosign(
        cosign_bin, "verify-attestation", "--key", str(pub), "--type", "spdxjson", *VERIFY_FLAGS, ref
    )
    assert result.returncode == 0, result.stderr
    envelope = json.loads(result.stdout.strip().splitlines()[0])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicate"] == json.loads(SPDX)
    assert statement["subject"][0]["digest"] == {"sha256": digest.hex}


def test_shipflow_verifies_cosign_attestation(
    cosign_bin: str, image: tuple[Store, Digest, str], cosign_keys: tuple[Path, Path], tmp_path: Path
) -> None:
    store, digest, ref = image
    key_path, pub_path = cosign_keys
    (tmp_path / "vuln.json").write_text(
        json.dumps(
            {
                "invocation": {"uri": "x", "event_id": "1", "builder.id": "b", "parameters": None},
                "scanner": {"uri": "s", "version": "1", "db": {"uri": "d", "version": "1"}, "result": {}},
                "metadata": {
                    "scanStartedOn": "2024-01-01T00:00:00Z",
                    "scanFinishedOn": "2024-01-01T00:00:01Z",
                },
            }
        )
    )
    result = cosign(
        cosign_bin,
        "attest",
        "--key",
        str(key_path),
        *SIGN_FLAGS,
        "--type",
        "vuln",
        "--predicate",
        str(tmp_path / "vuln.json"),
        ref,
    )
    assert result.returncode == 0, result.stderr
    pub = load_public_key(pub_path.read_bytes())
    [att] = verify_attestations(
        store, digest, trusted_keys([pub]), predicate_type="https://cosign.sigstore.dev/attestation/vuln/v1"
    )
    assert att.predicate["scanner"]["uri"] == "s"


def test_openssl_verifies_every_shipflow_signature(
    image: tuple[Store, Digest, str], shipflow_keys: tuple[PrivateKey, Path, Path], tmp_path: Path
) -> None:
    store, digest, ref = image
    key, _, pub = shipflow_keys
    sign(store, digest, key, reference=ref.split("@")[0])
    sign(store, digest, key, reference=ref.split("@")[0], annotations={"n": "2"})
    manifest = json.loads(store.get_manifest(signature_tag(digest)).data)
    assert len(manifest["layers"]) == 2
    for i, layer in enumerate(manifest["layers"]):
        with store.open_blob(Digest.parse(layer["digest"])) as chunks:
            (tmp_path / f"payload{i}").write_bytes(b"".join(chunks))
        (tmp_path / f"sig{i}").write_bytes(
            base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
        )
        result = subprocess.run(
            [
                "openssl",
                "dgst",
                "-sha256",
                "-verify",
                str(pub),
                "-signature",
                str(tmp_path / f"sig{i}"),
                str(tmp_path / f"payload{i}"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0 and "Verified OK" in result.stdout, result.stderr


# --- offline: the committed fixtures made by the real cosign -----------------------------------


def test_committed_cosign_signatures_reach_cosigns_verdicts(tmp_path: Path) -> None:
    store = fixture_layout(tmp_path)
    digests = cosign_digests()
    a, b = Digest.parse(digests["a"]), Digest.parse(digests["b"])
    pub = load_public_key((COSIGN_DATA / "cosign.pub").read_bytes())
    policy = trusted_keys([pub])
    assert len(verify(store, a, policy)) == 2
    [annotated] = verify(store, a, policy, annotations={"env": "prod"})
    assert annotated.annotations == {"env": "prod"}
    with pytest.raises(SignatureVerificationError, match="has no signatures"):
        verify(store, b, policy)
    with pytest.raises(SignatureVerificationError, match="does not verify"):
        verify(store, a, trusted_keys([generate_private_key().verifier]))
    # cosign's .sig image copied onto image b: both signatures claim a's digest
    store.tag(store.resolve(signature_tag(a)).digest, signature_tag(b))
    with pytest.raises(SignatureVerificationError) as info:
        verify(store, b, policy)
    assert len(info.value.report.rejected) == 2
    assert all("claims digest" in r.reason for r in info.value.report.rejected)


def test_committed_cosign_attestation_verifies(tmp_path: Path) -> None:
    store = fixture_layout(tmp_path)
    a = Digest.parse(cosign_digests()["a"])
    pub = load_public_key((COSIGN_DATA / "cosign.pub").read_bytes())
    [att] = verify_attestations(store, a, trusted_keys([pub]), predicate_type="https://spdx.dev/Document")
    assert att.predicate == json.loads((COSIGN_DATA / "sbom.spdx.json").read_bytes())


def test_committed_cosign_key_signs_for_shipflow(tmp_path: Path) -> None:
    store = fixture_layout(tmp_path)
    b = Digest.parse(cosign_digests()["b"])
    key = load_private_key((COSIGN_DATA / "cosign.key").read_bytes(), COSIGN_PASSWORD.encode())
    sign(store, b, key, reference="fixtures/app")
    pub = load_public_key((COSIGN_DATA / "cosign.pub").read_bytes())
    assert len(verify(store, b, trusted_keys([pub]))) == 1


def _pkcs8(kind: str) -> bytes:
    raw = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ed25519.Ed25519PrivateKey.generate()
    )
    return raw.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_rsa_and_ed25519_signatures_interoperate(
    cosign_bin: str, image: tuple[Store, Digest, str], tmp_path: Path, kind: str
) -> None:
    """shipflow signs with an RSA / Ed25519 key and cosign verifies; cosign signs with the same
    key (imported with ``cosign import-key-pair``) and shipflow verifies."""
    store, digest, ref = image
    pem = tmp_path / f"{kind}.pem"
    pem.write_bytes(_pkcs8(kind))
    key = load_private_key(pem.read_bytes())
    (tmp_path / f"{kind}.pub").write_bytes(key.verifier.pem)
    sign(store, digest, key, reference=ref.split("@")[0])
    checked = cosign(cosign_bin, "verify", "--key", str(tmp_path / f"{kind}.pub"), *VERIFY_FLAGS, ref)
    assert checked.returncode == 0, checked.stderr

    imported = cosign(
        cosign_bin, "import-key-pair", "--key", str(pem), "-o", str(tmp_path / "imported"), "-y"
    )
    assert imported.returncode == 0, imported.stderr
    # cosign's encrypted export of the same key loads in shipflow (same public key)
    reloaded = load_private_key((tmp_path / "imported.key").read_bytes(), PASSWORD.encode())
    assert reloaded.verifier.key_id == key.verifier.key_id
    signed = cosign(
        cosign_bin, "sign", "--key", str(tmp_path / "imported.key"), *SIGN_FLAGS, "-a", "by=cosign", ref
    )
    assert signed.returncode == 0, signed.stderr
    [by_cosign] = verify(store, digest, trusted_keys([key.verifier]), annotations={"by": "cosign"})
    assert by_cosign.key_ids == (key.verifier.key_id,)


def test_cosign_accepts_in_toto_v1_statements_from_shipflow(
    cosign_bin: str, image: tuple[Store, Digest, str], shipflow_keys: tuple[PrivateKey, Path, Path]
) -> None:
    store, digest, ref = image
    key, _, pub = shipflow_keys
    attest(
        store,
        digest,
        key,
        predicate_type="https://slsa.dev/provenance/v1",
        predicate=b'{"buildDefinition":{"buildType":"https://example.com/t"},"runDetails":{}}',
        subject_name=ref.split("@")[0],
        statement_type=STATEMENT_V1,
    )
    result = cosign(
        cosign_bin, "verify-attestation", "--key", str(pub), "--type", "slsaprovenance1", *VERIFY_FLAGS, ref
    )
    assert result.returncode == 0, result.stderr
    statement = json.loads(base64.b64decode(json.loads(result.stdout.splitlines()[0])["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
