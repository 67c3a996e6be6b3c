"""openssl, an independent implementation, reads the keys shipflow writes and verifies its
signatures.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from shipflow.signing.keys import (
    generate_private_key,
)


def test_openssl_reads_our_keys_and_verifies_our_signature(tmp_path: Path) -> None:
    """openssl (an independent implementation) accepts our public key PEM and DER signature."""
    key = generate_private_key()
    (tmp_path / "k.pub").write_bytes(key.verifier.pem)
    (tmp_path / "data").write_bytes(b"signed bytes")
    (tmp_path / "sig").write_bytes(key.sign(b"signed bytes"))
    result = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sha256",
            "-verify",
            str(tmp_path / "k.pub"),
            "-signature",
            str(tmp_path / "sig"),
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and "Verified OK" in result.stdout, result.stderr
