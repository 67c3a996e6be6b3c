"""TLS verification of registry clients, against a real local https server (openssl certificate).

The verifying context is shared per process and, without a ``ca_bundle``, loads its CAs only at
the first handshake (``shipflow.oci.registry.tls``). These tests prove that this saving never
weakens verification: a self-signed server is refused without its CA and accepted with it —
for an https registry, and for a redirect from a plain-HTTP registry to https storage.
"""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.procs import require_binary
from shipflow.errors import ConfigError, TransportError
from shipflow.oci.registry import tls
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import RegistryConfig
from shipflow.oci.registry.tls import DeferredTrustContext, verifying_context


class _V2Handler(http.server.BaseHTTPRequestHandler):
    """Answers ``GET /v2/`` like a registry; any other path redirects to ``server.redirect_to``."""

    def do_GET(self) -> None:
        redirect_to: str | None = getattr(self.server, "redirect_to", None)
        if redirect_to is not None:
            self.send_response(307)
            self.send_header("Location", redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean


@dataclass
class Server:
    port: int
    cert: Path


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by openssl."""
    openssl = require_binary("openssl")
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@contextmanager
def _serve(server: http.server.ThreadingHTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, name="test-http", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def https_server(certificate: tuple[Path, Path]) -> Iterator[Server]:
    """An https server on a free loopback port (port 0: the kernel picks)."""
    cert, key = certificate
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _V2Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with _serve(server):
        yield Server(server.server_address[1], cert)


@pytest.fixture(scope="module")
def redirecting_http_server(https_server: Server) -> Iterator[int]:
    """A plain-HTTP 'registry' that redirects every blob GET to the https server."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _V2Handler)
    server.redirect_to = f"https://127.0.0.1:{https_server.port}/v2/"  # type: ignore[attr-defined]
    with _serve(server):
        yield server.server_address[1]


def _get(host: str, config: RegistryConfig, path: str = "/v2/") -> int:
    with RegistryClient(host, config, sleep=lambda _: None) as client:
        response = client.send("GET", client.url(path), idempotent=True, what="ping")
        response.read()
        return response.status_code


def test_https_registry_with_self_signed_cert_is_refused_without_its_ca(https_server: Server) -> None:
    config = RegistryConfig(plain_http_loopback=False, max_attempts=1)
    with pytest.raises(TransportError) as caught:
        _get(f"127.0.0.1:{https_server.port}", config)
    assert "CERTIFICATE" in caught.value.message.upper()
    assert caught.value.hint is not None and "ca_bundle" in caught.value.hint


def test_https_registry_is_accepted_with_its_ca_bundle(https_server: Server) -> None:
    config = RegistryConfig(plain_http_loopback=False, max_attempts=1, ca_bundle=https_server.cert)
    assert _get(f"127.0.0.1:{https_server.port}", config) == 200


def test_redirect_from_plain_http_registry_to_https_is_verified(
    redirecting_http_server: int, https_server: Server
) -> None:
    host = f"127.0.0.1:{redirecting_http_server}"
    with pytest.raises(TransportError) as caught:
        _get(host, RegistryConfig(max_attempts=1), "/v2/app/blobs/x")
    assert "CERTIFICATE" in caught.value.message.upper()
    trusted = RegistryConfig(max_attempts=1, ca_bundle=https_server.cert)
    assert _get(host, trusted, "/v2/app/blobs/x") == 200


def test_plain_http_client_does_not_load_the_trust_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls, "_contexts", {})
    with (
        RegistryClient("127.0.0.1:5000", RegistryConfig()) as first,
        RegistryClient("127.0.0.1:5001", RegistryConfig()) as second,
    ):
        context = verifying_context()
        assert isinstance(context, DeferredTrustContext)
        assert not context.trust_loaded
        assert first.http is not second.http
        assert verifying_context() is context  # one context per process, shared by clients


def test_deferred_context_verifies_from_the_start_and_loads_trust_once() -> None:
    context = DeferredTrustContext()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs() == [] and not context.trust_loaded
    context.load_trust()
    loaded = len(context.get_ca_certs())
    assert loaded > 0 and context.trust_loaded
    context.load_trust()
    assert len(context.get_ca_certs()) == loaded


def test_unreadable_ca_bundle_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tls, "_contexts", {})
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ConfigError) as caught:
        RegistryClient("127.0.0.1:5000", RegistryConfig(ca_bundle=bad))
    assert caught.value.exit_code == 2 and caught.value.hint
