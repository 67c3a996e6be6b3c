"""Unit tests of the registry client's logic, with httpx.MockTransport standing in for a registry.

Only what a real registry cannot be made to do on demand is tested here: pagination by ``n``
(distribution 2.8 ignores it), Retry-After, 503s, wrong bytes, oversized manifests, a
referrers API answer. Everything else is tested against the real registry
(test_registry_integration.py).
"""

from __future__ import annotations

import base64
import email.utils
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from shipflow.errors import (
    AuthError,
    ConfigError,
    IntegrityError,
    ManifestError,
    ManifestNotFound,
    RegistryError,
    TransportError,
)
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.registry.auth import merge_scopes, parse_challenges
from shipflow.oci.registry.client import RegistryClient, retry_after_seconds
from shipflow.oci.registry.config import RegistryConfig, is_loopback, normalize_host
from shipflow.oci.registry.credentials import Credentials, resolve_credentials
from shipflow.oci.registry.store import RegistryStore, next_link
from shipflow.oci.registry.upload import with_query
from shipflow.oci.store import CHUNK_SIZE
from shipflow.redact import redact, sanitize_url
from support.registry import tiny_image

Handler = Callable[[httpx.Request], httpx.Response]

HOST = "registry.test"
REPO = "org/app"


class Recorder:
    """A MockTransport handler that records requests and delegates to a function."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.authorization: list[str | None] = []  # as sent (the auth flow reuses request objects)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        self.authorization.append(request.headers.get("Authorization"))
        return self.handler(request)

    def methods(self) -> list[str]:
        return [r.method for r in self.requests]


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_store(
    handler: Handler,
    sleeps: list[float] | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    **config: object,
) -> tuple[RegistryStore, Recorder]:
    recorder = Recorder(handler)
    cfg = RegistryConfig(**config)  # type: ignore[arg-type]
    client = RegistryClient(
        HOST,
        cfg,
        transport=httpx.MockTransport(recorder),
        sleep=(sleeps.append if sleeps is not None else lambda _s: None),
        clock=clock,
        credentials=Credentials("user", "pw-unit", source="explicit"),
    )
    return RegistryStore(client, REPO), recorder


@pytest.fixture
def closing() -> Iterator[list[RegistryStore]]:
    stores: list[RegistryStore] = []
    yield stores
    for store in stores:
        store.client.close()


def manifest_response(
    data: bytes, *, digest: str | None = None, extra: dict[str, str] | None = None
) -> httpx.Response:
    headers = {"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": digest or str(Digest.of(data))}
    headers.update(extra or {})
    return httpx.Response(200, headers=headers, content=data)


# -- parsing -----------------------------------------------------------------------------------


def test_parse_challenges_handles_several_and_quoted_commas() -> None:
    challenges = parse_challenges(
        [
            'Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull,push"',
            'Basic realm="x", Bearer realm="https://b/t",error="insufficient_scope"',
        ]
    )
    assert [c.scheme for c in challenges] == ["bearer", "basic", "bearer"]
    assert challenges[0].params == {
        "realm": "https://auth.example/token",
        "service": "reg",
        "scope": "repository:a:pull,push",
    }
    assert challenges[2].params["error"] == "insufficient_scope"


def test_merge_scopes_unions_actions_per_repository() -> None:
    merged = merge_scopes(
        ["repository:a:pull"], ["repository:a:push", "repository:b:pull", "registry:catalog:*"]
    )
    assert merged == ["registry:catalog:*", "repository:a:pull,push", "repository:b:pull"]


def test_next_link_resolves_relative_and_refuses_other_hosts() -> None:
    current = "https://registry.test/v2/org/app/tags/list?n=2"
    assert (
        next_link('</v2/org/app/tags/list?last=b&n=2>; rel="next"', current)
        == "https://registry.test/v2/org/app/tags/list?last=b&n=2"
    )
    assert next_link(None, current) is None
    assert next_link('<https://other.test/x>; rel="prev"', current) is None
    with pytest.raises(RegistryError, match="another host"):
        next_link('<https://evil.test/v2/x>; rel="next"', current)


def test_with_query_appends_to_existing_state() -> None:
    assert with_query("/v2/a/blobs/uploads/u?_state=abc", digest="sha256:00") == (
        "/v2/a/blobs/uploads/u?_state=abc&digest=sha256%3A00"
    )
    assert with_query("/v2/a/blobs/uploads/u", digest="x") == "/v2/a/blobs/uploads/u?digest=x"


def test_retry_after_seconds_and_http_date() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (retry_after_seconds(future) or 0) <= 31
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert retry_after_seconds(past) == 0.0


# -- config and credentials --------------------------------------------------------------------


def test_config_from_env_and_schemes() -> None:
    cfg = RegistryConfig.from_env(
        {"SHIPFLOW_INSECURE_REGISTRIES": "reg.lan:5000, other.lan", "SHIPFLOW_REGISTRY_READ_TIMEOUT": "5"},
        insecure_registries=["flag.lan"],
    )
    assert cfg.insecure_registries == frozenset({"reg.lan:5000", "other.lan", "flag.lan"})
    assert cfg.read_timeout == 5.0 and cfg.connect_timeout == 10.0 and cfg.max_attempts == 4
    assert cfg.is_insecure("reg.lan:5000") and not cfg.is_insecure("reg.lan")
    for host in ("127.0.0.1:5000", "localhost:80", "[::1]:5000", "127.3.2.1"):
        assert is_loopback(host) and cfg.is_insecure(host), host
    assert not is_loopback("ghcr.io")
    expected = {
        "ghcr.io": "https://ghcr.io",
        "docker.io": "https://registry-1.docker.io",
        "127.0.0.1:5000": "http://127.0.0.1:5000",
        "reg.lan:5000": "http://reg.lan:5000",
    }
    for host, base_url in expected.items():
        with RegistryClient(host, cfg) as client:
            assert client.base_url == base_url
    assert normalize_host("https://index.docker.io/v1/") == "docker.io"


@pytest.mark.parametrize(
    "env",
    [
        {"SHIPFLOW_REGISTRY_READ_TIMEOUT": "forever"},
        {"SHIPFLOW_REGISTRY_CONNECT_TIMEOUT": "0"},
        {"SHIPFLOW_REGISTRY_MAX_ATTEMPTS": "0"},
        {"GITHUB_ACTIONS": "maybe"},
    ],
)
def test_config_rejects_bad_env(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        RegistryConfig.from_env(env)
    assert caught.value.exit_code == 2 and caught.value.hint


def test_config_repr_hides_secrets() -> None:
    cfg = RegistryConfig.from_env(
        {"REGISTRY_PASSWORD": "pw-secret-1", "GITHUB_TOKEN": "ghs_secret"}, password="flagpw"
    )
    assert "pw-secret-1" not in repr(cfg) and "ghs_secret" not in repr(cfg) and "flagpw" not in repr(cfg)
    creds = Credentials("u", "hidden-pw", "hidden-token")
    assert "hidden" not in repr(creds)


def _docker_config(tmp_path: Path, doc: dict[str, object]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(doc))
    return path


def test_credentials_precedence(tmp_path: Path) -> None:
    auth = base64.b64encode(b"dockeruser:dockerpw").decode()
    docker = _docker_config(
        tmp_path,
        {
            "auths": {
                "https://ghcr.io": {"auth": auth},
                "other.io": {"auth": auth},
                "tok.io": {"identitytoken": "idt"},
            }
        },
    )
    env = {
        "REGISTRY_USERNAME": "envuser",
        "REGISTRY_PASSWORD": "envpw",
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_TOKEN": "ghs_x",
    }

    def creds(host: str, environ: dict[str, str], **flags: object) -> Credentials:
        return resolve_credentials(host, RegistryConfig.from_env(environ, docker_config=docker, **flags))  # type: ignore[arg-type]

    # 1. explicit flags win, for every registry unless scoped to one
    assert creds("ghcr.io", env, username="flag", password="flagpw").source == "explicit"
    assert creds("other.io", env, username="flag", password="flagpw", credentials_host="ghcr.io").source == (
        "docker-config"
    )
    # 2. REGISTRY_* apply to REGISTRY_URL, which defaults to ghcr.io
    got = creds("ghcr.io", env)
    assert (got.username, got.password, got.source) == ("envuser", "envpw", "environment")
    assert creds("other.io", env).username == "dockeruser"  # not the GHCR secret
    moved = creds("other.io", {**env, "REGISTRY_URL": "https://other.io"})
    assert (moved.username, moved.source) == ("envuser", "environment")
    # 3. inside GitHub Actions, ghcr.io falls back to GITHUB_ACTOR / GITHUB_TOKEN
    actions = creds("ghcr.io", {k: v for k, v in env.items() if not k.startswith("REGISTRY_")})
    assert (actions.username, actions.password, actions.source) == ("octocat", "ghs_x", "github-actions")
    outside = creds("ghcr.io", {"GITHUB_ACTOR": "octocat", "GITHUB_TOKEN": "ghs_x"})
    assert outside.source == "docker-config"  # not in Actions: the token is not used
    # 4. docker config: base64 auth and identity tokens
    assert creds("tok.io", {}).identity_token == "idt"
    # 5. anonymous
    assert creds("nowhere.io", {}).is_anonymous


def test_missing_credential_helper_and_bad_files_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-helpers-here"))
    helper = _docker_config(tmp_path, {"credsStore": "desktop", "auths": {"ghcr.io": {}}})
    with pytest.raises(ConfigError, match="docker-credential-desktop is not on PATH") as info:
        resolve_credentials("ghcr.io", RegistryConfig(docker_config=helper))
    assert info.value.exit_code == 2 and "credsStore" in (info.value.hint or "")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        resolve_credentials("ghcr.io", RegistryConfig(docker_config=broken))
    bad_auth = _docker_config(tmp_path, {"auths": {"ghcr.io": {"auth": "!!!"}}})
    with pytest.raises(ConfigError, match="not base64"):
        resolve_credentials("ghcr.io", RegistryConfig(docker_config=bad_auth))
    assert resolve_credentials("ghcr.io", RegistryConfig(docker_config=tmp_path / "absent.json")).is_anonymous


def test_redaction() -> None:
    assert sanitize_url("https://u:pw-xyz@reg.io/v2/x?_state=abc&X-Amz-Signature=s3cr3t&n=5") == (
        "https://reg.io/v2/x?_state=***&X-Amz-Signature=***&n=5"
    )
    text = redact(
        'Authorization: Bearer abc.def.ghi {"token": "tok-123456"} eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl'
    )
    assert "abc.def" not in text and "tok-123456" not in text and "c2lnbmF0dXJl" not in text


# -- retries ---------------------------------------------------------------------------------


def test_retry_after_is_honoured_and_capped(sleeps: list[float], closing: list[RegistryStore]) -> None:
    image = tiny_image()
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(503, headers={"Retry-After": "3600"}),
            httpx.Response(
                503, headers={"Retry-After": email.utils.formatdate(time.time() + 20, usegmt=True)}
            ),
            manifest_response(image.manifest.data),
        ]
    )
    # A generous overall deadline: this test is about Retry-After, not the time budget.
    store, rec = make_store(lambda r: next(answers), sleeps, retry_after_cap=60.0, timeout=300.0)
    closing.append(store)
    assert store.get_manifest("v1").digest == image.manifest.digest
    assert len(rec.requests) == 4
    assert sleeps[0] == 7.0 and sleeps[1] == 60.0 and 15 <= sleeps[2] <= 21


def test_503_gives_up_after_max_attempts(sleeps: list[float], closing: list[RegistryStore]) -> None:
    store, rec = make_store(lambda r: httpx.Response(503, json={"errors": [{"code": "UNAVAILABLE"}]}), sleeps)
    closing.append(store)
    with pytest.raises(RegistryError) as caught:
        store.get_manifest("v1")
    assert len(rec.requests) == 4 and len(sleeps) == 3
    assert caught.value.status == 503 and caught.value.exit_code == 3
    assert "UNAVAILABLE" in str(caught.value) and caught.value.hint
    assert all(0 < s <= 10 for s in sleeps)  # jittered backoff, capped


def test_connection_errors_retried_for_get(sleeps: list[float], closing: list[RegistryStore]) -> None:
    image = tiny_image()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return manifest_response(image.manifest.data)

    store, _ = make_store(handler, sleeps)
    closing.append(store)
    assert store.get_manifest("v1").data == image.manifest.data
    assert len(calls) == 3


def test_connection_errors_exhausted_are_transport_errors(
    sleeps: list[float], closing: list[RegistryStore]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    store, _ = make_store(handler, sleeps, max_attempts=2)
    closing.append(store)
    with pytest.raises(TransportError) as caught:
        store.has_blob(Digest.of(b"x"))
    assert caught.value.exit_code == 3 and len(sleeps) == 1


def test_other_4xx_never_retried(sleeps: list[float], closing: list[RegistryStore]) -> None:
    store, rec = make_store(
        lambda r: httpx.Response(400, json={"errors": [{"code": "TAG_INVALID", "message": "bad tag"}]}),
        sleeps,
    )
    closing.append(store)
    with pytest.raises(RegistryError, match="TAG_INVALID: bad tag"):
        store.get_manifest("v1")
    assert len(rec.requests) == 1 and sleeps == []


def test_403_is_auth_error_with_hint(sleeps: list[float], closing: list[RegistryStore]) -> None:
    store, rec = make_store(lambda r: httpx.Response(403, json={"errors": [{"code": "DENIED"}]}), sleeps)
    closing.append(store)
    with pytest.raises(AuthError) as caught:
        store.list_tags()
    assert "refused access" in str(caught.value) and "REGISTRY_USERNAME" in (caught.value.hint or "")
    assert len(rec.requests) == 1


def test_post_and_patch_never_retried(sleeps: list[float], closing: list[RegistryStore]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(404)
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": f"/v2/{REPO}/blobs/uploads/s1?_state=x"})
        if request.method == "PATCH":
            return httpx.Response(503)
        return httpx.Response(204)

    store, rec = make_store(handler, sleeps, monolithic_threshold=10, upload_chunk_size=8)
    closing.append(store)
    data = b"0123456789abcdef"
    with pytest.raises(RegistryError) as caught:
        store.put_blob(Digest.of(data), len(data), [data])
    assert caught.value.status == 503
    assert rec.methods() == ["HEAD", "POST", "PATCH", "DELETE"]  # one PATCH, then the session is cancelled

    post_fails, rec2 = make_store(
        lambda r: httpx.Response(503) if r.method == "POST" else httpx.Response(404), sleeps
    )
    closing.append(post_fails)
    with pytest.raises(RegistryError):
        post_fails.mount_blob(Digest.of(data), RegistryStore(post_fails.client, "other/repo"))
    assert rec2.methods() == ["POST"]


def test_failed_monolithic_put_restarts_whole_upload(
    sleeps: list[float], closing: list[RegistryStore]
) -> None:
    sessions = iter(["s1", "s2"])
    put_urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(404)
        if request.method == "POST":
            return httpx.Response(
                202, headers={"Location": f"/v2/{REPO}/blobs/uploads/{next(sessions)}?_state=z"}
            )
        put_urls.append(str(request.url))
        if len(put_urls) == 1:
            return httpx.Response(503, headers={"Retry-After": "4"})
        return httpx.Response(201, headers={"Docker-Content-Digest": request.url.params["digest"]})

    store, rec = make_store(handler, sleeps)
    closing.append(store)
    data = b"small blob"
    store.put_blob(Digest.of(data), len(data), [data])
    # The failed PUT was not re-sent to its session: a new session was started.
    assert rec.methods() == ["HEAD", "POST", "PUT", "HEAD", "POST", "PUT"]
    assert "/s1?" in put_urls[0] and "/s2?" in put_urls[1]
    assert all("_state=z&digest=sha256" in u for u in put_urls)
    assert sleeps == [4.0]


def test_chunked_upload_session_refused_is_asked_again(
    sleeps: list[float], closing: list[RegistryStore]
) -> None:
    posts = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(404)
        if request.method == "POST":
            posts.append(request)
            if len(posts) == 1:
                return httpx.Response(429, headers={"Retry-After": "2"})
            return httpx.Response(202, headers={"Location": f"/v2/{REPO}/blobs/uploads/s?_state=a"})
        if request.method == "PATCH":
            end = int(request.headers["Content-Range"].split("-")[1])
            return httpx.Response(
                202, headers={"Location": f"/v2/{REPO}/blobs/uploads/s?_state=b", "Range": f"0-{end}"}
            )
        return httpx.Response(201, headers={"Docker-Content-Digest": request.url.params["digest"]})

    store, rec = make_store(handler, sleeps, monolithic_threshold=4, upload_chunk_size=5)
    closing.append(store)
    data = b"0123456789ab"
    store.put_blob(Digest.of(data), len(data), iter([data[:7], data[7:]]))
    assert rec.methods() == ["HEAD", "POST", "POST", "PATCH", "PATCH", "PATCH", "PUT"]
    assert sleeps == [2.0]
    assert [r.headers["Content-Range"] for r in rec.requests if r.method == "PATCH"] == [
        "0-4",
        "5-9",
        "10-11",
    ]
    assert [r.content for r in rec.requests if r.method == "PATCH"] == [b"01234", b"56789", b"ab"]
    assert rec.requests[-1].url.query.decode().startswith("_state=b&digest=")  # the newest Location


# -- verification ------------------------------------------------------------------------------


def test_blob_with_wrong_bytes_is_integrity_error(closing: list[RegistryStore]) -> None:
    wanted = Digest.of(b"the real content")
    store, _ = make_store(lambda r: httpx.Response(200, content=b"something else entirely"))
    closing.append(store)
    received = []
    with pytest.raises(IntegrityError) as caught, store.open_blob(wanted) as chunks:
        received.extend(chunks)
    assert received  # streamed first, refused at the end
    assert caught.value.exit_code == 3


def test_truncated_blob_is_transport_error(closing: list[RegistryStore]) -> None:
    data = b"0123456789"
    store, _ = make_store(lambda r: httpx.Response(200, headers={"Content-Length": "20"}, content=data))
    closing.append(store)
    with pytest.raises(TransportError, match="10 of 20"), store.open_blob(Digest.of(data + data)) as chunks:
        b"".join(chunks)


def test_manifest_bytes_not_matching_are_refused(closing: list[RegistryStore]) -> None:
    image = tiny_image()
    other = tiny_image()
    store, _ = make_store(lambda r: manifest_response(other.manifest.data))
    closing.append(store)
    with pytest.raises(IntegrityError):
        store.get_manifest(str(image.manifest.digest))  # by digest: the bytes must hash to it
    lying, _ = make_store(lambda r: manifest_response(other.manifest.data, digest=str(image.manifest.digest)))
    closing.append(lying)
    with pytest.raises(IntegrityError, match="registry says"):
        lying.get_manifest("v1")  # by tag: the bytes must hash to the claimed digest


def test_manifest_over_cap_refused_by_length_and_while_reading(closing: list[RegistryStore]) -> None:
    big = b"{" + b" " * (mt.MANIFEST_SIZE_LIMIT + 10) + b"}"
    declared, _ = make_store(lambda r: manifest_response(big))
    closing.append(declared)
    with pytest.raises(ManifestError, match="byte limit"):
        declared.get_manifest("v1")

    def streamed(request: httpx.Request) -> httpx.Response:
        # No Content-Length (chunked): the cap must hold while reading.
        pieces = (big[i : i + 65536] for i in range(0, len(big), 65536))
        return httpx.Response(200, headers={"Content-Type": mt.OCI_MANIFEST}, content=pieces)

    undeclared, _ = make_store(streamed)
    closing.append(undeclared)
    with pytest.raises(ManifestError, match="byte limit"):
        undeclared.get_manifest("v1")


def test_manifest_not_json_is_manifest_error(closing: list[RegistryStore]) -> None:
    store, _ = make_store(lambda r: manifest_response(b"<html>oops</html>"))
    closing.append(store)
    with pytest.raises(ManifestError, match="not valid JSON"):
        store.get_manifest("v1")


def test_put_blob_refuses_source_not_matching_digest(closing: list[RegistryStore]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(404)
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": "/v2/org/app/blobs/uploads/s?_state=q"})
        return httpx.Response(202, headers={"Location": "/v2/org/app/blobs/uploads/s?_state=r"})

    small, rec = make_store(handler)
    closing.append(small)
    with pytest.raises(IntegrityError):
        small.put_blob(Digest.of(b"claimed"), 7, [b"actual!"])
    assert rec.methods() == ["HEAD"]  # verified before anything was sent

    large, rec2 = make_store(handler, monolithic_threshold=4, upload_chunk_size=4)
    closing.append(large)
    with pytest.raises(IntegrityError):
        large.put_blob(Digest.of(b"claimed!"), 8, [b"actual!!"])
    assert rec2.methods() == ["HEAD", "POST", "PATCH", "PATCH", "DELETE"]  # cancelled, never committed
    with pytest.raises(IntegrityError, match="shorter"):
        large.put_blob(Digest.of(b"claimed!"), 8, [b"act"])


def test_resolve_is_one_get_whose_bytes_are_hashed_and_kept(closing: list[RegistryStore]) -> None:
    image = tiny_image()
    store, rec = make_store(
        lambda r: httpx.Response(200, headers={"Content-Type": mt.OCI_MANIFEST}, content=image.manifest.data)
    )
    closing.append(store)
    assert store.resolve("v1") == image.manifest.descriptor()
    assert rec.methods() == ["GET"]  # no HEAD: its claim alone is never the answer
    assert rec.requests[0].headers["Accept"] == mt.MANIFEST_ACCEPT
    # The manifest the resolve read is kept by digest: the usual follow-up costs nothing.
    assert store.get_manifest(str(image.manifest.digest)).data == image.manifest.data
    assert rec.methods() == ["GET"]


# -- pagination --------------------------------------------------------------------------------


def test_tags_follow_link_pagination(closing: list[RegistryStore]) -> None:
    pages = {
        None: (["zeta", "alpha"], f'</v2/{REPO}/tags/list?last=alpha&n=2>; rel="next"'),
        "alpha": (["mid", "beta"], f'<https://{HOST}/v2/{REPO}/tags/list?last=mid&n=2>; rel="next"'),
        "mid": (["omega"], None),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        tags, link = pages[request.url.params.get("last")]
        headers = {"Link": link} if link else {}
        return httpx.Response(200, headers=headers, json={"name": REPO, "tags": tags})

    store, rec = make_store(handler)
    closing.append(store)
    assert store.list_tags() == ["alpha", "beta", "mid", "omega", "zeta"]
    assert [r.url.params.get("last") for r in rec.requests] == [None, "alpha", "mid"]
    assert rec.requests[0].url.params["n"] == "1000"


def test_tags_pagination_loop_is_cut(closing: list[RegistryStore]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"Link": f'</v2/{REPO}/tags/list?last=a>; rel="next"'}, json={"tags": ["a"]}
        )

    store, rec = make_store(handler)
    closing.append(store)
    assert store.list_tags() == ["a"]
    assert len(rec.requests) == 2


# -- referrers API -----------------------------------------------------------------------------


def _index(descriptors: list[dict[str, object]]) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": descriptors}).encode()


def test_referrers_api_pages_and_client_side_filter(closing: list[RegistryStore]) -> None:
    subject = Digest.of(b"subject")
    sig = {"mediaType": mt.OCI_MANIFEST, "digest": str(Digest.of(b"s")), "size": 1, "artifactType": "x/sig"}
    sbom = {"mediaType": mt.OCI_MANIFEST, "digest": str(Digest.of(b"b")), "size": 1, "artifactType": "x/sbom"}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == f"/v2/{REPO}/referrers/{subject}"
        if request.url.params.get("page") == "2":
            return httpx.Response(200, headers={"Content-Type": mt.OCI_INDEX}, content=_index([sbom]))
        return httpx.Response(
            200,
            headers={
                "Content-Type": mt.OCI_INDEX,
                "Link": f'</v2/{REPO}/referrers/{subject}?page=2>; rel="next"',
            },
            content=_index([sig]),
        )

    store, rec = make_store(handler)
    closing.append(store)
    assert [d.artifact_type for d in store.referrers(subject)] == ["x/sig", "x/sbom"]
    # The registry ignored artifactType (no OCI-Filters-Applied): shipflow filters itself.
    assert [d.artifact_type for d in store.referrers(subject, "x/sbom")] == ["x/sbom"]
    assert rec.requests[2].url.params["artifactType"] == "x/sbom"
    assert store.client.referrers_api is True
    before = len(rec.requests)
    store.add_referrer(subject, tiny_image().manifest)  # the registry indexes subjects itself
    assert len(rec.requests) == before


def test_referrers_api_answer_must_be_an_index(closing: list[RegistryStore]) -> None:
    store, _ = make_store(lambda r: httpx.Response(200, headers={"Content-Type": "text/html"}, content=b"{}"))
    closing.append(store)
    with pytest.raises(ManifestError, match="not an OCI image index"):
        store.referrers(Digest.of(b"subject"))


def test_referrers_404_falls_back_to_tag_scheme(closing: list[RegistryStore]) -> None:
    subject = Digest.of(b"subject")

    def handler(request: httpx.Request) -> httpx.Response:
        if "/referrers/" in request.url.path:
            return httpx.Response(404, text="404 page not found")
        if request.url.path.endswith(f"/manifests/{subject.tag_form}"):
            return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
        raise AssertionError(request.url)

    store, rec = make_store(handler)
    closing.append(store)
    assert store.referrers(subject) == []
    assert store.client.referrers_api is False
    store.referrers(subject)
    assert sum("/referrers/" in r.url.path for r in rec.requests) == 1  # not asked again


def test_oci_subject_header_marks_referrers_api(closing: list[RegistryStore]) -> None:
    subject = tiny_image()
    ref = tiny_image(subject=subject.manifest)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, headers={"OCI-Subject": str(subject.manifest.digest)})

    store, rec = make_store(handler)
    closing.append(store)
    store.put_manifest(ref.manifest)
    assert store.client.referrers_api is True
    store.add_referrer(subject.manifest.digest, ref.manifest)
    assert rec.methods() == ["PUT"]
    assert rec.requests[0].headers["Content-Type"] == mt.OCI_MANIFEST
    assert rec.requests[0].url.path.endswith(f"/manifests/{ref.manifest.digest}")


# -- auth flow -----------------------------------------------------------------------------------


def test_bearer_token_cached_until_expiry(closing: list[RegistryStore]) -> None:
    now = [1000.0]
    tokens: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"user:pw-unit").decode()
            tokens.append(f"tok-{len(tokens)}")
            return httpx.Response(200, json={"token": tokens[-1], "expires_in": 100})
        if request.headers.get("Authorization") == f"Bearer {tokens[-1] if tokens else ''}":
            return httpx.Response(200, json={"tags": ["v1"]})
        return httpx.Response(
            401,
            headers={
                "WWW-Authenticate": f'Bearer realm="https://auth.test/token",service="svc",scope="repository:{REPO}:pull"'
            },
        )

    store, rec = make_store(handler, clock=lambda: now[0])
    closing.append(store)
    assert store.list_tags() == ["v1"]
    assert store.list_tags() == ["v1"]
    assert len(tokens) == 1
    now[0] += 95  # within the margin before expiry: a fresh token is fetched up front
    assert store.list_tags() == ["v1"]
    assert len(tokens) == 2
    token_requests = [r for r in rec.requests if r.url.host == "auth.test"]
    assert token_requests[0].url.params["service"] == "svc"
    assert token_requests[0].url.params.get_list("scope") == [f"repository:{REPO}:pull"]
    assert sum(r.url.host == HOST for r in rec.requests) == 4  # one 401, then three direct hits


def test_plain_http_realm_refused_for_https_registry(closing: list[RegistryStore]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer realm="http://auth.test/token"'})

    store, rec = make_store(handler)
    closing.append(store)
    with pytest.raises(AuthError, match="not HTTPS"):
        store.list_tags()
    assert all(r.url.host == HOST for r in rec.requests)  # credentials never went to the realm


def test_basic_sent_after_first_challenge(closing: list[RegistryStore]) -> None:
    expected = "Basic " + base64.b64encode(b"user:pw-unit").decode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") == expected:
            return httpx.Response(200, json={"tags": []})
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})

    store, rec = make_store(handler)
    closing.append(store)
    store.list_tags()
    store.list_tags()
    assert rec.authorization == [None, expected, expected]


def test_not_found_codes_map_to_errors(closing: list[RegistryStore]) -> None:
    store, _ = make_store(lambda r: httpx.Response(404, json={"errors": [{"code": "NAME_UNKNOWN"}]}))
    closing.append(store)
    with pytest.raises(ManifestNotFound) as caught:
        store.get_manifest("v1")
    assert caught.value.exit_code == 1


def test_blob_redirect_followed_without_credentials(closing: list[RegistryStore]) -> None:
    data = b"layer bytes in object storage"
    digest = Digest.of(data)
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers.get("Authorization")))
        if request.url.host == "storage.test":
            return httpx.Response(200, content=data)
        if request.headers.get("Authorization") is None:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        return httpx.Response(307, headers={"Location": "https://storage.test/b?X-Amz-Signature=presigned"})

    store, _ = make_store(handler)
    closing.append(store)
    with store.open_blob(digest) as chunks:
        assert b"".join(chunks) == data
    assert seen[-1] == ("storage.test", None)  # the registry's credentials stay with the registry
    assert seen[-2][1] is not None


def test_redacting_filter_masks_secrets_on_library_loggers(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from shipflow import redact as redact_module

    redact_module.install()
    redact_module.register_secret("registered-secret-value")
    caplog.set_level("DEBUG")
    logging.getLogger("httpx").debug("headers %s", {"authorization": "Basic dXNlcjpwYXNz"})
    logging.getLogger("httpcore.http11").debug(
        "sent registered-secret-value to %s", "https://u:p4ss@reg.io/x"
    )
    logging.getLogger("shipflow.oci.registry.client").debug("url %s", "https://reg.io/t?access_token=abcdef")
    assert "dXNlcjpwYXNz" not in caplog.text
    assert "registered-secret-value" not in caplog.text and "p4ss" not in caplog.text
    assert "abcdef" not in caplog.text
    assert caplog.text.count("***") >= 4


def test_shared_clients_are_per_host_and_config() -> None:
    try:
        cfg = RegistryConfig(read_timeout=30)
        one = RegistryClient.shared("ghcr.io", cfg)
        assert RegistryClient.shared("https://ghcr.io", RegistryConfig(read_timeout=30)) is one
        assert RegistryClient.shared("ghcr.io", RegistryConfig(read_timeout=31)) is not one
        assert RegistryClient.shared("quay.io", cfg) is not one
    finally:
        RegistryClient.close_shared()


def test_challenge_for_new_scope_fetches_token_covering_both(closing: list[RegistryStore]) -> None:
    """A 401 naming a scope the request did not announce (e.g. a mount's source) gets a token
    for the union of scopes, and the request is repeated once with it."""
    granted: dict[str, list[str]] = {}
    challenge = (
        'Bearer realm="https://auth.test/token",service="svc",'
        f'scope="repository:{REPO}:pull,push repository:other/src:pull"'
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            token = f"tok-{len(granted)}"
            granted[token] = request.url.params.get_list("scope")
            return httpx.Response(200, json={"access_token": token})
        header = request.headers.get("Authorization", "")
        scopes = granted.get(header.removeprefix("Bearer "), [])
        if "repository:other/src:pull" in scopes:
            return httpx.Response(201)
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    store, rec = make_store(handler)
    closing.append(store)
    store.client.send(
        "POST",
        f"/v2/{REPO}/blobs/uploads/",
        scopes=[f"repository:{REPO}:pull,push"],
        idempotent=False,
        what="test",
    )
    assert list(granted.values()) == [[f"repository:{REPO}:pull,push", "repository:other/src:pull"]]
    assert [r.url.host for r in rec.requests] == [HOST, "auth.test", HOST]


def test_no_credentials_for_a_location_on_another_host(closing: list[RegistryStore]) -> None:
    expected = "Basic " + base64.b64encode(b"user:pw-unit").decode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "upload.elsewhere.test":
            return httpx.Response(201, headers={"Docker-Content-Digest": request.url.params["digest"]})
        if request.headers.get("Authorization") != expected:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="r"'})
        if request.method == "HEAD":
            return httpx.Response(404)
        return httpx.Response(202, headers={"Location": "https://upload.elsewhere.test/session?_state=1"})

    store, rec = make_store(handler)
    closing.append(store)
    data = b"blob"
    store.put_blob(Digest.of(data), len(data), [data])
    hosts_auth = list(zip([r.url.host for r in rec.requests], rec.authorization, strict=True))
    assert hosts_auth[-1] == ("upload.elsewhere.test", None)
    assert all(auth == expected for host, auth in hosts_auth[1:-1])


def test_tags_page_size_refused_falls_back_to_registry_default(closing: list[RegistryStore]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "n" in request.url.params:
            return httpx.Response(400, json={"errors": [{"code": "PAGINATION_NUMBER_INVALID"}]})
        return httpx.Response(200, json={"tags": ["b", "a"]})

    store, rec = make_store(handler)
    closing.append(store)
    assert store.list_tags() == ["a", "b"]
    assert len(rec.requests) == 2


def test_challenge_realm_stays_readable_in_logs() -> None:
    text = redact('Bearer realm="https://auth.example/token",service="reg" and Bearer abcdef123456')
    assert 'Bearer realm="https://auth.example/token"' in text and "abcdef123456" not in text


@pytest.mark.parametrize("honours_range", [True, False])
def test_broken_blob_download_is_resumed(honours_range: bool, closing: list[RegistryStore]) -> None:
    data = os.urandom(3 * CHUNK_SIZE)
    digest = Digest.of(data)
    ranges: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ranges.append(request.headers.get("Range"))
        if len(ranges) == 1:

            def broken() -> Iterator[bytes]:
                yield data[: CHUNK_SIZE + CHUNK_SIZE // 2]
                raise httpx.ReadError("connection reset by peer")

            return httpx.Response(200, headers={"Content-Length": str(len(data))}, content=broken())
        if not honours_range:
            return httpx.Response(200, content=data)
        start = int(str(request.headers["Range"]).removeprefix("bytes=").rstrip("-"))
        return httpx.Response(
            206,
            headers={"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"},
            content=data[start:],
        )

    store, _ = make_store(handler)
    closing.append(store)
    with store.open_blob(digest) as chunks:
        assert b"".join(chunks) == data
    # Whole chunks reached the consumer before the break; the rest was asked for again.
    assert ranges == [None, f"bytes={CHUNK_SIZE}-"]


def test_resume_gives_up_after_max_attempts(closing: list[RegistryStore]) -> None:
    data = os.urandom(10 * CHUNK_SIZE)

    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.headers.get("Range", "bytes=0-")[6:-1])

        def broken() -> Iterator[bytes]:
            yield data[start : start + CHUNK_SIZE]
            yield b"partial"
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

        headers = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
        return httpx.Response(206 if start else 200, content=broken(), headers=headers)

    store, rec = make_store(handler, max_attempts=3)
    closing.append(store)
    with (
        pytest.raises(TransportError, match=f"cut off after {3 * CHUNK_SIZE} bytes"),
        store.open_blob(Digest.of(data)) as chunks,
    ):
        b"".join(chunks)
    assert len(rec.requests) == 3
