"""cosign key files: generate, encrypt, load; the signing and verifying halves of a key pair.

Private keys (what ``cosign generate-key-pair`` writes and ``cosign sign --key`` reads):

* ``ENCRYPTED SIGSTORE PRIVATE KEY`` (current) and ``ENCRYPTED COSIGN PRIVATE KEY`` (older):
  the PEM body is JSON ``{"kdf": {"name": "scrypt", "params": {"N", "r", "p"}, "salt"},
  "cipher": {"name": "nacl/secretbox", "nonce"}, "ciphertext"}`` (byte fields standard base64);
  the box key is ``scrypt(password, salt, N, r, p, 32)``; the plaintext is PKCS#8 DER.
  Only the three scrypt parameter sets cosign's library writes are accepted (a tampered file
  could otherwise ask for gigabytes of memory).
* Plain ``PRIVATE KEY`` (PKCS#8), ``EC PRIVATE KEY`` (SEC1) and ``RSA PRIVATE KEY`` (PKCS#1).

Public keys: ``PUBLIC KEY`` (SubjectPublicKeyInfo) holding ECDSA, RSA or Ed25519.

Key references, as cosign takes them (``blob.LoadFileOrURL``): a path, or ``env://NAME`` for
the key's PEM text in the environment variable ``NAME`` (``--key env://COSIGN_PRIVATE_KEY``).
Private keys may also be given as the PEM text itself. A key file is at most
:data:`MAX_KEY_FILE_BYTES`: ``--key /dev/zero`` is an error, not gigabytes of memory.

Algorithms are cosign's for key files: ECDSA with SHA-256 (whatever the curve), RSA PKCS#1
v1.5 with SHA-256, pure Ed25519. Signatures are checked in DER form and, for ECDSA, also as
raw ``r || s``.

:class:`Signer` and :class:`Verifier` are the seams where keyless signing (a Fulcio
certificate, a KMS) would plug in: anything with ``sign(data)`` / ``verify(signature, data)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from shipflow.errors import ConfigError, KeyFileError, UsageError
from shipflow.fsutil import read_capped
from shipflow.signing.jsondoc import load_object

SIGSTORE_PRIVATE_KEY_PEM = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PRIVATE_KEY_PEM = "ENCRYPTED COSIGN PRIVATE KEY"
_ENCRYPTED_TYPES = frozenset({SIGSTORE_PRIVATE_KEY_PEM, COSIGN_PRIVATE_KEY_PEM})
_PLAIN_TYPES = frozenset({"PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"})

# go-securesystemslib "encrypted": legacy (2^15), standard (2^16, the default), OWASP (2^17).
SCRYPT_DEFAULT_N = 65536
_SCRYPT_ALLOWED = frozenset({(32768, 8, 1), (65536, 8, 1), (131072, 8, 1)})
_SALT_SIZE = 32
_BOX_KEY_SIZE = 32

# A PEM key file is kilobytes (an RSA-4096 private key ≈ 3.3 KB, a cosign key ≈ 0.7 KB).
MAX_KEY_FILE_BYTES = 64 * 1024
ENV_SCHEME = "env://"

# The environment variables the spec names for the signing secrets.
ENV_PRIVATE_KEY = "COSIGN_PRIVATE_KEY"
ENV_PASSWORD = "COSIGN_PASSWORD"  # noqa: S105 - the variable's name, not a password

PrivateKeyTypes = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKeyTypes = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

# A password is given as bytes, or as a function asked only when the key really is encrypted
# (so that a prompt appears only when needed).
PasswordSource = bytes | Callable[[], bytes] | None


class Signer(Protocol):
    """Something that signs bytes the way cosign's key-file signers do."""

    @property
    def verifier(self) -> Verifier: ...

    def sign(self, data: bytes) -> bytes: ...


class Verifier(Protocol):
    """Something that checks a signature over bytes; ``key_id`` names it in reports."""

    @property
    def key_id(self) -> str: ...

    def verify(self, signature: bytes, data: bytes) -> bool: ...


