"""The registry client against servers that lie, stall, drip or are not registries at all.

Real servers on 127.0.0.1: the hostile servers of fixtures/hostile.py (a web server answering
``200 text/html`` to everything, one that never answers, one that drips its answer a byte at a
time) and the fault proxy of fixtures/faults.py in front of the real CNCF registry (HTML
answers, drips, lying ``Docker-Content-Digest``, every Nth request dropped). Invariants: a
write is reported done only when the registry confirmed it the way the distribution spec says;
a digest returned is one of bytes hashed; every exchange ends within its deadline; a failure is
a shipflow error of exit code 3 and leaves no tag behind; a re-run completes.

Time bounds asserted here are generous safety bounds (the old behaviour hung for minutes or
forever), never speeds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.faults import LIE_DIGEST, Fault, FaultProxyFactory
from fixtures.hostile import HostileFactory
from fixtures.registry import Registry
from shipflow.errors import (
    EXIT_INFRA,
    InfrastructureError,
    IntegrityError,
    ManifestError,
    RegistryError,
    ShipflowError,
    TransportError,
)
from shipflow.oci.copy import copy
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
from shipflow.oci.open import open_store
from shipflow.oci.reference import parse_reference
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import RegistryConfig
from shipflow.oci.registry.store import RegistryStore
from support.random_image import OCI_MANIFEST, TAG, RandomImage, make_image, sha256

# Small and fast: a 2 s operation deadline; blob bodies must move 4 KiB/s over every 2 s.
QUICK = RegistryConfig(
    timeout=2.0,
    min_rate=4096,
    max_attempts=3,
    backoff_base=0.05,
    backoff_max=0.2,
    monolithic_threshold=64 * 1024,
    upload_chunk_size=128 * 1024,
)


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    yield
    RegistryClient.close_shared()


def library_copy(src: str, dst: str, config: RegistryConfig = QUICK) -> str:
    src_ref, dst_ref = parse_reference(src), parse_reference(dst)
    source = open_store(src_ref, config=config)
    destination = open_store(dst_ref, config=config, create=True)
    return str(copy(source, src_ref.identifier, destination, dst_ref.tag))


def tag_state(registry: Registry, repo: str, tag: str = TAG) -> str | None:
    """The digest ``tag`` names in the registry (asked directly), None if no such tag."""
    response = httpx.get(f"{registry.url}/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return sha256(response.content)


def seeded(registry: Registry, tmp_path: Path, repo: str) -> RandomImage:
    image = make_image(tmp_path / "src")
    assert library_copy(image.ref, registry.ref(repo, TAG)) == image.digest
    RegistryClient.close_shared()
    return image


def assert_exit_3(exc: ShipflowError) -> None:
    assert exc.exit_code == EXIT_INFRA, f"{type(exc).__name__} exits {exc.exit_code}: {exc}"
    assert exc.hint, f"no hint: {exc}"


# -- a web server where the registry should be ------------------------------------------------


def test_copy_to_a_web_server_is_never_a_success(hostile_server: HostileFactory, tmp_path: Path) -> None:
    web = hostile_server("html")
    image = make_image(tmp_path / "src")
    with pytest.raises(RegistryError, match="where a registry answers") as info:
        library_copy(image.ref, web.ref("app", TAG))
    assert_exit_3(info.value)
    methods = [method for method, _ in web.requests]
    assert "POST" in methods, "the 200 to HEAD must not have been taken for 'blob exists'"
    assert not any(m == "PUT" and "/manifests/" in p for m, p in web.requests), "no manifest PUT"


@pytest.mark.parametrize(
    "operation", ["tag", "put_manifest", "put_blob", "mount", "resolve-tag", "resolve-digest"]
)
def test_every_operation_against_a_web_server_fails(
    hostile_server: HostileFactory, tmp_path: Path, operation: str
) -> None:
    web = hostile_server("html")
    image = make_image(tmp_path / "src")
    layout = LayoutStore(image.layout)
    manifest = layout.get_manifest(TAG)
    store = open_store(parse_reference(web.ref("app")), config=QUICK)
    assert isinstance(store, RegistryStore)
    small = Digest.parse(image.small)
    data = (image.layout / "blobs" / "sha256" / small.hex).read_bytes()
    actions = {
        "tag": lambda: store.tag(manifest.digest, "prod"),
        "put_manifest": lambda: store.put_manifest(manifest, tag="prod"),
        "put_blob": lambda: store.put_blob(small, len(data), [data]),
        "mount": lambda: store.mount_blob(small, RegistryStore(store.client, "other")),
        "resolve-tag": lambda: store.resolve(TAG),
        "resolve-digest": lambda: store.resolve(str(manifest.digest)),
    }
    with pytest.raises((RegistryError, IntegrityError, ManifestError)) as info:
        actions[operation]()
    assert_exit_3(info.value)


def test_a_proxy_answering_html_to_the_manifest_put_leaves_no_tag(
    registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path, repo_name: str
) -> None:
    proxy = fault_proxy(registry, Fault("html", "PUT", "/manifests/", times=None))
    image = make_image(tmp_path / "src")
    with pytest.raises(RegistryError, match="200 OK where a registry answers 201 Created"):
        library_copy(image.ref, proxy.ref(repo_name, TAG))
    assert tag_state(registry, repo_name) is None
    proxy.clear()
    assert library_copy(image.ref, proxy.ref(repo_name, TAG)) == image.digest
    assert tag_state(registry, repo_name) == image.digest


def test_html_answers_to_blob_heads_do_not_skip_uploads(
    registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path, repo_name: str
) -> None:
    proxy = fault_proxy(registry, Fault("html", "HEAD", "/blobs/", times=None))
    image = make_image(tmp_path / "src")
    assert library_copy(image.ref, proxy.ref(repo_name, TAG)) == image.digest
    assert proxy.count("POST", "/blobs/uploads/") == 3, "every blob uploaded: none taken as 'there'"
    assert tag_state(registry, repo_name) == image.digest


# -- silence and drips: every exchange has a deadline -------------------------------------------


def test_a_silent_registry_is_given_up_on_within_the_deadline(hostile_server: HostileFactory) -> None:
    silent = hostile_server("silent")
    config = RegistryConfig(timeout=2.0, read_timeout=60.0, max_attempts=4)
    store = open_store(parse_reference(silent.ref("app", TAG)), config=config)
    started = time.monotonic()
    with pytest.raises(TransportError, match="did not answer in time") as info:
        store.resolve(TAG)
    elapsed = time.monotonic() - started
    assert "gave up after 2 s" in info.value.message
    assert "SHIPFLOW_REGISTRY_TIMEOUT" in (info.value.hint or "")
    assert elapsed < 20, f"{elapsed:.1f}s: the per-read timeout (60 s) decided, not the deadline"


def test_a_registry_dripping_its_headers_is_cut_at_the_deadline(hostile_server: HostileFactory) -> None:
    drip = hostile_server("drip", interval=0.2)
    config = RegistryConfig(timeout=2.0, read_timeout=60.0)
    store = open_store(parse_reference(drip.ref("app", TAG)), config=config)
    started = time.monotonic()
    with pytest.raises(TransportError, match="did not answer in time"):
        store.get_manifest(TAG)
    elapsed = time.monotonic() - started
    # Each byte came well within the 60 s read timeout: only the overall deadline ends this.
    assert elapsed < 20, f"{elapsed:.1f}s"


def test_a_blob_body_dripping_is_cut_by_the_progress_rule(
    registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path, repo_name: str
) -> None:
    image = seeded(registry, tmp_path, repo_name)
    big_path = "/blobs/" + image.big + "$"
    proxy = fault_proxy(
        registry, Fault("drip", "GET", big_path, after_bytes=1000, drip_interval=0.1, times=None)
    )
    out = tmp_path / "out"
    started = time.monotonic()
    with pytest.raises(TransportError, match="stalled") as info:
        library_copy(proxy.ref(repo_name, TAG), f"oci:{out}:{TAG}")
    elapsed = time.monotonic() - started
    assert "SHIPFLOW_REGISTRY_MIN_RATE" in (info.value.hint or "")
    assert elapsed < 30, f"{elapsed:.1f}s"
    assert proxy.count("GET", big_path) == 1, "a stream too slow is not resumed again and again"
    assert not out.exists(), "the layout this failed copy created was removed"
    proxy.clear()
    assert library_copy(proxy.ref(repo_name, TAG), f"oci:{out}:{TAG}") == image.digest


def test_a_slow_but_steady_blob_outlasting_the_deadline_completes(
    registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path, repo_name: str
) -> None:
    image = seeded(registry, tmp_path, repo_name)
    big_path = "/blobs/" + image.big + "$"
    # 300 kB at 16 kB every 0.25 s (~64 kB/s): about 5 s, over twice the 2 s deadline, while
    # every 2 s window moves far more than the 8 KiB the 4 KiB/s minimum asks for.
    proxy = fault_proxy(
        registry,
        Fault("drip", "GET", big_path, after_bytes=0, drip_interval=0.25, drip_bytes=16_000, times=None),
    )
    out = tmp_path / "out"
    started = time.monotonic()
    assert library_copy(proxy.ref(repo_name, TAG), f"oci:{out}:{TAG}") == image.digest
    assert time.monotonic() - started > QUICK.timeout, "the blob must have outlasted the deadline"
    assert proxy.count("GET", big_path) == 1


# -- lying digests and tampered bodies: integrity errors, never "not found" ---------------------


@pytest.mark.parametrize("kind", ["lie", "corrupt"])
def test_a_lying_proxy_is_an_integrity_error_for_resolve_and_copy(
    registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path, repo_name: str, kind: str
) -> None:
    image = seeded(registry, tmp_path, repo_name)
    proxy = fault_proxy(registry, Fault(kind, "GET", "/manifests/", times=None))  # type: ignore[arg-type]
    store = open_store(parse_reference(proxy.ref(repo_name)), config=QUICK)
    with pytest.raises(IntegrityError) as resolved:
        store.resolve(TAG)
    assert_exit_3(resolved.value)
    if kind == "lie":
        assert LIE_DIGEST in resolved.value.message
    with pytest.raises(IntegrityError):
        library_copy(proxy.ref(repo_name, TAG), f"oci:{tmp_path / 'out'}:{TAG}")
    with pytest.raises(IntegrityError):
        store.tag(Digest.parse(image.digest), "staging")
    assert tag_state(registry, repo_name, "staging") is None


def test_a_lying_blob_head_is_an_integrity_error(
    registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path, repo_name: str
) -> None:
    image = make_image(tmp_path / "src")
    proxy = fault_proxy(registry, Fault("lie", "HEAD", "/blobs/", times=None))
    library_copy(image.ref, registry.ref(repo_name, TAG))  # the blobs are there, truly
    RegistryClient.close_shared()
    with pytest.raises(IntegrityError, match="answered for"):
        library_copy(image.ref, proxy.ref(repo_name, "again"))
    assert tag_state(registry, repo_name, "again") is None


# -- every Nth request dropped ------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["push", "pull"])
def test_every_third_request_dropped(
    registry: Registry, fault_proxy: FaultProxyFactory, tmp_path: Path, repo_name: str, direction: str
) -> None:
    if direction == "push":
        image = make_image(tmp_path / "src")
        proxy = fault_proxy(registry)
        src, dst = image.ref, proxy.ref(repo_name, TAG)

        def state() -> str | None:
            return tag_state(registry, repo_name)
    else:
        image = seeded(registry, tmp_path, repo_name)
        proxy = fault_proxy(registry)
        out = tmp_path / "out"
        src, dst = proxy.ref(repo_name, TAG), f"oci:{out}:{TAG}"

        def state() -> str | None:
            if not (out / "index.json").exists():
                return None
            return (
                LayoutStore(out).resolve(TAG).digest.__str__()
                if TAG in LayoutStore(out).list_tags()
                else None
            )

    proxy.set_scenario(Fault("drop", every=3))
    try:
        outcome = library_copy(src, dst)
    except InfrastructureError as exc:
        assert_exit_3(exc)
        outcome = None
    assert proxy.injected, "no request was dropped: the case tests nothing"
    assert state() in (None, image.digest)
    if outcome is None:
        assert state() is None, "a failed copy left a tag"
    else:
        assert outcome == image.digest == state()
    if direction == "pull":
        assert outcome == image.digest, "reads are idempotent: dropped ones are retried"
    assert proxy.non_idempotent_retries() == []
    proxy.clear()
    proxy.reset_log()
    assert library_copy(src, dst) == image.digest
    assert state() == image.digest
