"""What the registry client believes of an answer: status codes, Docker-Content-Digest, lengths,
content types (httpx.MockTransport stands in for the server).

A "success" that the distribution spec does not give is not one; a digest shipflow returns is
one of bytes it hashed. The same cases against real hostile servers and a lying proxy are in
tests/integration/test_hostile_registry.py and tests/e2e/test_hostile_cli.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from shipflow.errors import IntegrityError, ManifestError, RegistryError
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.models import ManifestBytes
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import RegistryConfig
from shipflow.oci.registry.credentials import Credentials
from shipflow.oci.registry.store import RegistryStore

Handler = Callable[[httpx.Request], httpx.Response]
Make = Callable[[Handler], tuple["RegistryStore", list[httpx.Request]]]
REPO = "org/app"
HTML = b"<!DOCTYPE html><html><body>Please log in</body></html>"
LAYER = b"layer bytes " * 100
CONFIG = b'{"architecture":"amd64","os":"linux"}'


def _manifest() -> ManifestBytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": str(Digest.of(CONFIG)), "size": len(CONFIG)},
        "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": str(Digest.of(LAYER)), "size": len(LAYER)}],
    }
    return ManifestBytes.create(json.dumps(doc).encode())


MANIFEST = _manifest()


@pytest.fixture
def make() -> Iterator[Make]:
    clients: list[RegistryClient] = []

    def build(handler: Handler) -> tuple[RegistryStore, list[httpx.Request]]:
        seen: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            request.read()
            seen.append(request)
            return handler(request)

        client = RegistryClient(
            "registry.test",
            RegistryConfig(max_attempts=2, backoff_base=0.0, backoff_max=0.0),
            transport=httpx.MockTransport(record),
            sleep=lambda _s: None,
            credentials=Credentials(),
        )
        clients.append(client)
        return RegistryStore(client, REPO), seen

    yield build
    for client in clients:
        client.close()


def html(request: httpx.Request) -> httpx.Response:
    """A web server where the registry should be: 200 text/html to everything."""
    return httpx.Response(200, headers={"Content-Type": "text/html"}, content=HTML)


# -- a web server answering 200 to everything -----------------------------------------------


def test_html_200_to_a_blob_head_is_not_a_blob(make: Make) -> None:
    store, _ = make(html)
    assert store.has_blob(Digest.of(LAYER), len(LAYER)) is False
    assert store.has_blob(Digest.of(LAYER)) is False


def test_html_200_to_an_upload_is_an_error_not_a_success(
    make: Make,
) -> None:
    store, seen = make(html)
    with pytest.raises(RegistryError, match="where a registry answers 202 Accepted") as info:
        store.put_blob(Digest.of(LAYER), len(LAYER), [LAYER])
    assert info.value.exit_code == 3 and "registry address" in (info.value.hint or "")
    assert [r.method for r in seen] == ["HEAD", "POST"]


def test_html_200_to_a_manifest_put_is_an_error(make: Make) -> None:
    store, _ = make(html)
    with pytest.raises(RegistryError, match="where a registry answers 201 Created"):
        store.put_manifest(MANIFEST, tag="v1")


def test_html_200_to_a_manifest_get_is_not_a_manifest(
    make: Make,
) -> None:
    store, _ = make(html)
    with pytest.raises(ManifestError, match="answered with 'text/html', not a manifest"):
        store.resolve("v1")
    # By digest the bytes decide first: they are not the manifest asked for.
    with pytest.raises(IntegrityError):
        store.resolve(str(MANIFEST.digest))


# -- writes: the spec's status, and the digest the server names ------------------------------


def test_manifest_put_other_2xx_counts_only_when_it_names_our_digest(
    make: Make,
) -> None:
    answers = iter(
        [
            httpx.Response(200, headers={"Docker-Content-Digest": str(MANIFEST.digest)}),
            httpx.Response(201),
            httpx.Response(202),
        ]
    )
    store, _ = make(lambda r: next(answers))
    assert store.put_manifest(MANIFEST, tag="a") == MANIFEST.digest
    assert store.put_manifest(MANIFEST, tag="b") == MANIFEST.digest
    with pytest.raises(RegistryError, match="202 Accepted where a registry answers 201 Created"):
        store.put_manifest(MANIFEST, tag="c")


def test_manifest_put_naming_another_digest_is_integrity_error(
    make: Make,
) -> None:
    other = str(Digest.of(b"other"))
    store, _ = make(lambda r: httpx.Response(201, headers={"Docker-Content-Digest": other}))
    with pytest.raises(IntegrityError, match="stored the manifest as"):
        store.put_manifest(MANIFEST, tag="v1")


def _upload_handler(complete: httpx.Response) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(404)
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": f"/v2/{REPO}/blobs/uploads/s?_state=x"})
        if request.method == "DELETE":
            return httpx.Response(204)
        return complete

    return handler


def test_blob_put_must_be_201_or_name_the_blob(make: Make) -> None:
    digest = Digest.of(LAYER)
    ok, _ = make(_upload_handler(httpx.Response(201)))
    ok.put_blob(digest, len(LAYER), [LAYER])
    named, _ = make(_upload_handler(httpx.Response(204, headers={"Docker-Content-Digest": str(digest)})))
    named.put_blob(digest, len(LAYER), [LAYER])
    silent_200, _ = make(_upload_handler(httpx.Response(200)))
    with pytest.raises(RegistryError, match="where a registry answers 201 Created"):
        silent_200.put_blob(digest, len(LAYER), [LAYER])
    lying, _ = make(
        _upload_handler(httpx.Response(201, headers={"Docker-Content-Digest": str(Digest.of(b"x"))}))
    )
    with pytest.raises(IntegrityError, match="stored the blob as"):
        lying.put_blob(digest, len(LAYER), [LAYER])


def test_mount_answers(make: Make) -> None:
    digest = Digest.of(LAYER)
    lying, _ = make(lambda r: httpx.Response(201, headers={"Docker-Content-Digest": str(Digest.of(b"x"))}))
    with pytest.raises(IntegrityError, match="answered the mount with"):
        lying.mount_blob(digest, RegistryStore(lying.client, "other/repo"))
    web, _ = make(html)
    with pytest.raises(RegistryError, match=r"201 Created \(mounted\) or 202 Accepted"):
        web.mount_blob(digest, RegistryStore(web.client, "other/repo"))


# -- existence: a 200 to HEAD must prove it ----------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "size", "exists"),
    [
        ({"Content-Length": str(len(LAYER))}, len(LAYER), True),
        (
            {"Content-Length": str(len(LAYER)), "Docker-Content-Digest": str(Digest.of(LAYER))},
            len(LAYER),
            True,
        ),
        ({"Content-Length": "3"}, len(LAYER), False),  # another size: not this blob
        ({}, len(LAYER), False),  # no proof at all
        ({"Docker-Content-Digest": str(Digest.of(LAYER))}, None, True),
        ({"Content-Length": str(len(LAYER))}, None, False),  # no size to compare, no digest
    ],
)
def test_blob_head_needs_proof(make: Make, headers: dict[str, str], size: int | None, exists: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # A HEAD answer has no body; the headers are what the server claims.
        return httpx.Response(200, headers=headers)

    store, _ = make(handler)
    assert store.has_blob(Digest.of(LAYER), size) is exists


def test_blob_head_naming_another_digest_is_integrity_error(
    make: Make,
) -> None:
    store, _ = make(lambda r: httpx.Response(200, headers={"Docker-Content-Digest": str(Digest.of(b"x"))}))
    with pytest.raises(IntegrityError, match="answered for"):
        store.has_blob(Digest.of(LAYER), len(LAYER))


# -- reads: a digest returned is one of hashed bytes -----------------------------------------


def test_a_lying_digest_header_on_a_tag_is_integrity_error(
    make: Make,
) -> None:
    lie = str(Digest.of(b"something else"))
    store, seen = make(
        lambda r: httpx.Response(
            200,
            headers={"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": lie},
            content=MANIFEST.data,
        )
    )
    with pytest.raises(IntegrityError, match="hash to"):
        store.resolve("v1")
    assert [r.method for r in seen] == ["GET"]


def test_untyped_manifest_answers_are_judged_by_their_body(
    make: Make,
) -> None:
    store, _ = make(
        lambda r: httpx.Response(200, headers={"Content-Type": "application/json"}, content=MANIFEST.data)
    )
    assert store.resolve("v1") == MANIFEST.descriptor()


def test_blob_longer_than_its_descriptor_is_refused_before_reading(
    make: Make,
) -> None:
    digest = Digest.of(LAYER)
    announced, _ = make(lambda r: httpx.Response(200, content=LAYER + b"more"))
    with pytest.raises(IntegrityError, match="descriptor says"), announced.open_blob(digest, len(LAYER)):
        pass

    def endless(request: httpx.Request) -> httpx.Response:
        def body() -> Iterator[bytes]:
            while True:  # no Content-Length, never ends: the descriptor's size ends it
                yield b"z" * 65536

        return httpx.Response(200, content=body())

    stream_store, _ = make(endless)
    with (
        pytest.raises(IntegrityError, match="more than the"),
        stream_store.open_blob(digest, len(LAYER)) as chunks,
    ):
        for _ in chunks:
            pass


def test_a_misnamed_answer_by_digest_is_refused_even_with_the_right_bytes(make: Make) -> None:
    other = str(Digest.of(b"something else"))
    manifests, _ = make(
        lambda r: httpx.Response(
            200,
            headers={"Content-Type": mt.OCI_MANIFEST, "Docker-Content-Digest": other},
            content=MANIFEST.data,
        )
    )
    with pytest.raises(IntegrityError, match="says the manifest is"):
        manifests.get_manifest(str(MANIFEST.digest))
    blobs, _ = make(lambda r: httpx.Response(200, headers={"Docker-Content-Digest": other}, content=LAYER))
    with pytest.raises(IntegrityError, match="says the blob it sends is"), blobs.open_blob(Digest.of(LAYER)):
        pass
    # Another algorithm's digest is another domain (the spec allows it): not a contradiction.
    sha512 = "sha512:" + "0" * 128
    fine, _ = make(lambda r: httpx.Response(200, headers={"Docker-Content-Digest": sha512}, content=LAYER))
    with fine.open_blob(Digest.of(LAYER), len(LAYER)) as chunks:
        assert b"".join(chunks) == LAYER


def test_answers_read_whole_are_capped(make: Make) -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        def body() -> Iterator[bytes]:
            while True:  # a tag list that never ends
                yield b'{"tags": [' + b'"x",' * 16384

        return httpx.Response(200, headers={"Content-Type": "application/json"}, content=body())

    store, _ = make(endless)
    with pytest.raises(RegistryError, match="sent an answer over 16777216 bytes") as info:
        store.list_tags()
    assert info.value.exit_code == 3


def test_a_token_answer_is_capped(make: Make) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":

            def body() -> Iterator[bytes]:
                while True:
                    yield b"a" * 65536

            return httpx.Response(200, content=body())
        return httpx.Response(
            401, headers={"WWW-Authenticate": 'Bearer realm="https://registry.test/token",service="s"'}
        )

    store, _ = make(handler)
    with pytest.raises(RegistryError, match=r"token service .* an answer over"):
        store.list_tags()


def test_an_endless_challenge_body_is_capped(make: Make) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        def body() -> Iterator[bytes]:
            while True:
                yield b"<html>" * 10_000

        return httpx.Response(
            401, headers={"WWW-Authenticate": 'Basic realm="r"', "Content-Type": "text/html"}, content=body()
        )

    client = RegistryClient(
        "registry.test",
        RegistryConfig(max_attempts=1),
        transport=httpx.MockTransport(handler),
        credentials=Credentials("user", "pw-unit-test", source="explicit"),
    )
    try:
        with pytest.raises(RegistryError, match="over 65536 bytes"):
            RegistryStore(client, REPO).list_tags()
    finally:
        client.close()
