"""Key formats: cosign's encrypted PEM both ways, plain PEMs, public key types, settings."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from shipflow.errors import ConfigError, UsageError
from shipflow.signing.keys import (
    COSIGN_PRIVATE_KEY_PEM,
    KeyFileError,
    PrivateKey,
    PublicKey,
    encrypt_private_key,
    generate_private_key,
    load_private_key,
    load_public_key,
    load_public_keys,
    private_key_from_settings,
)
from support.signing import COSIGN_DATA, COSIGN_PASSWORD


def _pem_body(pem: bytes) -> dict[str, object]:
    lines = pem.decode().strip().splitlines()
    return dict(json.loads(base64.b64decode("".join(lines[1:-1]))))


def test_generated_key_is_p256_in_sigstore_format_with_scrypt_65536() -> None:
    key = generate_private_key()
    assert isinstance(key.key, ec.EllipticCurvePrivateKey)
    assert key.key.curve.name == "secp256r1"
    pem = encrypt_private_key(key, b"pw")
    assert pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert all(len(line) <= 64 for line in pem.splitlines())
    body = _pem_body(pem)
    assert list(body) == ["kdf", "cipher", "ciphertext"]
    assert body["kdf"] == {
        "name": "scrypt",
        "params": {"N": 65536, "r": 8, "p": 1},
        "salt": body["kdf"]["salt"],
    }  # type: ignore[index]
    assert body["cipher"]["name"] == "nacl/secretbox"  # type: ignore[index]
    loaded = load_private_key(pem, b"pw")
    assert loaded.verifier.key_id == key.verifier.key_id


def test_real_cosign_key_loads_with_its_password() -> None:
    key = load_private_key((COSIGN_DATA / "cosign.key").read_bytes(), COSIGN_PASSWORD.encode())
    pub = load_public_key((COSIGN_DATA / "cosign.pub").read_bytes())
    assert key.verifier.key_id == pub.key_id
    assert pub.verify(key.sign(b"data"), b"data")


def test_wrong_password_is_a_clear_usage_error() -> None:
    pem = (COSIGN_DATA / "cosign.key").read_bytes()
    with pytest.raises(KeyFileError) as info:
        load_private_key(pem, b"not-the-password")
    assert "wrong password" in info.value.message
    assert info.value.exit_code == 2
    assert "COSIGN_PASSWORD" in (info.value.hint or "")
    assert "not-the-password" not in info.value.message


def test_missing_password_for_encrypted_key_is_refused() -> None:
    with pytest.raises(KeyFileError, match="no password"):
        load_private_key((COSIGN_DATA / "cosign.key").read_bytes(), None)


def test_password_callback_is_only_called_for_encrypted_keys() -> None:
    calls: list[int] = []

    def ask() -> bytes:
        calls.append(1)
        return COSIGN_PASSWORD.encode()

    plain = generate_private_key().key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    load_private_key(plain, ask)
    assert calls == []
    load_private_key((COSIGN_DATA / "cosign.key").read_bytes(), ask)
    assert calls == [1]


def test_older_cosign_pem_type_and_legacy_scrypt_load() -> None:
    key = generate_private_key()
    pem = encrypt_private_key(key, b"", pem_type=COSIGN_PRIVATE_KEY_PEM, scrypt_n=32768)
    assert pem.startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
    assert load_private_key(pem, b"").verifier.key_id == key.verifier.key_id


def test_tampered_scrypt_parameters_are_refused() -> None:
    pem = encrypt_private_key(generate_private_key(), b"pw")
    body = _pem_body(pem)
    body["kdf"]["params"]["N"] = 1 << 24  # type: ignore[index]
    encoded = base64.b64encode(json.dumps(body).encode()).decode()
    pem_type = "ENCRYPTED SIGSTORE PRIVATE KEY"
    forged = f"-----BEGIN {pem_type}-----\n{encoded}\n-----END {pem_type}-----\n"
    with pytest.raises(KeyFileError, match="unsupported scrypt parameters"):
        load_private_key(forged.encode(), b"pw")


@pytest.mark.parametrize(
    "make",
    [
        lambda: ec.generate_private_key(ec.SECP256R1()),
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ed25519.Ed25519PrivateKey.generate,
    ],
    ids=["ecdsa", "rsa", "ed25519"],
)
def test_plain_pkcs8_keys_sign_and_verify(make: object) -> None:
    raw = make()  # type: ignore[operator]
    pem = raw.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = load_private_key(pem)
    pub = load_public_key(key.verifier.pem)
    sig = key.sign(b"payload")
    assert pub.verify(sig, b"payload")
    assert not pub.verify(sig, b"payloaD")


def test_sec1_and_pkcs1_private_keys_load() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    sec1 = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert sec1.startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert isinstance(load_private_key(sec1).key, ec.EllipticCurvePrivateKey)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs1 = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert pkcs1.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert isinstance(load_private_key(pkcs1).key, rsa.RSAPrivateKey)


def test_rsa_signature_is_pkcs1v15_sha256() -> None:
    raw = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sig = raw.sign(b"m", padding.PKCS1v15(), hashes.SHA256())
    assert PublicKey(raw.public_key()).verify(sig, b"m")
    pss = raw.sign(b"m", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    assert not PublicKey(raw.public_key()).verify(pss, b"m")


def test_ecdsa_raw_r_s_signature_verifies() -> None:
    key = generate_private_key()
    der = key.sign(b"message")
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert key.verifier.verify(raw, b"message")
    assert not key.verifier.verify(raw, b"other")
    assert not key.verifier.verify(b"\x00" * 64, b"message")


def test_public_key_errors_are_clear() -> None:
    with pytest.raises(KeyFileError, match="not a PEM"):
        load_public_key(b"hello")
    with pytest.raises(KeyFileError, match="expected a PUBLIC KEY"):
        load_public_key((COSIGN_DATA / "cosign.key").read_bytes())
    with pytest.raises(KeyFileError, match="not valid base64"):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\n@@@@\n-----END PUBLIC KEY-----\n")


def test_small_rsa_private_key_is_refused() -> None:
    raw = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = raw.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(KeyFileError, match="at least 2048"):
        load_private_key(pem)


def test_directory_of_trusted_keys(tmp_path: Path) -> None:
    keys = [generate_private_key() for _ in range(2)]
    for i, key in enumerate(keys):
        (tmp_path / f"k{i}.pub").write_bytes(key.verifier.pem)
    (tmp_path / "notes.txt").write_text("ignored")
    loaded = load_public_keys(tmp_path)
    assert [k.key_id for k in loaded] == [k.verifier.key_id for k in keys]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match=r"no \*\.pub"):
        load_public_keys(empty)


def test_settings_accept_pem_text_or_path_and_env_password(tmp_path: Path) -> None:
    pem = (COSIGN_DATA / "cosign.key").read_bytes()
    env = {"COSIGN_PRIVATE_KEY": pem.decode(), "COSIGN_PASSWORD": COSIGN_PASSWORD}
    by_text = private_key_from_settings(None, None, environ=env)
    (tmp_path / "k.key").write_bytes(pem)
    by_path = private_key_from_settings(
        None, None, environ={**env, "COSIGN_PRIVATE_KEY": str(tmp_path / "k.key")}
    )
    by_flag = private_key_from_settings(
        str(tmp_path / "k.key"), None, environ={"COSIGN_PASSWORD": COSIGN_PASSWORD}
    )
    assert by_text.verifier.key_id == by_path.verifier.key_id == by_flag.verifier.key_id
    with pytest.raises(ConfigError, match="no signing key"):
        private_key_from_settings(None, None, environ={})
    secret_looking = "definitely-not-a-file-SENTINEL"
    with pytest.raises(ConfigError) as info:
        private_key_from_settings(None, None, environ={"COSIGN_PRIVATE_KEY": secret_looking})
    assert secret_looking not in str(info.value)
    assert isinstance(info.value, UsageError)


def test_private_key_repr_shows_no_key_material() -> None:
    key = generate_private_key()
    secret = key.key.private_numbers().private_value
    assert str(secret) not in repr(key)
    assert isinstance(key, PrivateKey)


@pytest.mark.parametrize(
    ("name", "loads"),
    [("pemcosignkey", True), ("pemcosigneckey", False), ("pemsigstorekey", True)],
)
def test_cosign_upstream_test_keys_reach_cosigns_verdicts(name: str, loads: bool) -> None:
    """sigstore/cosign's own test keys (password "hello"): same load/refuse verdicts as cosign."""
    pem = (COSIGN_DATA / "upstream" / f"{name}.pem").read_bytes()
    if loads:
        key = load_private_key(pem, b"hello")
        assert key.verifier.verify(key.sign(b"x"), b"x")
        with pytest.raises(KeyFileError, match="wrong password"):
            load_private_key(pem, b"hell0")
    else:
        with pytest.raises(KeyFileError, match="not PKCS#8"):
            load_private_key(pem, b"hello")


def test_pem_text_with_literal_backslash_n_is_accepted() -> None:
    """A CI secret holding the PEM on one line with literal "\\n" sequences still loads."""
    pem = (COSIGN_DATA / "cosign.key").read_text()
    one_line = pem.replace("\n", "\\n")
    key = private_key_from_settings(one_line, COSIGN_PASSWORD.encode(), environ={})
    assert key.verifier.key_id == load_public_key((COSIGN_DATA / "cosign.pub").read_bytes()).key_id
