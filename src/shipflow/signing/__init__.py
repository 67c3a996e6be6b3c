"""cosign-compatible signing: keys, signatures, attestations, verification policies.

The public API (what the release pipeline and the CLI use)::

    key = load_private_key(pem, password)              # or generate_private_key()
    sign(store, digest, key, annotations={...})        # -> SignResult
    verify(store, digest, trusted_keys([pub]))         # -> list[VerifiedSignature] or raises
    attest(store, digest, key, predicate_type=..., predicate=b"{...}")
    verify_attestations(store, digest, policy, predicate_type=...)
    SignatureGate(policy).check(GateContext(store, digest))   # the gate: Evidence or GateFailed

Signatures and attestations are written exactly as cosign 2 writes them (``sha256-<hex>.sig``
and ``.att`` tags), so ``cosign verify`` accepts ours and we accept cosign's. Keyless
(Fulcio/Rekor) signing is not supported; :class:`~shipflow.signing.keys.Signer` and
:class:`~shipflow.signing.keys.Verifier` are where it would plug in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipflow._lazy import lazy_names

if TYPE_CHECKING:
    from shipflow.errors import KeyFileError, SignatureVerificationError
    from shipflow.signing.attachments import attestation_tag, signature_tag
    from shipflow.signing.dsse import PREDICATE_TYPES, predicate_type_uri
    from shipflow.signing.gate import SignatureGate
    from shipflow.signing.keys import (
        PrivateKey,
        PublicKey,
        Signer,
        Verifier,
        encrypt_private_key,
        generate_private_key,
        load_private_key,
        load_public_key,
        load_public_keys,
        private_key_from_settings,
    )
    from shipflow.signing.payload import build_payload, docker_reference
    from shipflow.signing.policy import AllOf, AnyOf, KeyPolicy, Policy, trusted_keys, trusted_keys_from_paths
    from shipflow.signing.sign import AttestResult, SignResult, attest, sign
    from shipflow.signing.verify import (
        Rejection,
        Report,
        VerifiedAttestation,
        VerifiedSignature,
        verify,
        verify_attestations,
        verify_attestations_report,
        verify_report,
    )

__all__ = [
    "PREDICATE_TYPES",
    "AllOf",
    "AnyOf",
    "AttestResult",
    "KeyFileError",
    "KeyPolicy",
    "Policy",
    "PrivateKey",
    "PublicKey",
    "Rejection",
    "Report",
    "SignResult",
    "SignatureGate",
    "SignatureVerificationError",
    "Signer",
    "VerifiedAttestation",
    "VerifiedSignature",
    "Verifier",
    "attest",
    "attestation_tag",
    "build_payload",
    "docker_reference",
    "encrypt_private_key",
    "generate_private_key",
    "load_private_key",
    "load_public_key",
    "load_public_keys",
    "predicate_type_uri",
    "private_key_from_settings",
    "sign",
    "signature_tag",
    "trusted_keys",
    "trusted_keys_from_paths",
    "verify",
    "verify_attestations",
    "verify_attestations_report",
    "verify_report",
]

# Names are imported on first use (PEP 562), so importing one submodule (or the package for
# one name) does not import the rest.
_MODULE_OF = {
    "KeyFileError": "shipflow.errors",
    "SignatureVerificationError": "shipflow.errors",
    "attestation_tag": "shipflow.signing.attachments",
    "signature_tag": "shipflow.signing.attachments",
    "PREDICATE_TYPES": "shipflow.signing.dsse",
    "predicate_type_uri": "shipflow.signing.dsse",
    "SignatureGate": "shipflow.signing.gate",
    "PrivateKey": "shipflow.signing.keys",
    "PublicKey": "shipflow.signing.keys",
    "Signer": "shipflow.signing.keys",
    "Verifier": "shipflow.signing.keys",
    "encrypt_private_key": "shipflow.signing.keys",
    "generate_private_key": "shipflow.signing.keys",
    "load_private_key": "shipflow.signing.keys",
    "load_public_key": "shipflow.signing.keys",
    "load_public_keys": "shipflow.signing.keys",
    "private_key_from_settings": "shipflow.signing.keys",
    "build_payload": "shipflow.signing.payload",
    "docker_reference": "shipflow.signing.payload",
    "AllOf": "shipflow.signing.policy",
    "AnyOf": "shipflow.signing.policy",
    "KeyPolicy": "shipflow.signing.policy",
    "Policy": "shipflow.signing.policy",
    "trusted_keys": "shipflow.signing.policy",
    "trusted_keys_from_paths": "shipflow.signing.policy",
    "AttestResult": "shipflow.signing.sign",
    "SignResult": "shipflow.signing.sign",
    "attest": "shipflow.signing.sign",
    "sign": "shipflow.signing.sign",
    "Rejection": "shipflow.signing.verify",
    "Report": "shipflow.signing.verify",
    "VerifiedAttestation": "shipflow.signing.verify",
    "VerifiedSignature": "shipflow.signing.verify",
    "verify": "shipflow.signing.verify",
    "verify_attestations": "shipflow.signing.verify",
    "verify_attestations_report": "shipflow.signing.verify",
    "verify_report": "shipflow.signing.verify",
}

__getattr__, __dir__ = lazy_names(__name__, _MODULE_OF)