@dataclass(frozen=True)
class PublicKey:
    """A verifying key loaded from a ``PUBLIC KEY`` PEM (or derived from a private key)."""

    key: PublicKeyTypes
    source: str = ""

    @property
    def pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def key_id(self) -> str:
        """``sha256:<hex>`` of the DER SubjectPublicKeyInfo: stable, safe to print."""
        der = self.key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "sha256:" + hashlib.sha256(der).hexdigest()

    @property
    def algorithm(self) -> str:
        if isinstance(self.key, ec.EllipticCurvePublicKey):
            return f"ecdsa-{self.key.curve.name}-sha256"
        if isinstance(self.key, rsa.RSAPublicKey):
            return f"rsa{self.key.key_size}-pkcs1v15-sha256"
        return "ed25519"

    def verify(self, signature: bytes, data: bytes) -> bool:
        key = self.key
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                for candidate in _ecdsa_signature_forms(signature, key.curve.key_size):
                    try:
                        key.verify(candidate, data, ec.ECDSA(hashes.SHA256()))
                        return True
                    except InvalidSignature:
                        continue
                return False
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
                return True
            key.verify(signature, data)
            return True
        except (InvalidSignature, ValueError):
            return False


def _ecdsa_signature_forms(signature: bytes, curve_bits: int) -> list[bytes]:
    """The signature as given (DER), plus its DER form if it looks like raw ``r || s``."""
    forms = [signature]
    size = (curve_bits + 7) // 8
    if len(signature) == 2 * size:
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        forms.append(encode_dss_signature(r, s))
    return forms


@dataclass(frozen=True)
class PrivateKey:
    """A signing key. ``repr`` never shows key material."""

    key: PrivateKeyTypes

    def __repr__(self) -> str:
        return f"PrivateKey({self.verifier.algorithm}, {self.verifier.key_id})"

    @property
    def verifier(self) -> PublicKey:
        return PublicKey(self.key.public_key())

    def sign(self, data: bytes) -> bytes:
        key = self.key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hashes.SHA256()))  # DER, as cosign writes it
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return key.sign(data)

    def pkcs8_der(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def generate_private_key() -> PrivateKey:
    """A fresh ECDSA P-256 key, cosign's default."""
    return PrivateKey(ec.generate_private_key(ec.SECP256R1()))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    # hashlib's default memory cap (32 MiB) is below what N=2^16, r=8 needs (64 MiB).
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=_BOX_KEY_SIZE, maxmem=256 * 1024 * 1024)


