"""The hostile fixtures do what they say (checked with plain httpx and sockets, not shipflow).

The fault proxy's new kinds (html, drip, lie, drop, every Nth) in front of the real registry,
and the stand-alone hostile servers (html, silent, drip).
"""

from __future__ import annotations

import hashlib
import os
import socket
import time

import httpx
import pytest

from fixtures.faults import HTML_PAGE, LIE_DIGEST, Fault, FaultProxyFactory
from fixtures.hostile import HostileFactory
from fixtures.registry import Registry


def _push_blob(base: str, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    started = httpx.post(f"{base}/v2/{repo}/blobs/uploads/", timeout=10)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    url = location if location.startswith("http") else base + location
    done = httpx.put(f"{url}{'&' if '?' in url else '?'}digest={digest}", content=data, timeout=10)
    assert done.status_code == 201, done.text
    return digest


def test_html_answers_everything_without_forwarding(
    registry: Registry, fault_proxy: FaultProxyFactory, repo_name: str
) -> None:
    proxy = fault_proxy(registry, Fault("html", times=None))
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        for method in ("GET", "HEAD", "POST", "PUT", "PATCH"):
            response = client.request(method, f"/v2/{repo_name}/blobs/uploads/", content=b"x")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/html")
            assert response.content == (b"" if method == "HEAD" else HTML_PAGE)
    assert all(not r.forwarded for r in proxy.requests)


def test_lie_replaces_only_the_digest_header(
    registry: Registry, fault_proxy: FaultProxyFactory, repo_name: str
) -> None:
    proxy = fault_proxy(registry, Fault("lie", "GET", "/blobs/", times=None))
    data = os.urandom(50_000)
    digest = _push_blob(registry.url, repo_name, data)
    response = httpx.get(f"{proxy.url}/v2/{repo_name}/blobs/{digest}", timeout=10)
    assert response.status_code == 200 and response.content == data
    assert response.headers["docker-content-digest"] == LIE_DIGEST != digest


def test_drop_closes_every_nth_request_without_an_answer(
    registry: Registry, fault_proxy: FaultProxyFactory
) -> None:
    proxy = fault_proxy(registry, Fault("drop", method="GET", every=3))
    outcomes = []
    for _ in range(6):
        try:
            outcomes.append(httpx.get(f"{proxy.url}/v2/", timeout=10).status_code)
        except httpx.RemoteProtocolError:
            outcomes.append(None)  # the server closed without a status line
    assert outcomes == [200, 200, None, 200, 200, None]
    assert [r.status for r in proxy.requests] == outcomes


def test_drip_holds_the_client_in_the_headers(registry: Registry, fault_proxy: FaultProxyFactory) -> None:
    proxy = fault_proxy(registry, Fault("drip", "GET", "/v2/", drip_interval=0.2, times=None))
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        got = b""
        while len(got) < 9:
            got += sock.recv(100)
        elapsed = time.monotonic() - started
    assert got.startswith(b"HTTP/1.1 ")  # a byte at a time: "HTTP/1.1 " took 9 intervals
    assert elapsed >= 1.0


def test_steady_drip_delivers_the_whole_body(
    registry: Registry, fault_proxy: FaultProxyFactory, repo_name: str
) -> None:
    data = os.urandom(40_000)
    digest = _push_blob(registry.url, repo_name, data)
    proxy = fault_proxy(
        registry, Fault("drip", "GET", "/blobs/", after_bytes=0, drip_interval=0.05, drip_bytes=10_000)
    )
    response = httpx.get(f"{proxy.url}/v2/{repo_name}/blobs/{digest}", timeout=10)
    assert response.content == data
    assert proxy.requests[-1].broken is False


def test_hostile_servers(hostile_server: HostileFactory) -> None:
    web = hostile_server("html")
    response = httpx.put(f"{web.url}/v2/x/manifests/v1", content=b"{}", timeout=5)
    assert response.status_code == 200 and b"<html>" in response.content
    assert web.requests == [("PUT", "/v2/x/manifests/v1")]

    silent = hostile_server("silent")
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{silent.url}/v2/", timeout=httpx.Timeout(5, read=0.5))
    assert silent.requests == [("GET", "/v2/")]

    drip = hostile_server("drip", interval=0.1)
    with socket.create_connection(("127.0.0.1", drip.port), timeout=10) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(100)
    assert len(first) == 1 and first == b"H"
