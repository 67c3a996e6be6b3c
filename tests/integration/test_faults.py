"""Faults between shipflow and a real registry, injected by the proxy in fixtures/faults.py.

Two parts: the proxy itself does what it says (checked with plain httpx against the real
registry behind it), then shipflow's copy — through the library and through the CLI — either
completes with every digest right or fails with exit 3 and a clear message, never leaves a
tag on an incomplete image, completes when re-run, and never retries a non-idempotent request.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
import pytest

from fixtures.faults import Fault, FaultProxy, FaultProxyFactory
from fixtures.procs import require_binary
from fixtures.registry import Registry
from shipflow.errors import (
    EXIT_INFRA,
    InfrastructureError,
    IntegrityError,
    RegistryError,
    ShipflowError,
    TransportError,
)
from shipflow.oci.copy import copy
from shipflow.oci.open import open_store
from shipflow.oci.reference import parse_reference
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import RegistryConfig

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _push_blob(base: str, repo: str, data: bytes) -> str:
    """Upload ``data`` as a blob (POST + monolithic PUT) via ``base``; return its digest."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = httpx.post(f"{base}/v2/{repo}/blobs/uploads/", timeout=10)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    url = location if location.startswith("http") else base + location
    separator = "&" if "?" in url else "?"
    done = httpx.put(f"{url}{separator}digest={digest}", content=data, timeout=10)
    assert done.status_code == 201, done.text
    return digest


# --- the proxy itself ---------------------------------------------------------------------


def test_proxy_forwards_uploads_and_downloads_and_rewrites_location(
    registry: Registry, fault_proxy: FaultProxyFactory, repo_name: str
) -> None:
    proxy = fault_proxy(registry)
    data = os.urandom(300_000)
    started = httpx.post(f"{proxy.url}/v2/{repo_name}/blobs/uploads/", timeout=10)
    location = started.headers["Location"]
    assert registry.host not in location, "Location must name the proxy, not the upstream"
    digest = _push_blob(proxy.url, repo_name, data)
    # A chunked request body (no Content-Length) is streamed through too.
    chunked_data = os.urandom(200_000)

    def pieces() -> Iterator[bytes]:
        yield chunked_data[:70_000]
        yield chunked_data[70_000:]

    session = httpx.post(f"{proxy.url}/v2/{repo_name}/blobs/uploads/", timeout=10).headers["Location"]
    session_url = session if session.startswith("http") else proxy.url + session
    patched = httpx.patch(session_url, content=pieces(), timeout=10)
    assert patched.status_code == 202, patched.text
    chunked_digest = "sha256:" + hashlib.sha256(chunked_data).hexdigest()
    next_url = patched.headers["Location"]
    next_url = next_url if next_url.startswith("http") else proxy.url + next_url
    assert httpx.put(f"{next_url}&digest={chunked_digest}", timeout=10).status_code == 201

    assert httpx.get(f"{proxy.url}/v2/{repo_name}/blobs/{digest}", timeout=10).content == data
    upstream = httpx.get(f"{registry.url}/v2/{repo_name}/blobs/{chunked_digest}", timeout=10)
    assert upstream.content == chunked_data
    head = httpx.head(f"{proxy.url}/v2/{repo_name}/blobs/{digest}", timeout=10)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))
    methods = [r.method for r in proxy.requests]
    assert methods.count("POST") == 3 and "PATCH" in methods and proxy.injected == []
    assert all(r.status is not None and r.status < 400 for r in proxy.requests)


def test_proxy_passes_credentials_through(auth_registry: Registry, fault_proxy: FaultProxyFactory) -> None:
    proxy = fault_proxy(auth_registry)
    refused = httpx.get(f"{proxy.url}/v2/", timeout=10)
    assert refused.status_code == 401 and "Basic" in refused.headers["WWW-Authenticate"]
    assert auth_registry.username is not None and auth_registry.password is not None
    credentials = (auth_registry.username, auth_registry.password)
    assert httpx.get(f"{proxy.url}/v2/", auth=credentials, timeout=10).status_code == 200