def encrypt_private_key(
    key: PrivateKey,
    password: bytes,
    *,
    pem_type: str = SIGSTORE_PRIVATE_KEY_PEM,
    scrypt_n: int = SCRYPT_DEFAULT_N,
) -> bytes:
    """The key as cosign writes it: PEM ``ENCRYPTED SIGSTORE PRIVATE KEY`` (scrypt + secretbox)."""
    if pem_type not in _ENCRYPTED_TYPES:
        raise UsageError(f"not an encrypted cosign PEM type: {pem_type}")
    if (scrypt_n, 8, 1) not in _SCRYPT_ALLOWED:
        raise UsageError(f"unsupported scrypt N={scrypt_n}", hint="use 32768, 65536 or 131072")
    salt = secrets.token_bytes(_SALT_SIZE)
    nonce = secrets.token_bytes(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(_scrypt(password, salt, scrypt_n, 8, 1))
    # SecretBox.encrypt returns nonce || MAC || ciphertext; Go's secretbox.Seal writes MAC || ciphertext.
    sealed = box.encrypt(key.pkcs8_der(), nonce).ciphertext
    # Field order and compact form as Go's encoding/json writes go-securesystemslib's struct.
    body = json.dumps(
        {
            "kdf": {"name": "scrypt", "params": {"N": scrypt_n, "r": 8, "p": 1}, "salt": _b64(salt)},
            "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
            "ciphertext": _b64(sealed),
        },
        separators=(",", ":"),
    ).encode()
    return _pem_encode(pem_type, body)


def public_key_pem(key: PrivateKey | PublicKey) -> bytes:
    verifier = key.verifier if isinstance(key, PrivateKey) else key
    return verifier.pem


def _pem_encode(pem_type: str, body: bytes) -> bytes:
    encoded = base64.b64encode(body).decode("ascii")
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    return (f"-----BEGIN {pem_type}-----\n" + "\n".join(lines) + f"\n-----END {pem_type}-----\n").encode()


def _pem_decode(data: bytes, what: str) -> tuple[str, bytes]:
    """The first PEM block's type and body. Never echoes the input (it may be secret)."""
    text = data.decode("ascii", errors="replace")
    begin = text.find("-----BEGIN ")
    if begin < 0:
        raise KeyFileError(
            f"{what} is not a PEM file",
            hint="give a file made by `shipflow keygen` or `cosign generate-key-pair`",
        )
    header_end = text.find("-----", begin + 11)
    if header_end < 0:
        raise KeyFileError(f"{what} has a broken PEM header")
    pem_type = text[begin + 11 : header_end]
    end_marker = f"-----END {pem_type}-----"
    end = text.find(end_marker, header_end)
    if end < 0:
        raise KeyFileError(f"{what}: PEM block {pem_type!r} has no END line")
    body_text = "".join(text[header_end + 5 : end].split())
    try:
        body = base64.b64decode(body_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError(f"{what}: PEM block {pem_type!r} is not valid base64") from exc
    return pem_type, body


def _decode_b64_field(doc: dict[str, object], *path: str) -> bytes:
    node: object = doc
    for part in path:
        if not isinstance(node, dict) or part not in node:
            raise KeyFileError(f"encrypted key: missing field {'.'.join(path)}")
        node = node[part]
    if not isinstance(node, str):
        raise KeyFileError(f"encrypted key: field {'.'.join(path)} is not a string")
    try:
        return base64.b64decode(node, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError(f"encrypted key: field {'.'.join(path)} is not valid base64") from exc


def _decrypt_cosign_body(body: bytes, password: bytes, what: str) -> bytes:
    doc = load_object(body, f"{what}: the encrypted key body", KeyFileError)
    kdf = doc.get("kdf") or {}
    cipher = doc.get("cipher") or {}
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise KeyFileError(f"{what}: unsupported key derivation (expected scrypt)")
    if not isinstance(cipher, dict) or cipher.get("name") != "nacl/secretbox":
        raise KeyFileError(f"{what}: unsupported cipher (expected nacl/secretbox)")
    params = kdf.get("params") or {}
    if not isinstance(params, dict):
        raise KeyFileError(f"{what}: malformed scrypt parameters")
    triple = (params.get("N"), params.get("r"), params.get("p"))
    if not all(type(v) is int for v in triple) or triple not in _SCRYPT_ALLOWED:  # a list is unhashable
        raise KeyFileError(
            f"{what}: unsupported scrypt parameters N={triple[0]} r={triple[1]} p={triple[2]}",
            hint="cosign writes N=32768, 65536 or 131072 with r=8, p=1; re-create the key",
        )
    salt = _decode_b64_field(doc, "kdf", "salt")
    nonce = _decode_b64_field(doc, "cipher", "nonce")
    ciphertext = _decode_b64_field(doc, "ciphertext")
    if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
        raise KeyFileError(f"{what}: the secretbox nonce has the wrong size")
    n, r, p = (int(v) for v in triple)
    box = nacl.secret.SecretBox(_scrypt(password, salt, n, r, p))
    try:
        return bytes(box.decrypt(ciphertext, nonce))
    except nacl.exceptions.CryptoError as exc:
        # The MAC check failed: almost always the wrong password (or a corrupted file).
        raise KeyFileError(
            f"{what}: wrong password (could not decrypt the private key)",
            hint=f"set {ENV_PASSWORD} to the password the key was created with",
        ) from exc


def _der_skip(der: bytes, pos: int) -> tuple[int, int]:
    """(tag, position after the element) of the DER element at ``pos``."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    return tag, pos + length


def _looks_like_pkcs8(der: bytes) -> bool:
    """PrivateKeyInfo is SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING key }; SEC1
    has an OCTET STRING and PKCS#1 an INTEGER where the algorithm SEQUENCE would be."""
    try:
        if der[0] != 0x30:
            return False
        first_inner = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)  # after the outer header
        tag, after_version = _der_skip(der, first_inner)
        return tag == 0x02 and der[after_version] == 0x30
    except IndexError:
        return False


def _check_private(key: object, what: str) -> PrivateKey:
    if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
            raise KeyFileError(f"{what}: RSA keys must be at least 2048 bits (this one has {key.key_size})")
        return PrivateKey(key)
    raise KeyFileError(f"{what}: unsupported private key type", hint="use an ECDSA, RSA or Ed25519 key")


def load_private_key(
    data: bytes, password: PasswordSource = None, *, what: str = "private key"
) -> PrivateKey:
    """Load a cosign (encrypted) or plain PEM private key. Wrong password: :class:`KeyFileError`."""
    pem_type, body = _pem_decode(data, what)
    if pem_type in _ENCRYPTED_TYPES:
        secret = password() if callable(password) else password
        if secret is None:
            raise KeyFileError(
                f"{what} is encrypted and no password was given",
                hint=f"set {ENV_PASSWORD} (an empty value means an empty password)",
            )
        der = _decrypt_cosign_body(body, secret, what)
        if not _looks_like_pkcs8(der):
            # cosign (x509.ParsePKCS8PrivateKey) refuses SEC1/PKCS#1 inside the box; so do we,
            # so that a key file works in both tools or in neither.
            raise KeyFileError(
                f"{what}: the decrypted key is not PKCS#8",
                hint="re-import the key: cosign import-key-pair, or shipflow keygen for a new one",
            )
        try:
            key = serialization.load_der_private_key(der, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyFileError(f"{what}: the decrypted key is not PKCS#8") from exc
        return _check_private(key, what)
    if pem_type in _PLAIN_TYPES:
        try:
            key = serialization.load_der_private_key(body, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyFileError(f"{what}: cannot parse the {pem_type} block") from exc
        return _check_private(key, what)
    raise KeyFileError(
        f"{what}: unsupported PEM type {pem_type!r}",
        hint="expected ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY, PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY",
    )


def load_public_key(data: bytes, *, source: str = "public key") -> PublicKey:
    """Load a ``PUBLIC KEY`` PEM (ECDSA, RSA or Ed25519)."""
    pem_type, body = _pem_decode(data, source)
    if pem_type != "PUBLIC KEY":
        raise KeyFileError(
            f"{source}: expected a PUBLIC KEY PEM block, found {pem_type!r}",
            hint="pass the .pub file (e.g. cosign.pub), not the private key",
        )
    try:
        key = serialization.load_der_public_key(body)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{source}: cannot parse the public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise KeyFileError(f"{source}: unsupported public key type", hint="use an ECDSA, RSA or Ed25519 key")
    return PublicKey(key, source)


def load_public_key_file(path: Path) -> PublicKey:
    data = read_capped(path, MAX_KEY_FILE_BYTES, what="public key")
    return load_public_key(data, source=str(path))


def _env_reference(value: str, environ: Mapping[str, str] | None = None) -> tuple[str, bytes] | None:
    """``(NAME, bytes)`` for ``env://NAME`` (cosign's reference to a key in the environment),
    None for anything else. A missing variable is an error, as in cosign; an empty one is
    handed on (and then fails as "not a PEM file")."""
    if not value.startswith(ENV_SCHEME):
        _refuse_other_schemes(value)
        return None
    name = value[len(ENV_SCHEME) :]
    env = os.environ if environ is None else environ
    if not name or name not in env:
        raise ConfigError(
            f"key reference {value}: environment variable ${name} is not set",
            hint=f"export {name or 'NAME'} with the key's PEM text, or pass a key file",
        )
    text = env[name]
    if len(text) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"${name} is {len(text)} characters, more than a key ({MAX_KEY_FILE_BYTES})")
    return name, text.encode("utf-8", "surrogateescape")


_OTHER_SCHEMES = ("http://", "https://", "awskms://", "gcpkms://", "azurekms://", "hashivault://", "k8s://")


def _refuse_other_schemes(value: str) -> None:
    """cosign also takes URLs and KMS references; shipflow does not fetch keys (yet): say so
    instead of looking for a file called ``https:/…``."""
    scheme, sep, _ = value.partition("://")
    if sep and (value.startswith(_OTHER_SCHEMES) or scheme.isalnum()):
        raise UsageError(
            f"key reference scheme {scheme}:// is not supported",
            hint="give a key file, the PEM text, or env://NAME for a key in an environment variable",
        )


def load_public_keys(ref: str | Path) -> list[PublicKey]:
    """One key file, ``env://NAME``, or every ``*.pub``/``*.pem`` file in a directory of
    trusted keys."""
    if isinstance(ref, str):
        found = _env_reference(ref)
        if found is not None:
            name, data = found
            return [load_public_key(data, source=f"${name}")]
        path = Path(ref).expanduser()
    else:
        path = ref
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in {".pub", ".pem"} and p.is_file())
        if not files:
            raise ConfigError(
                f"no *.pub or *.pem keys in directory {path}", hint="put the trusted public keys there"
            )
        return [load_public_key_file(p) for p in files]
    return [load_public_key_file(path)]


def read_private_key_setting(
    value: str, *, what: str, environ: Mapping[str, str] | None = None, echo_path: bool = True
) -> tuple[bytes, str]:
    """The PEM bytes a key setting names, and what to call them in messages: the PEM text
    itself, ``env://NAME``, or a path to the file (at most :data:`MAX_KEY_FILE_BYTES`).

    Error messages never include ``value`` when it may be the secret itself; with
    ``echo_path=False`` (a value from the environment) not even when read as a path.
    """
    if "-----BEGIN" in value:
        # CI secret stores sometimes keep a multi-line PEM with literal "\n" sequences.
        return value.replace("\\n", "\n").encode(), what
    found = _env_reference(value, environ)
    if found is not None:
        name, data = found
        return data.replace(b"\\n", b"\n") if b"-----BEGIN" in data else data, f"${name}"
    path = Path(value).expanduser()
    if len(value) > 4096 or "\n" in value:
        # Not a path: most likely a key pasted without its BEGIN line. Do not echo it.
        raise ConfigError(
            f"{what} is neither PEM text nor a key file",
            hint="pass a path to cosign.key, env://NAME, or the PEM text itself",
        )
    try:
        return read_capped(path, MAX_KEY_FILE_BYTES, what=f"{what} key file"), f"{what} {path}"
    except UsageError as exc:
        if echo_path:
            raise
        raise ConfigError(
            f"{what} is neither PEM text, env://NAME nor a readable key file",
            hint="set it to the PEM text of cosign.key, env://NAME or the key file's path",
        ) from exc


def private_key_from_settings(
    key: str | None, password: PasswordSource, *, environ: Mapping[str, str] | None = None
) -> PrivateKey:
    """The signing key from ``--key`` or ``COSIGN_PRIVATE_KEY`` (each a path, PEM text or
    ``env://NAME``); password from the caller or ``COSIGN_PASSWORD``."""
    env = os.environ if environ is None else environ
    if key is not None:
        data, what = read_private_key_setting(key, what="--key", environ=env)
    elif env.get(ENV_PRIVATE_KEY):
        data, what = read_private_key_setting(
            env[ENV_PRIVATE_KEY], what=ENV_PRIVATE_KEY, environ=env, echo_path=False
        )
    else:
        raise ConfigError(
            "no signing key given",
            hint=f"pass --key cosign.key (or env://NAME) or set {ENV_PRIVATE_KEY} (PEM text or a path)",
        )
    if password is None and ENV_PASSWORD in env:
        password = env[ENV_PASSWORD].encode()
    return load_private_key(data, password, what=what)
