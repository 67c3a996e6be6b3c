"""Recording the purls shipflow builds and comparing them with packageurl-python's
(tests/unit/sbom/test_purls.py, tests/interop/test_purls_vs_packageurl.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pytest
from packageurl import PackageURL

from shipflow.sbom import _purls as purls

Call = tuple[str, str | None, str, str | None, dict[str, str] | None, str]


def library_purl(
    purl_type: str,
    namespace: str | None,
    name: str,
    version: str | None,
    qualifiers: Mapping[str, str] | None,
) -> str:
    return str(
        PackageURL(
            type=purl_type,
            namespace=namespace,
            name=name,
            version=version,
            qualifiers=dict(qualifiers) if qualifiers else None,
        )
    )


@contextmanager
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Call]]:
    """Every purl shipflow builds while the block runs, with the components it was built from."""
    calls: list[Call] = []
    build = purls.purl

    def recording(
        purl_type: str,
        namespace: str | None,
        name: str,
        version: str | None = None,
        qualifiers: Mapping[str, str] | None = None,
    ) -> str:
        result = build(purl_type, namespace, name, version, qualifiers)
        calls.append((purl_type, namespace, name, version, dict(qualifiers) if qualifiers else None, result))
        return result

    with monkeypatch.context() as patch:
        patch.setattr(purls, "purl", recording)
        yield calls


def assert_same_as_library(calls: list[Call]) -> None:
    assert calls, "nothing was cataloged"
    for purl_type, namespace, name, version, qualifiers, ours in calls:
        assert ours == library_purl(purl_type, namespace, name, version, qualifiers), (
            purl_type,
            namespace,
            name,
            version,
            qualifiers,
        )
