"""The OCI 1.1 referrers API path, against a real registry that has it (olareg, fixtures.peers).

distribution 2.8 lacks the API (its tag-scheme fallback is tested in
test_registry_integration.py); here the registry indexes ``subject`` itself, so
``add_referrer`` writes nothing and ``referrers`` reads the API's index.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fixtures.registry import Registry
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import RegistryConfig
from shipflow.oci.registry.store import RegistryStore
from support.registry import CountingTransport, push_image, tiny_image


@pytest.fixture
def api_store(
    referrers_registry: Registry, repo_name: str
) -> Iterator[tuple[RegistryStore, CountingTransport]]:
    counting = CountingTransport()
    client = RegistryClient(referrers_registry.host, RegistryConfig(), transport=counting)
    try:
        yield RegistryStore(client, repo_name), counting
    finally:
        client.close()


def test_referrers_api_lists_and_filters(api_store: tuple[RegistryStore, CountingTransport]) -> None:
    store, counting = api_store
    subject = tiny_image()
    push_image(store, subject, tag="app")
    assert store.referrers(subject.manifest.digest) == []  # 200 with an empty index, not 404
    assert store.client.referrers_api is True

    sig = tiny_image([32], subject=subject.manifest, artifact_type="application/vnd.example.sig")
    sbom = tiny_image([32], subject=subject.manifest, artifact_type="application/vnd.example.sbom")
    for ref in (sig, sbom):
        push_image(store, ref)
        before = len(counting.exchanges)
        store.add_referrer(subject.manifest.digest, ref.manifest)
        assert counting.exchanges[before:] == []  # the registry indexes subjects itself

    found = store.referrers(subject.manifest.digest)
    assert {d.digest for d in found} == {sig.manifest.digest, sbom.manifest.digest}
    by_digest = {d.digest: d for d in found}
    assert by_digest[sig.manifest.digest].artifact_type == "application/vnd.example.sig"
    assert by_digest[sig.manifest.digest].size == sig.manifest.size

    only_sbom = store.referrers(subject.manifest.digest, "application/vnd.example.sbom")
    assert [d.digest for d in only_sbom] == [sbom.manifest.digest]
    # No fallback tag was written: the API is the index.
    assert store.list_tags() == ["app"]


def test_referrers_api_detected_on_first_add(api_store: tuple[RegistryStore, CountingTransport]) -> None:
    store, counting = api_store
    subject = tiny_image()
    push_image(store, subject)
    ref = tiny_image([16], subject=subject.manifest, artifact_type="application/vnd.example.att")
    push_image(store, ref)
    store.add_referrer(subject.manifest.digest, ref.manifest)
    assert store.client.referrers_api is True
    assert not any(e.method == "PUT" and "/manifests/sha256-" in e.path for e in counting.exchanges)
    assert [d.digest for d in store.referrers(subject.manifest.digest)] == [ref.manifest.digest]
