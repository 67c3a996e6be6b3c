"""The registry client against the real CNCF distribution registry (2.8) on 127.0.0.1.

Anonymous, htpasswd Basic and token (Bearer) auth; blob and manifest round trips with digests
verified; chunked uploads; cross-repository mounts; tag listing; referrers via the tag-scheme
fallback (2.8 has no referrers API). The manifest size cap is a unit test (test_registry_unit.py):
distribution 2.8 itself refuses to store a manifest over 4 MiB, so no real one can be served.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest

from fixtures.registry import AUTH_PASSWORD, AUTH_USER, Registry
from fixtures.tokenserver import REFRESH_TOKEN, TokenServer
from shipflow.errors import AuthError, BlobNotFound, ManifestNotFound
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.models import ManifestBytes
from shipflow.oci.open import open_store
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import MIB, RegistryConfig
from shipflow.oci.registry.credentials import Credentials
from shipflow.oci.registry.store import RegistryStore
from shipflow.oci.store import Store
from support.registry import CountingTransport, push_image, read_blob, tiny_image


@pytest.fixture
def clients() -> Iterator[list[RegistryClient]]:
    """Collects clients a test makes and closes them afterwards."""
    made: list[RegistryClient] = []
    yield made
    for client in made:
        client.close()


def _store(
    clients: list[RegistryClient],
    reg: Registry,
    repo: str,
    *,
    transport: httpx.BaseTransport | None = None,
    credentials: Credentials | None = None,
    **config: object,
) -> RegistryStore:
    cfg = RegistryConfig(**config)  # type: ignore[arg-type]
    client = RegistryClient(reg.host, cfg, transport=transport, credentials=credentials)
    clients.append(client)
    return RegistryStore(client, repo)


# -- anonymous round trips --------------------------------------------------------------------


def test_store_satisfies_the_protocol(
    registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    store = _store(clients, registry, repo_name)
    assert isinstance(store, Store)
    assert store.name == f"{registry.host}/{repo_name}"


def test_push_and_pull_image_round_trip(
    registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    store = _store(clients, registry, repo_name)
    image = tiny_image([4096, 70_000])
    digest = push_image(store, image, tag="v1")
    assert digest == image.manifest.digest

    for blob in image.blobs:
        assert store.has_blob(blob.digest)
        assert read_blob(store, blob.digest) == blob.data

    by_tag = store.get_manifest("v1")
    assert by_tag.data == image.manifest.data  # exact bytes, not re-serialised
    assert by_tag.digest == digest
    by_digest = store.get_manifest(str(digest))
    assert by_digest == by_tag
    described = store.resolve("v1")
    assert (described.digest, described.size, described.media_type) == (
        digest,
        image.manifest.size,
        mt.OCI_MANIFEST,
    )
    assert store.resolve(str(digest)).digest == digest
    assert store.list_tags() == ["v1"]


def test_missing_things_raise_not_found(
    registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    store = _store(clients, registry, repo_name)
    push_image(store, tiny_image(), tag="present")
    absent = Digest.of(b"never pushed " + os.urandom(8))
    with pytest.raises(ManifestNotFound):
        store.get_manifest("absent")
    with pytest.raises(ManifestNotFound):
        store.resolve(str(absent))
    assert store.has_blob(absent) is False
    with pytest.raises(BlobNotFound), store.open_blob(absent):
        pass
    empty = _store(clients, registry, repo_name + "-empty")
    assert empty.list_tags() == []


def test_tag_is_one_manifest_put(registry: Registry, clients: list[RegistryClient], repo_name: str) -> None:
    counting = CountingTransport()
    store = _store(clients, registry, repo_name, transport=counting)
    image = tiny_image([2048])
    digest = push_image(store, image, tag="build")
    before = len(counting.exchanges)
    # A store that has not seen the manifest yet (as in a new process): it reads it once.
    RegistryStore(store.client, repo_name).tag(digest, "staging")
    retag = counting.exchanges[before:]
    assert [(e.method, e.path.rsplit("/", 1)[-1]) for e in retag] == [
        ("GET", str(digest)),
        ("PUT", "staging"),
    ]
    assert store.resolve("staging").digest == digest
    assert store.list_tags() == ["build", "staging"]


def test_list_tags_many_sorted(registry: Registry, clients: list[RegistryClient], repo_name: str) -> None:
    store = _store(clients, registry, repo_name)
    image = tiny_image()
    push_image(store, image)
    names = [f"t{i:02d}" for i in range(25)]
    for name in reversed(names):
        store.tag(image.manifest.digest, name)
    assert store.list_tags() == sorted(names)


def test_chunked_upload_of_20_mb_blob(
    registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    counting = CountingTransport()
    store = _store(
        clients,
        registry,
        repo_name,
        transport=counting,
        monolithic_threshold=16 * MIB,
        upload_chunk_size=8 * MIB,
    )
    data = os.urandom(20 * MIB + 123)
    digest = Digest.of(data)
    # Fed in odd-sized pieces so chunk boundaries do not line up with the source's.
    pieces = (data[i : i + 777_777] for i in range(0, len(data), 777_777))
    store.put_blob(digest, len(data), pieces)
    assert counting.count("PATCH") == 3  # 8 + 8 + 4 MiB
    assert counting.bytes_sent("PATCH") == len(data)
    assert read_blob(store, digest) == data
    # Already there: a second put is one HEAD and no upload.
    before = len(counting.exchanges)
    store.put_blob(digest, len(data), iter([data]))
    assert [e.method for e in counting.exchanges[before:]] == ["HEAD"]


def test_monolithic_upload_is_post_then_put(
    registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    counting = CountingTransport()
    store = _store(clients, registry, repo_name, transport=counting)
    data = os.urandom(300_000)
    store.put_blob(Digest.of(data), len(data), [data[:1000], data[1000:]])
    assert [e.method for e in counting.exchanges] == ["HEAD", "POST", "PUT"]
    put = counting.exchanges[-1]
    assert "_state=" in put.query and "digest=sha256" in put.query  # digest appended to the query
    assert put.sent_bytes == len(data)


def test_cross_repository_mount_moves_no_bytes(
    registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    source = _store(clients, registry, repo_name + "-src")
    image = tiny_image([500_000, 20_000])
    push_image(source, image, tag="v1")

    counting = CountingTransport()
    dest = _store(clients, registry, repo_name + "-dst", transport=counting)
    for blob in image.blobs:
        assert dest.mount_blob(blob.digest, source) is True
    assert counting.bytes_sent() == 0
    assert counting.count("POST") == len(image.blobs)
    assert all(e.status == 201 for e in counting.exchanges if e.method == "POST")
    assert "mount=sha256" in counting.exchanges[0].query and "from=" in counting.exchanges[0].query
    dest.put_manifest(image.manifest, tag="v1")
    assert read_blob(dest, image.layers[0].digest) == image.layers[0].data


def test_mount_of_missing_blob_falls_back(
    registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    source = _store(clients, registry, repo_name + "-src")
    push_image(source, tiny_image())
    counting = CountingTransport()
    dest = _store(clients, registry, repo_name + "-dst", transport=counting)
    missing = Digest.of(os.urandom(16))
    assert dest.mount_blob(missing, source) is False
    # The upload session the registry opened instead was cancelled.
    assert [e.method for e in counting.exchanges] == ["POST", "DELETE"]
    assert counting.exchanges[0].status == 202


def test_mount_needs_same_registry(
    registry: Registry, registry2: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    source = _store(clients, registry, repo_name)
    image = tiny_image()
    push_image(source, image)
    other = _store(clients, registry2, repo_name)
    assert other.mount_blob(image.layers[0].digest, source) is False
    assert other.has_blob(image.layers[0].digest) is False


def test_open_store_gives_registry_store(registry: Registry, repo_name: str) -> None:
    store = open_store(f"{registry.host}/{repo_name}:v1")
    try:
        assert isinstance(store, RegistryStore)
        assert store.client is RegistryClient.shared(registry.host, RegistryConfig.from_env())
        push_image(store, tiny_image(), tag="v1")
        assert store.list_tags() == ["v1"]
    finally:
        RegistryClient.close_shared()


# -- Basic auth ----------------------------------------------------------------------------------


def test_basic_auth_round_trip(
    auth_registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    store = _store(clients, auth_registry, repo_name, username=AUTH_USER, password=AUTH_PASSWORD)
    assert store.client.credentials.source == "explicit"
    image = tiny_image([10_000])
    push_image(store, image, tag="v1")
    assert store.get_manifest("v1").digest == image.manifest.digest
    assert read_blob(store, image.layers[0].digest) == image.layers[0].data


def test_basic_auth_parallel_first_requests_all_succeed(
    auth_registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    """Many threads send their first request at once, before any knows Basic is needed: each
    one that got a 401 must retry with credentials, whatever the others did meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    store = _store(clients, auth_registry, repo_name, username=AUTH_USER, password=AUTH_PASSWORD)
    digests = [Digest.of(f"absent-{i}".encode()) for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(store.has_blob, digests))
    assert answers == [False] * len(digests)


