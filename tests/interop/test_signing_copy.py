"""Signatures survive copies: shipflow's copy --with-attachments and skopeo's sigstore attachments.

Verification happens at the destination, so the digest claim and the payload bytes must have
travelled unchanged.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fixtures.peers import write_sigstore_registries_d
from fixtures.registry import Registry
from shipflow.oci.copy import copy
from shipflow.oci.layout import LayoutStore
from shipflow.oci.open import open_store
from shipflow.signing import (
    SignatureVerificationError,
    attest,
    generate_private_key,
    sign,
    trusted_keys,
    verify,
    verify_attestations,
)
from support.signing import make_image

SPDX = b'{"spdxVersion":"SPDX-2.3","name":"copied","packages":[]}'


def test_copy_with_attachments_keeps_signatures_verifiable(
    registry: Registry, registry2: Registry, repo_name: str, tmp_path: Path
) -> None:
    key = generate_private_key()
    src = open_store(registry.ref(repo_name))
    digest = make_image(src, "copy me", tag="v1")
    sign(src, digest, key, reference=registry.ref(repo_name))
    attest(src, digest, key, predicate_type="https://spdx.dev/Document", predicate=SPDX)
    policy = trusted_keys([key.verifier])

    for dst in (open_store(registry2.ref(repo_name)), LayoutStore(tmp_path / "dst", create=True)):
        assert copy(src, "v1", dst, "v1", with_attachments=True) == digest
        assert len(verify(dst, digest, policy)) == 1
        assert len(verify_attestations(dst, digest, policy, predicate_type="https://spdx.dev/Document")) == 1

    plain = LayoutStore(tmp_path / "plain", create=True)
    copy(src, "v1", plain, "v1", with_attachments=False)
    with pytest.raises(SignatureVerificationError, match="has no signatures"):
        verify(plain, digest, policy)


def test_skopeo_carries_shipflow_signatures(
    skopeo_bin: str, registry: Registry, registry2: Registry, repo_name: str, tmp_path: Path
) -> None:
    """skopeo (containers/image, an independent implementation) finds our ``.sig`` attachment
    with ``use-sigstore-attachments`` and copies it; the copy verifies."""
    key = generate_private_key()
    src = open_store(registry.ref(repo_name))
    digest = make_image(src, "skopeo carries me", tag="v1")
    sign(src, digest, key, reference=registry.ref(repo_name))
    registries_d = write_sigstore_registries_d(tmp_path / "registries.d", registry.host, registry2.host)
    result = subprocess.run(
        [
            skopeo_bin,
            "--registries.d",
            str(registries_d),
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--preserve-digests",
            f"docker://{registry.ref(repo_name)}@{digest}",
            f"docker://{registry2.ref(repo_name, 'copied')}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    dst = open_store(registry2.ref(repo_name))
    [verified] = verify(dst, digest, trusted_keys([key.verifier]))
    assert verified.image_digest == digest