def test_proxy_status_and_throttle_faults_hit_only_the_chosen_occurrences(
    registry: Registry, fault_proxy: FaultProxyFactory, repo_name: str
) -> None:
    digest = _push_blob(registry.url, repo_name, b"x" * 1000)
    blob_url = f"/v2/{repo_name}/blobs/{digest}"
    proxy = fault_proxy(
        registry,
        Fault("status", method="GET", path=r"/blobs/sha256:", nth=2, status=503),
        Fault("throttle", method="HEAD", retry_after=1, times=None),
    )
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        assert client.get(blob_url).status_code == 200
        assert client.get(blob_url).status_code == 503
        assert client.get(blob_url).status_code == 200
        for _ in range(2):
            throttled = client.head(blob_url)
            assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert [(r.method, r.status, r.fault) for r in proxy.requests] == [
        ("GET", 200, None),
        ("GET", 503, "status"),
        ("GET", 200, None),
        ("HEAD", 429, "throttle"),
        ("HEAD", 429, "throttle"),
    ]
    assert not any(r.forwarded for r in proxy.injected)


def test_proxy_reset_truncate_and_corrupt_break_the_body(
    registry: Registry, fault_proxy: FaultProxyFactory, repo_name: str
) -> None:
    data = os.urandom(500_000)
    digest = _push_blob(registry.url, repo_name, data)
    blob_url = f"/v2/{repo_name}/blobs/{digest}"
    proxy = fault_proxy(registry, Fault("reset", method="GET"))
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        with pytest.raises(httpx.ReadError):
            client.get(blob_url)
        proxy.set_scenario(Fault("truncate", method="GET"))
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(blob_url)
        proxy.set_scenario(Fault("corrupt", method="GET"))
        corrupted = client.get(blob_url)
        assert corrupted.status_code == 200 and len(corrupted.content) == len(data)
        assert corrupted.content != data
        assert sum(a != b for a, b in zip(corrupted.content, data, strict=True)) == 1
        proxy.clear()
        assert client.get(blob_url).content == data
    assert [r.fault for r in proxy.requests] == ["reset", "truncate", "corrupt", None]


def test_proxy_reset_during_an_upload_body_never_reaches_the_upstream(
    registry: Registry, fault_proxy: FaultProxyFactory, repo_name: str
) -> None:
    proxy = fault_proxy(registry, Fault("reset", method="PUT", path=r"/blobs/uploads/"))
    data = os.urandom(400_000)
    with pytest.raises(httpx.TransportError):
        _push_blob(proxy.url, repo_name, data)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert httpx.head(f"{registry.url}/v2/{repo_name}/blobs/{digest}").status_code == 404
    put = [r for r in proxy.requests if r.method == "PUT"]
    assert len(put) == 1 and put[0].status is None and not put[0].forwarded


def test_proxy_stall_outlasts_a_client_timeout(
    registry: Registry, fault_proxy: FaultProxyFactory, repo_name: str
) -> None:
    data = os.urandom(100_000)
    digest = _push_blob(registry.url, repo_name, data)
    proxy = fault_proxy(registry, Fault("stall", method="GET", stall_seconds=3))
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{proxy.url}/v2/{repo_name}/blobs/{digest}", timeout=0.5)
    proxy.set_scenario(Fault("stall", method="GET", stall_seconds=3, after_bytes=1000))
    with (
        pytest.raises(httpx.ReadTimeout),
        httpx.stream("GET", f"{proxy.url}/v2/{repo_name}/blobs/{digest}", timeout=0.5) as response,
    ):
        assert response.status_code == 200
        response.read()