def test_basic_auth_from_registry_env(
    auth_registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    env = {
        "REGISTRY_URL": auth_registry.host,
        "REGISTRY_USERNAME": AUTH_USER,
        "REGISTRY_PASSWORD": AUTH_PASSWORD,
    }
    client = RegistryClient(auth_registry.host, RegistryConfig.from_env(env))
    clients.append(client)
    assert client.credentials.source == "environment"
    store = RegistryStore(client, repo_name)
    push_image(store, tiny_image(), tag="v1")
    assert store.list_tags() == ["v1"]


def test_basic_auth_wrong_password_is_auth_error_with_hint(
    auth_registry: Registry, clients: list[RegistryClient], repo_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    sentinel = "SENTINEL-wrong-pw-7f3a9c"
    caplog.set_level("DEBUG")
    store = _store(clients, auth_registry, repo_name, username=AUTH_USER, password=sentinel)
    with pytest.raises(AuthError) as caught:
        store.list_tags()
    err = caught.value
    assert err.status == 401 and err.exit_code == 3
    assert err.hint is not None and "REGISTRY_USERNAME" in err.hint
    assert sentinel not in str(err) and sentinel not in (err.hint or "")
    assert sentinel not in caplog.text
    assert caplog.records, "debug logging was on; something must have been logged"


def test_anonymous_against_basic_registry_is_auth_error(
    auth_registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    store = _store(clients, auth_registry, repo_name, docker_config=None, registry_url="example.invalid")
    with pytest.raises(AuthError, match="anonymously"):
        store.get_manifest("latest")


def test_no_secret_in_debug_logs(
    auth_registry: Registry,
    token_registry: Registry,
    clients: list[RegistryClient],
    repo_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import base64

    caplog.set_level("DEBUG")
    for reg in (auth_registry, token_registry):
        store = _store(clients, reg, repo_name, username=AUTH_USER, password=AUTH_PASSWORD)
        push_image(store, tiny_image(), tag="v1")
        assert store.list_tags() == ["v1"]
    server: TokenServer = token_registry.extra["token_server"]
    assert server.issued
    text = caplog.text
    assert "HTTP Request" in text  # httpx's own request log was captured
    assert AUTH_PASSWORD not in text
    assert base64.b64encode(f"{AUTH_USER}:{AUTH_PASSWORD}".encode()).decode() not in text
    for token in server.issued:
        assert token not in text
        assert token.split(".")[2] not in text


# -- Bearer token auth ---------------------------------------------------------------------------


def test_token_auth_round_trip_and_token_cache(
    token_registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    server: TokenServer = token_registry.extra["token_server"]
    store = _store(clients, token_registry, repo_name, username=AUTH_USER, password=AUTH_PASSWORD)
    image = tiny_image([1000, 2000, 3000])
    push_image(store, image, tag="v1")
    for blob in image.blobs:
        assert read_blob(store, blob.digest) == blob.data
    assert store.get_manifest("v1").digest == image.manifest.digest
    assert store.list_tags() == ["v1"]
    requests = server.requests_for(repo_name)
    # One token for push (pull,push covers every later pull): cached, not fetched per request.
    assert len(requests) == 1, requests
    assert requests[0].user == AUTH_USER and requests[0].status == 200
    assert requests[0].scopes == [f"repository:{repo_name}:pull,push"]
    assert store.client.auth.token_requests == 1


def test_token_auth_pull_only_then_push_fetches_new_scope(
    token_registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    server: TokenServer = token_registry.extra["token_server"]
    store = _store(clients, token_registry, repo_name, username=AUTH_USER, password=AUTH_PASSWORD)
    assert store.list_tags() == []  # pull scope
    assert store.list_tags() == []  # cached
    push_image(store, tiny_image(), tag="v1")  # needs push: a second token
    assert store.list_tags() == ["v1"]
    scopes = [r.scopes for r in server.requests_for(repo_name)]
    assert scopes == [[f"repository:{repo_name}:pull"], [f"repository:{repo_name}:pull,push"]]


def test_token_auth_wrong_password(
    token_registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    store = _store(clients, token_registry, repo_name, username=AUTH_USER, password="SENTINEL-bad-token-pw")
    with pytest.raises(AuthError) as caught:
        store.list_tags()
    assert "refused the credentials" in str(caught.value)
    assert "SENTINEL" not in str(caught.value)
    assert caught.value.hint and "REGISTRY_USERNAME" in caught.value.hint


def test_token_auth_anonymous_is_refused(
    token_registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    store = _store(clients, token_registry, repo_name, credentials=Credentials())
    with pytest.raises(AuthError, match="anonymously"):
        store.list_tags()
    assert store.client.auth.token_requests == 1  # one token, one retry with it, then stop: no loop


def test_token_auth_identity_token_from_docker_config(
    token_registry: Registry, clients: list[RegistryClient], repo_name: str, tmp_path: object
) -> None:
    from pathlib import Path

    config_path = Path(str(tmp_path)) / "config.json"
    config_path.write_text(json.dumps({"auths": {token_registry.host: {"identitytoken": REFRESH_TOKEN}}}))
    store = _store(
        clients, token_registry, repo_name, docker_config=config_path, registry_url="example.invalid"
    )
    assert store.client.credentials.source == "docker-config"
    push_image(store, tiny_image(), tag="v1")
    server: TokenServer = token_registry.extra["token_server"]
    assert [r.method for r in server.requests_for(repo_name)] == ["POST"]


def test_token_auth_cross_repository_mount(
    token_registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    server: TokenServer = token_registry.extra["token_server"]
    source = _store(clients, token_registry, repo_name + "-src", username=AUTH_USER, password=AUTH_PASSWORD)
    image = tiny_image([50_000])
    push_image(source, image, tag="v1")
    counting = CountingTransport()
    dest = _store(
        clients,
        token_registry,
        repo_name + "-dst",
        transport=counting,
        username=AUTH_USER,
        password=AUTH_PASSWORD,
    )
    assert dest.mount_blob(image.layers[0].digest, source) is True
    assert counting.bytes_sent() == 0
    mount_tokens = [r for r in server.requests_for(repo_name + "-dst")]
    assert len(mount_tokens) == 1
    assert sorted(mount_tokens[0].scopes) == [
        f"repository:{repo_name}-dst:pull,push",
        f"repository:{repo_name}-src:pull",
    ]


# -- referrers (2.8: tag-scheme fallback) --------------------------------------------------------


def test_referrers_fallback_on_distribution_2_8(
    registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    store = _store(clients, registry, repo_name)
    subject = tiny_image()
    push_image(store, subject, tag="app")
    assert store.referrers(subject.manifest.digest) == []
    assert store.client.referrers_api is False  # 2.8 answered 404: no API

    sig = tiny_image([64], subject=subject.manifest, artifact_type="application/vnd.example.sig")
    sbom = tiny_image([64], subject=subject.manifest, artifact_type="application/vnd.example.sbom")
    for ref in (sig, sbom):
        push_image(store, ref)
        store.add_referrer(subject.manifest.digest, ref.manifest)
    store.add_referrer(subject.manifest.digest, sig.manifest)  # idempotent

    found = store.referrers(subject.manifest.digest)
    assert [d.digest for d in found] == [sig.manifest.digest, sbom.manifest.digest]
    only_sig = store.referrers(subject.manifest.digest, "application/vnd.example.sig")
    assert [d.digest for d in only_sig] == [sig.manifest.digest]
    tag = subject.manifest.digest.tag_form
    assert tag in store.list_tags()
    index = store.get_manifest(tag)
    assert index.media_type == mt.OCI_INDEX


def test_put_manifest_by_digest_without_tag(
    registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    store = _store(clients, registry, repo_name)
    image = tiny_image()
    for blob in image.blobs:
        store.put_blob(blob.digest, len(blob.data), [blob.data])
    digest = store.put_manifest(image.manifest)
    assert store.list_tags() == []
    assert store.get_manifest(str(digest)).data == image.manifest.data


def test_docker_manifest_list_keeps_media_type(
    registry: Registry, clients: list[RegistryClient], repo_name: str
) -> None:
    store = _store(clients, registry, repo_name)
    image = tiny_image()
    push_image(store, image)
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": str(image.manifest.digest),
                "size": image.manifest.size,
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    index = ManifestBytes.create(json.dumps(doc).encode(), mt.OCI_INDEX)
    store.put_manifest(index, tag="multi")
    got = store.get_manifest("multi")
    assert got.media_type == mt.OCI_INDEX and got.data == index.data
    assert store.resolve("multi").media_type == mt.OCI_INDEX


def test_token_registry_really_verifies_tokens(
    token_registry: Registry, clients: list[RegistryClient], repo_name: str, tmp_path: object
) -> None:
    """The registry checks the JWT's signature chain: a well-formed token from an untrusted
    signer is refused, one from the fixture's signer is accepted."""
    from pathlib import Path

    from fixtures.tokenserver import TokenSigner

    store = _store(clients, token_registry, repo_name, username=AUTH_USER, password=AUTH_PASSWORD)
    push_image(store, tiny_image(), tag="v1")
    url = f"{token_registry.url}/v2/{repo_name}/tags/list"
    scope = [f"repository:{repo_name}:pull"]
    forged = TokenSigner(Path(str(tmp_path))).token(AUTH_USER, scope, grant=True)
    assert httpx.get(url, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    server: TokenServer = token_registry.extra["token_server"]
    issued = httpx.get(
        server.realm,
        params={"service": "shipflow-test-registry", "scope": scope[0]},
        auth=(AUTH_USER, AUTH_PASSWORD),
    ).json()["token"]
    answer = httpx.get(url, headers={"Authorization": f"Bearer {issued}"})
    assert answer.status_code == 200 and answer.json()["tags"] == ["v1"]
