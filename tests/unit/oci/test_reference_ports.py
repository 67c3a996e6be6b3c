"""Registry ports in references: an invalid one is a usage error when the reference is parsed,
before any connection (``localhost:99999/x`` used to be retried for seconds)."""

from __future__ import annotations

import pytest

from shipflow.errors import InvalidReference
from shipflow.oci.reference import parse_reference


@pytest.mark.parametrize(
    "text", ["localhost:99999/x", "localhost:0/x", "127.0.0.1:65536/app:v1", "[::1]:70000/x"]
)
def test_a_port_outside_1_to_65535_is_refused_at_parse_time(text: str) -> None:
    with pytest.raises(InvalidReference, match="invalid registry port") as info:
        parse_reference(text)
    assert info.value.exit_code == 2
    assert info.value.hint and "registry address" in info.value.hint


@pytest.mark.parametrize(
    ("text", "registry"),
    [
        ("localhost:1/x", "localhost:1"),
        ("127.0.0.1:65535/app:v1", "127.0.0.1:65535"),
        ("[::1]:5000/x", "[::1]:5000"),
        ("ghcr.io/org/app:5000", "ghcr.io"),  # a tag that looks like a port stays a tag
    ],
)
def test_valid_ports_parse(text: str, registry: str) -> None:
    assert parse_reference(text).registry == registry