def test_proxy_reports_non_idempotent_retries(registry: Registry, fault_proxy: FaultProxyFactory) -> None:
    proxy = fault_proxy(registry, Fault("status", method="PATCH", status=500, times=None))
    target = "/v2/x/blobs/uploads/some-session?_state=abc"
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        assert client.patch(target, content=b"abc").status_code == 500
        assert proxy.non_idempotent_retries() == []
        client.patch(target, content=b"abc")
        proxy.set_scenario(Fault("status", method="PUT", status=503, times=None))
        client.put("/v2/x/blobs/uploads/other?digest=sha256:00", content=b"")
        client.put("/v2/x/blobs/uploads/other?digest=sha256:00", content=b"")
    retries = proxy.non_idempotent_retries()
    assert [(r.method, r.target) for r in retries] == [("PATCH", target)]


# --- shipflow's copy through the faults ---------------------------------------------------
#
# Every case copies a fresh image of random layers (so nothing is already at the destination):
# a "chunked" layer bigger than the upload threshold (POST, PATCH x2, PUT), a small "mono"
# layer (POST, PUT with body) and the config. Directions: push (layout -> registry behind the
# proxy), pull (registry behind the proxy -> layout), relay (registry behind the proxy ->
# another registry), deliver (another registry -> registry behind the proxy) and mount (two
# repositories of the registry behind the proxy). The fault rules can name a blob by digest,
# so a case hits what it means to.

LAYER_SIZES = {"chunked": 700_000, "mono": 90_000}
# Fast, small settings: read timeouts of 2 s (the proxy stalls 5 s; a loaded test machine can
# take a second to answer), three attempts, short backoff, and a 256 KiB monolithic threshold
# with 512 KiB chunks so the chunked upload path runs too.
FAST = RegistryConfig(
    connect_timeout=2.0,
    read_timeout=2.0,
    max_attempts=3,
    backoff_base=0.05,
    backoff_max=0.2,
    monolithic_threshold=256 * 1024,
    upload_chunk_size=512 * 1024,
)
STALL = 5.0
CLI_ENV = {
    "SHIPFLOW_REGISTRY_READ_TIMEOUT": "2",
    "SHIPFLOW_REGISTRY_CONNECT_TIMEOUT": "2",
    "SHIPFLOW_REGISTRY_MAX_ATTEMPTS": "2",
}
TAG = "v1"


@dataclass(frozen=True)
class RandomImage:
    layout: Path
    digest: str
    layers: dict[str, str]  # role ("chunked", "mono", "config") -> digest

    def blob_path(self, role: str) -> str:
        """A regex for the blob's URL path (GET/HEAD) of the layer playing ``role``."""
        return "/blobs/" + re.escape(self.layers[role]) + "$"

    def mount_post(self, role: str) -> str:
        """A regex for the cross-repository mount request of the layer playing ``role``."""
        hexdigest = self.layers[role].split(":", 1)[1]
        return rf"/blobs/uploads/\?mount=sha256(%3A|:){hexdigest}"

    def upload_put(self, role: str) -> str:
        """A regex for the PUT that completes the upload of the layer playing ``role``."""
        hexdigest = self.layers[role].split(":", 1)[1]
        return rf"/blobs/uploads/.*digest=sha256(%3A|:){hexdigest}"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_test_image(path: Path) -> RandomImage:
    """An OCI layout at ``path`` with one image tagged TAG, made of random layers."""
    blobs_dir = path / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True)
    roles: dict[str, str] = {}

    def put(data: bytes) -> dict[str, object]:
        digest = _sha256(data)
        (blobs_dir / digest.split(":", 1)[1]).write_bytes(data)
        return {"digest": digest, "size": len(data)}

    layers = []
    for role, size in LAYER_SIZES.items():
        descriptor = put(os.urandom(size))
        roles[role] = str(descriptor["digest"])
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **descriptor})
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    config_descriptor = put(json.dumps(config).encode())
    roles["config"] = str(config_descriptor["digest"])
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_descriptor},
            "layers": layers,
        }
    ).encode()
    manifest_descriptor = put(manifest)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                **manifest_descriptor,
                "annotations": {"org.opencontainers.image.ref.name": TAG},
            }
        ],
    }
    (path / "index.json").write_text(json.dumps(index))
    return RandomImage(path, str(manifest_descriptor["digest"]), roles)


