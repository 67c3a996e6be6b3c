"""Predicates (issue 11 item 3): ``attest`` never writes an attestation that shipflow's own
``verify-attestation`` then refuses. The read side refuses attestation layers over
MAX_LAYER_BYTES; the write side caps the predicate so that its envelope fits, and refuses
devices, oversized and over-deep predicates before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipflow.errors import UsageError
from shipflow.fsutil import read_capped
from shipflow.oci.layout import LayoutStore
from shipflow.signing.attachments import MAX_LAYER_BYTES, MAX_PREDICATE_BYTES, attestation_tag
from shipflow.signing.keys import generate_private_key
from shipflow.signing.policy import trusted_keys
from shipflow.signing.sign import attest
from shipflow.signing.verify import verify_attestations_report
from support.signing import make_image


def test_predicate_from_a_device_is_refused() -> None:
    with pytest.raises(UsageError, match=r"^predicate /dev/zero is not a regular file$") as caught:
        read_capped(Path("/dev/zero"), MAX_PREDICATE_BYTES, what="predicate")  # as attest reads it
    assert caught.value.exit_code == 2


def test_predicate_over_the_cap_is_refused_without_reading_it(tmp_path: Path) -> None:
    huge = tmp_path / "p.json"
    with open(huge, "wb") as handle:
        handle.truncate(24 * 1024**3)  # sparse
    with pytest.raises(UsageError, match=f"more than the limit of {MAX_PREDICATE_BYTES}"):
        read_capped(huge, MAX_PREDICATE_BYTES, what="predicate")


def test_the_cap_matches_what_verify_attestation_reads() -> None:
    # base64 makes 4 bytes of 3; what is left covers the statement header and the signature.
    assert MAX_PREDICATE_BYTES // 3 * 4 < MAX_LAYER_BYTES - 32 * 1024


def test_a_50_mib_predicate_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    """Before the fix: written (67 MB envelope), then refused by verify-attestation."""
    store = LayoutStore(tmp_path / "layout", create=True)
    digest = make_image(store, "app", tag="v1")
    predicate = b'"' + b"x" * (50 * 1024 * 1024) + b'"'
    with pytest.raises(UsageError, match=r"more than the .* an attestation can carry"):
        attest(
            store, digest, generate_private_key(), predicate_type="https://example.com/p", predicate=predicate
        )
    assert attestation_tag(digest) not in store.list_tags()


@pytest.mark.slow  # signs and verifies a 64 MiB envelope: seconds
def test_a_predicate_at_the_cap_is_written_and_verifies(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "layout", create=True)
    digest = make_image(store, "app", tag="v1")
    key = generate_private_key()
    filler = MAX_PREDICATE_BYTES - len(b'{"sbom":""}')
    predicate = b'{"sbom":"' + b"a" * filler + b'"}'
    assert len(predicate) == MAX_PREDICATE_BYTES
    result = attest(store, digest, key, predicate_type="https://example.com/p", predicate=predicate)
    assert len(result.envelope) <= MAX_LAYER_BYTES
    report = verify_attestations_report(store, digest, trusted_keys([key.verifier]))
    assert report.ok and len(report.verified) == 1, report.rejected
    assert len(report.verified[0].predicate["sbom"]) == filler


def test_a_deep_predicate_is_refused_naming_it(tmp_path: Path) -> None:
    store = LayoutStore(tmp_path / "layout", create=True)
    digest = make_image(store, "app", tag="v1")
    for predicate in (b"[" * 100_000 + b"]" * 100_000, b"[" * 128 + b"]" * 128):
        with pytest.raises(UsageError, match=r"^the predicate is nested more than 127 levels deep$"):
            attest(store, digest, generate_private_key(), predicate_type="x://y", predicate=predicate)
    # One level less fits: the statement around it is then exactly as deep as the reader allows.
    ok = attest(
        store, digest, generate_private_key(), predicate_type="x://y", predicate=b"[" * 127 + b"]" * 127
    )
    assert ok.added
