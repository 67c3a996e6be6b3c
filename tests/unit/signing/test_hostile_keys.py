"""Key files and key references (issue 11 item 3; issue 7 item 7): size caps that make
``--key /dev/zero`` an error, cosign's ``env://NAME`` references for private and public keys,
and no secret in any message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipflow.errors import ConfigError, UsageError
from shipflow.signing.keys import (
    MAX_KEY_FILE_BYTES,
    KeyFileError,
    encrypt_private_key,
    generate_private_key,
    load_private_key,
    load_public_keys,
    private_key_from_settings,
    read_private_key_setting,
)
from shipflow.signing.policy import trusted_keys_from_paths

PASSWORD = b"hostile-input-password"


@pytest.fixture(scope="module")
def pem_pair() -> tuple[bytes, bytes]:
    key = generate_private_key()
    return encrypt_private_key(key, PASSWORD, scrypt_n=32768), key.verifier.pem


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_refused_at_once(device: str) -> None:
    with pytest.raises(UsageError, match=rf"^--key key file {device} is not a regular file$") as caught:
        read_private_key_setting(device, what="--key")
    assert caught.value.exit_code == 2
    with pytest.raises(UsageError, match="not a regular file"):
        load_public_keys(device)


def test_a_large_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "huge.key"
    with open(big, "wb") as handle:
        handle.truncate(8 * 1024**3)  # sparse: 8 GiB that cost nothing unless read
    with pytest.raises(UsageError, match=f"more than the limit of {MAX_KEY_FILE_BYTES}"):
        read_private_key_setting(str(big), what="--key")
    pub = tmp_path / "huge.pub"
    os.link(big, pub)
    with pytest.raises(UsageError, match="more than the limit"):
        load_public_keys(tmp_path)  # a directory of keys: each file is capped


def test_env_reference_reads_the_variable_as_cosign_does(pem_pair: tuple[bytes, bytes]) -> None:
    private, public = pem_pair
    env = {"SIGNING_KEY": private.decode(), "COSIGN_PASSWORD": PASSWORD.decode()}
    key = private_key_from_settings("env://SIGNING_KEY", None, environ=env)
    assert key.verifier.pem == public
    # COSIGN_PRIVATE_KEY may itself be a reference (a CI secret store naming another variable).
    env["COSIGN_PRIVATE_KEY"] = "env://SIGNING_KEY"
    assert private_key_from_settings(None, None, environ=env).verifier.pem == public


def test_env_reference_to_a_missing_variable_names_it() -> None:
    with pytest.raises(ConfigError, match=r"environment variable \$NOPE_KEY is not set"):
        private_key_from_settings("env://NOPE_KEY", b"", environ={})
    with pytest.raises(KeyFileError, match="not a PEM file"):  # set but empty: as cosign
        private_key_from_settings("env://EMPTY", b"", environ={"EMPTY": ""})


def test_public_key_from_env_reference(
    monkeypatch: pytest.MonkeyPatch, pem_pair: tuple[bytes, bytes]
) -> None:
    _, public = pem_pair
    monkeypatch.setenv("RELEASE_PUB", public.decode())
    [key] = load_public_keys("env://RELEASE_PUB")
    assert key.pem == public and key.source == "$RELEASE_PUB"
    policy = trusted_keys_from_paths(["env://RELEASE_PUB"])
    assert policy.unmet({key.key_id}) == []
    monkeypatch.delenv("RELEASE_PUB")
    with pytest.raises(ConfigError, match=r"\$RELEASE_PUB is not set"):
        load_public_keys("env://RELEASE_PUB")


def test_unsupported_key_schemes_are_named() -> None:
    for ref in ("https://example.com/cosign.pub", "awskms://alias/key", "hashivault://k"):
        with pytest.raises(UsageError, match=r"key reference scheme .*:// is not supported"):
            read_private_key_setting(ref, what="--key")


def test_a_secret_in_cosign_private_key_is_never_echoed() -> None:
    secret = "c2VjcmV0LWtleS1tYXRlcmlhbC10aGF0LWlzLW5vdC1hLXBhdGg"  # base64, not a PEM, not a path
    with pytest.raises(ConfigError) as caught:
        private_key_from_settings(None, b"", environ={"COSIGN_PRIVATE_KEY": secret})
    assert secret not in str(caught.value) and secret not in (caught.value.hint or "")
    assert "COSIGN_PRIVATE_KEY" in caught.value.message


def test_a_deeply_nested_encrypted_key_body_is_a_key_error() -> None:
    import base64

    body = base64.b64encode(b"[" * 40_000).decode()
    kind = "ENCRYPTED SIGSTORE PRIVATE KEY"
    pem = f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n"
    with pytest.raises(KeyFileError, match="nested more than"):
        load_private_key(pem.encode(), b"x")