def registry_tag_state(base_url: str, repo: str, tag: str) -> str | None:
    """The digest ``tag`` names in the registry at ``base_url`` (asked directly, no proxy), or
    None if there is no such tag. Fails the test if the tag names an image with a blob that is
    missing or does not hash to its digest."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        response = client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        digest = _sha256(response.content)
        manifest = response.json()
        for blob in [manifest["config"], *manifest["layers"]]:
            got = client.get(f"/v2/{repo}/blobs/{blob['digest']}")
            assert got.status_code == 200, f"{repo}:{tag} names {blob['digest']}, which is missing"
            assert _sha256(got.content) == blob["digest"] and len(got.content) == blob["size"]
        return digest


def registry_has_blob(base_url: str, repo: str, digest: str) -> bool:
    """Whether the repository holds the blob (asked directly, no proxy)."""
    status = httpx.head(f"{base_url}/v2/{repo}/blobs/{digest}", timeout=10).status_code
    assert status in (200, 404), status
    return status == 200


def layout_tag_state(path: Path, tag: str) -> str | None:
    """Like :func:`registry_tag_state`, for an OCI layout read straight from disk."""
    index_path = path / "index.json"
    if not index_path.exists():
        return None
    index = json.loads(index_path.read_text())
    named = [
        m
        for m in index.get("manifests", [])
        if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag
    ]
    if not named:
        return None
    assert len(named) == 1, f"tag {tag} appears {len(named)} times in {index_path}"

    def blob(digest: str) -> bytes:
        blob_file = path / "blobs" / "sha256" / digest.split(":", 1)[1]
        assert blob_file.exists(), f"{path}:{tag} names {digest}, which is missing"
        data = blob_file.read_bytes()
        assert _sha256(data) == digest, f"{blob_file} does not hash to its name"
        return data

    manifest = json.loads(blob(named[0]["digest"]))
    for descriptor in [manifest["config"], *manifest["layers"]]:
        assert len(blob(descriptor["digest"])) == descriptor["size"]
    return str(named[0]["digest"])


Direction = Literal["push", "pull", "relay", "deliver", "mount"]
Outcome = Literal["completes", "fails", "either"]


@dataclass(frozen=True)
class Case:
    """One fault scenario: what to break (a function of the image, to name its blobs), which
    way the copy goes, and what must come of it."""

    id: str
    direction: Direction
    faults: Callable[[RandomImage], tuple[Fault, ...]]
    outcome: Outcome
    error: type[ShipflowError] = InfrastructureError
    transient: bool = True  # re-run while the scenario is still set (else after clear())


CASES = [
    # push: layout -> registry behind the proxy
    Case(
        "push-500-on-upload-put",
        "push",
        lambda im: (Fault("status", "PUT", im.upload_put("mono"), status=500),),
        "fails",
        RegistryError,
    ),
    Case(
        "push-503-on-blob-head",
        "push",
        lambda im: (Fault("status", "HEAD", "/blobs/sha256:", status=503, times=2),),
        "completes",
    ),
    Case(
        "push-429-on-manifest-put", "push", lambda im: (Fault("throttle", "PUT", "/manifests/"),), "completes"
    ),
    Case(
        "push-500-on-manifest-put-permanent",
        "push",
        lambda im: (Fault("status", "PUT", "/manifests/", status=500, times=None),),
        "fails",
        RegistryError,
        transient=False,
    ),
    Case(
        "push-503-on-upload-post",
        "push",
        lambda im: (Fault("status", "POST", "/blobs/uploads/", status=503),),
        "either",
    ),
    Case("push-reset-in-patch-body", "push", lambda im: (Fault("reset", "PATCH"),), "fails", TransportError),
    Case(
        "push-reset-in-monolithic-put-body",
        "push",
        lambda im: (Fault("reset", "PUT", im.upload_put("mono")),),
        "completes",  # the uploader still has the bytes: it restarts from a fresh POST
    ),
    Case(
        "push-reset-after-chunked-put-committed",
        "push",
        lambda im: (Fault("reset", "PUT", im.upload_put("chunked")),),
        "fails",
        TransportError,
    ),
    Case(
        "push-truncate-blob-head",
        "push",
        lambda im: (Fault("truncate", "HEAD", im.blob_path("chunked")),),
        "completes",
    ),
    Case(
        "push-stall-on-upload-post-permanent",
        "push",
        lambda im: (Fault("stall", "POST", "/blobs/uploads/", times=None, stall_seconds=STALL),),
        "fails",
        TransportError,
        transient=False,
    ),
    Case(
        "push-stall-on-manifest-put",
        "push",
        lambda im: (Fault("stall", "PUT", "/manifests/", stall_seconds=STALL),),
        "completes",
    ),
    # pull: registry behind the proxy -> layout
    Case(
        "pull-503-on-blob-get",
        "pull",
        lambda im: (Fault("status", "GET", "/blobs/", status=503, times=2),),
        "completes",
    ),
    Case(
        "pull-429-on-manifest-read",
        "pull",
        lambda im: (Fault("throttle", None, "/manifests/"),),
        "completes",
    ),
    Case(
        "pull-500-on-blob-get-permanent",
        "pull",
        lambda im: (Fault("status", "GET", im.blob_path("mono"), status=500, times=None),),
        "fails",
        RegistryError,
        transient=False,
    ),
    Case(
        "pull-reset-in-blob-body",
        "pull",
        lambda im: (Fault("reset", "GET", im.blob_path("chunked")),),
        "either",
    ),
    Case(
        "pull-truncate-blob-body",
        "pull",
        lambda im: (Fault("truncate", "GET", im.blob_path("chunked")),),
        "either",
    ),
    Case(
        "pull-truncate-manifest-body",
        "pull",
        lambda im: (Fault("truncate", "GET", "/manifests/"),),
        "completes",  # a manifest is small and re-read when cut short
    ),
    Case(
        "pull-stall-in-blob-body",
        "pull",
        lambda im: (Fault("stall", "GET", im.blob_path("chunked"), after_bytes=1000, stall_seconds=STALL),),
        "either",
    ),
    Case(
        "pull-stall-before-manifest",
        "pull",
        lambda im: (Fault("stall", "GET", "/manifests/", stall_seconds=STALL),),
        "completes",
    ),
    Case(
        "pull-wrong-blob-bytes",
        "pull",
        lambda im: (Fault("corrupt", "GET", im.blob_path("chunked"), times=None),),
        "fails",
        IntegrityError,
        transient=False,
    ),
    Case(
        "pull-wrong-manifest-bytes",
        "pull",
        lambda im: (Fault("corrupt", "GET", "/manifests/", times=None),),
        "fails",
        IntegrityError,
        transient=False,
    ),
    # relay: registry behind the proxy -> another registry
    Case(
        "relay-wrong-blob-bytes",
        "relay",
        lambda im: (Fault("corrupt", "GET", im.blob_path("chunked"), times=None),),
        "fails",
        IntegrityError,
        transient=False,
    ),
    Case(
        "relay-wrong-small-blob-bytes",
        "relay",
        lambda im: (Fault("corrupt", "GET", im.blob_path("mono"), times=None),),
        "fails",
        IntegrityError,
        transient=False,
    ),
    Case(
        "relay-reset-in-blob-body",
        "relay",
        lambda im: (Fault("reset", "GET", im.blob_path("mono")),),
        "either",
    ),
    # deliver: another registry -> registry behind the proxy (the source stream cannot rewind)
    Case(
        "deliver-reset-in-patch-body",
        "deliver",
        lambda im: (Fault("reset", "PATCH"),),
        "fails",
        TransportError,
    ),
    Case(
        "deliver-reset-in-monolithic-put",
        "deliver",
        lambda im: (Fault("reset", "PUT", im.upload_put("mono")),),
        "completes",  # buffered: restarted from a fresh POST
    ),
    # mount: repository -> repository on the registry behind the proxy (cross-repository mount)
    Case(
        "mount-500-on-mount-post",
        "mount",
        lambda im: (Fault("status", "POST", im.mount_post("chunked"), status=500),),
        "fails",
        RegistryError,
    ),
    Case(
        "mount-reset-after-mount-post",
        "mount",
        lambda im: (Fault("reset", "POST", im.mount_post("chunked")),),
        "either",
    ),
]


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    """Each test gets new registry clients (the shared ones would outlive its proxies)."""
    yield
    RegistryClient.close_shared()


def _push_with_skopeo(image: RandomImage, ref: str) -> None:
    """Put the image in a registry with an independent tool (digests preserved)."""
    skopeo = require_binary("skopeo")
    subprocess.run(
        [
            skopeo,
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--preserve-digests",
            f"oci:{image.layout}:{TAG}",
            f"docker://{ref}",
        ],
        check=True,
        capture_output=True,
    )


@dataclass
class Setup:
    """Where a case copies from and to, and how to check the destination directly."""

    proxy: FaultProxy
    src: str
    dst: str
    dst_state: Callable[[], str | None]
    dst_has_blob: Callable[[str], bool]


def _setup(
    case_direction: Direction,
    image: RandomImage,
    registry: Registry,
    registry2: Registry,
    fault_proxy: FaultProxyFactory,
    tmp_path: Path,
    repo: str,
) -> Setup:
    if case_direction == "push":
        proxy = fault_proxy(registry)
        return Setup(
            proxy,
            f"oci:{image.layout}:{TAG}",
            proxy.ref(repo, TAG),
            lambda: registry_tag_state(registry.url, repo, TAG),
            lambda digest: registry_has_blob(registry.url, repo, digest),
        )
    if case_direction == "pull":
        _push_with_skopeo(image, registry.ref(repo, TAG))
        proxy = fault_proxy(registry)
        out = tmp_path / "out"
        return Setup(
            proxy,
            proxy.ref(repo, TAG),
            f"oci:{out}:{TAG}",
            lambda: layout_tag_state(out, TAG),
            lambda digest: (out / "blobs" / "sha256" / digest.split(":", 1)[1]).exists(),
        )
    if case_direction == "relay":
        _push_with_skopeo(image, registry2.ref(repo, TAG))
        proxy = fault_proxy(registry2)
        src = proxy.ref(repo, TAG)
    elif case_direction == "deliver":
        _push_with_skopeo(image, registry2.ref(repo, TAG))
        proxy = fault_proxy(registry)
        src = registry2.ref(repo, TAG)
    else:  # mount: another repository of the same registry, both through the proxy
        _push_with_skopeo(image, registry.ref(f"{repo}-src", TAG))
        proxy = fault_proxy(registry)
        src = proxy.ref(f"{repo}-src", TAG)
    dst = registry.ref(repo, TAG) if case_direction == "relay" else proxy.ref(repo, TAG)
    return Setup(
        proxy,
        src,
        dst,
        lambda: registry_tag_state(registry.url, repo, TAG),
        lambda digest: registry_has_blob(registry.url, repo, digest),
    )


def _corrupted_roles(case: Case, image: RandomImage) -> list[str]:
    """The layers a case serves wrong bytes of (they must never reach the destination)."""
    return [
        role
        for fault in case.faults(image)
        if fault.kind == "corrupt"
        for role in ("chunked", "mono", "config")
        if re.escape(image.layers[role]) in fault.path
    ]


def _library_copy(src: str, dst: str) -> str:
    src_ref, dst_ref = parse_reference(src), parse_reference(dst)
    src_store = open_store(src_ref, config=FAST)
    dst_store = open_store(dst_ref, config=FAST, create=True)
    return str(copy(src_store, src_ref.identifier, dst_store, dst_ref.tag))


def _check_error(exc: ShipflowError, case: Case) -> None:
    """A failure must be an infrastructure error (exit 3) of the expected kind that says
    what failed and what to do."""
    assert exc.exit_code == EXIT_INFRA, f"{type(exc).__name__} exits {exc.exit_code}: {exc}"
    assert isinstance(exc, case.error), f"expected {case.error.__name__}, got {type(exc).__name__}: {exc}"
    message = str(exc)
    assert "Traceback" not in message
    assert re.search(r"blob|manifest|upload|resolve|mount", message), message
    assert exc.hint, f"no hint for: {message}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_library_copy_survives_fault(
    case: Case,
    registry: Registry,
    registry2: Registry,
    fault_proxy: FaultProxyFactory,
    tmp_path: Path,
) -> None:
    image = write_test_image(tmp_path / "src")
    repo = f"faults/{case.id}"  # unique in the session registries, and a valid name
    setup = _setup(case.direction, image, registry, registry2, fault_proxy, tmp_path, repo)
    setup.proxy.set_scenario(*case.faults(image))

    outcome: Outcome
    try:
        digest = _library_copy(setup.src, setup.dst)
        outcome = "completes"
        assert digest == image.digest
    except ShipflowError as exc:
        outcome = "fails"
        _check_error(exc, case)
    assert setup.proxy.injected, "the fault never hit: the case tests nothing"
    assert case.outcome in (outcome, "either"), f"expected the copy to {case.outcome}, it {outcome}"
    state = setup.dst_state()  # asserts that a tag, if any, names a complete image
    assert state in (None, image.digest)
    if outcome == "fails":
        assert state is None, "a failed copy left the destination tag written"
    else:
        assert state == image.digest
    for role in _corrupted_roles(case, image):
        assert not setup.dst_has_blob(image.layers[role]), f"the corrupted {role} blob was stored"
    assert setup.proxy.non_idempotent_retries() == []

    if not case.transient:
        setup.proxy.clear()
    setup.proxy.reset_log()  # the re-run is a new command: judge its retries on their own
    assert _library_copy(setup.src, setup.dst) == image.digest
    assert setup.dst_state() == image.digest
    assert setup.proxy.non_idempotent_retries() == []


def test_retry_after_is_honoured(
    registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path, repo_name: str
) -> None:
    image = write_test_image(tmp_path / "src")
    proxy = fault_proxy(registry, Fault("throttle", "PUT", "/manifests/", retry_after=1))
    assert _library_copy(f"oci:{image.layout}:{TAG}", proxy.ref(repo_name, TAG)) == image.digest
    puts = [r for r in proxy.requests if r.method == "PUT" and "/manifests/" in r.target]
    assert [r.status for r in puts] == [429, 201]
    # A lower bound, not a speed: the client waited at least the second it was told to.
    assert puts[1].started - puts[0].started >= 0.95


# --- the same through the real CLI --------------------------------------------------------


def _shipflow(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **CLI_ENV}
    env.pop("SHIPFLOW_INSECURE_REGISTRIES", None)  # loopback must be plain HTTP by default
    # The console script users run, from the venv running the tests.
    script = Path(sys.executable).with_name("shipflow")
    assert script.exists(), f"{script} is missing: install the project (pip install -e .)"
    return subprocess.run(
        [str(script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_copy_fails_with_exit_3_then_completes_when_rerun(
    registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path, repo_name: str
) -> None:
    image = write_test_image(tmp_path / "src")
    proxy = fault_proxy(registry, Fault("status", "PUT", "/manifests/", status=500, times=None))
    src, dst = f"oci:{image.layout}:{TAG}", proxy.ref(repo_name, TAG)

    failed = _shipflow("copy", src, dst)
    assert failed.returncode == 3, failed.stderr
    assert "500" in failed.stderr and "Traceback" not in failed.stderr
    assert registry_tag_state(registry.url, repo_name, TAG) is None
    assert proxy.count("PUT", "/manifests/") == 1, "a 500 on a manifest PUT is not retried"
    assert proxy.non_idempotent_retries() == []

    proxy.clear()
    proxy.reset_log()
    done = _shipflow("copy", src, dst, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["digest"] == image.digest
    assert result["blobs"]["skipped"] == 3, "the blobs of the failed run are reused"
    assert registry_tag_state(registry.url, repo_name, TAG) == image.digest
    assert proxy.non_idempotent_retries() == []


def test_cli_copy_refuses_wrong_bytes_and_tags_nothing(
    registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path, repo_name: str
) -> None:
    image = write_test_image(tmp_path / "src")
    _push_with_skopeo(image, registry.ref(repo_name, TAG))
    proxy = fault_proxy(registry, Fault("corrupt", "GET", image.blob_path("mono"), times=None))
    out = tmp_path / "out"
    src, dst = proxy.ref(repo_name, TAG), f"oci:{out}:{TAG}"

    failed = _shipflow("copy", src, dst)
    assert failed.returncode == 3, failed.stderr
    assert "digest" in failed.stderr and "Traceback" not in failed.stderr
    assert layout_tag_state(out, TAG) is None
    assert not (out / "blobs" / "sha256" / image.layers["mono"].split(":", 1)[1]).exists()

    proxy.clear()
    done = _shipflow("copy", src, dst)
    assert done.returncode == 0, done.stderr
    assert layout_tag_state(out, TAG) == image.digest


def test_cli_copy_times_out_with_exit_3_and_rerun_completes(
    registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path, repo_name: str
) -> None:
    image = write_test_image(tmp_path / "src")
    proxy = fault_proxy(registry, Fault("stall", "POST", "/blobs/uploads/", times=None, stall_seconds=STALL))
    src, dst = f"oci:{image.layout}:{TAG}", proxy.ref(repo_name, TAG)

    failed = _shipflow("copy", src, dst)
    assert failed.returncode == 3, failed.stderr
    assert "did not answer in time" in failed.stderr and "Traceback" not in failed.stderr
    assert registry_tag_state(registry.url, repo_name, TAG) is None
    assert proxy.non_idempotent_retries() == []

    proxy.clear()
    done = _shipflow("copy", src, dst)
    assert done.returncode == 0, done.stderr
    assert registry_tag_state(registry.url, repo_name, TAG) == image.digest


def test_cli_copy_rides_out_transient_faults(
    registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path, repo_name: str
) -> None:
    image = write_test_image(tmp_path / "src")
    proxy = fault_proxy(
        registry,
        Fault("status", "HEAD", "/blobs/", status=503),
        Fault("throttle", "PUT", "/manifests/"),
        Fault("reset", "PUT", image.upload_put("mono")),
    )
    done = _shipflow("copy", f"oci:{image.layout}:{TAG}", proxy.ref(repo_name, TAG))
    assert done.returncode == 0, done.stderr
    assert {r.fault for r in proxy.injected} == {"status", "throttle", "reset"}
    assert registry_tag_state(registry.url, repo_name, TAG) == image.digest
    assert proxy.non_idempotent_retries() == []


def test_cli_tag_fails_with_exit_3_and_leaves_no_tag_then_succeeds(
    registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path, repo_name: str
) -> None:
    image = write_test_image(tmp_path / "src")
    _push_with_skopeo(image, registry.ref(repo_name, TAG))
    proxy = fault_proxy(registry, Fault("status", "PUT", "/manifests/", status=500, times=None))
    ref = f"{proxy.ref(repo_name)}@{image.digest}"

    failed = _shipflow("tag", ref, "staging")
    assert failed.returncode == 3, failed.stderr
    assert "500" in failed.stderr and "Traceback" not in failed.stderr
    assert registry_tag_state(registry.url, repo_name, "staging") is None

    proxy.clear()
    done = _shipflow("tag", ref, "staging")
    assert done.returncode == 0, done.stderr
    assert registry_tag_state(registry.url, repo_name, "staging") == image.digest
    assert proxy.count("PUT", "/blobs/") == 0, "a retag moves no blobs"
