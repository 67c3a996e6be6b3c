"""The verifying TLS contexts registry clients share: one per CA source per process.

Loading a CA bundle costs ≈ 0.1 s (certifi's ~150 certificates are parsed), and httpx does it
for every ``httpx.Client(verify=True)`` — even when the client only ever speaks plain HTTP to a
loopback registry, and once more for each client of a cross-registry copy. Here:

* :func:`verifying_context` hands out **one** context per CA source, cached for the process
  (thread-safe), so every client shares it.
* The default context (no ``ca_bundle``) is a :class:`DeferredTrustContext`: it is a normal
  ``PROTOCOL_TLS_CLIENT`` context — certificate and host-name verification *required* from the
  start — whose trust store is loaded on the first TLS handshake. A process that never makes an
  https request never pays for it; one that does (an https registry, or an http registry that
  redirects blob downloads to https storage) is verified exactly as with httpx's default.
  Until the trust store is loaded the context trusts nothing, so any mistake fails closed.
* An explicit ``ca_bundle`` is loaded at once: it is small, and a bad path or file is a
  configuration error best reported before any request.

The default CA source follows httpx's ``verify=True``: ``SSL_CERT_FILE``, else
``SSL_CERT_DIR``, else certifi's bundle.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from pathlib import Path

from shipflow.errors import ConfigError


class DeferredTrustContext(ssl.SSLContext):
    """A client context that verifies certificates, loading its CAs at the first handshake."""

    _trust_lock: threading.Lock
    _trust_loaded: bool

    def __new__(cls) -> DeferredTrustContext:
        context = super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)
        context._trust_lock = threading.Lock()
        context._trust_loaded = False
        return context

    def __init__(self) -> None:
        # ssl.SSLContext.__init__ only takes the protocol (set in __new__); nothing else to do.
        # PROTOCOL_TLS_CLIENT already means CERT_REQUIRED and check_hostname=True.
        pass

    @property
    def trust_loaded(self) -> bool:
        """Whether the CA certificates have been loaded (a handshake happened)."""
        return self._trust_loaded

    def load_trust(self) -> None:
        """Load the default CA certificates now (once; later calls do nothing)."""
        if self._trust_loaded:
            return
        with self._trust_lock:
            if self._trust_loaded:
                return
            cert_file = os.environ.get("SSL_CERT_FILE")
            cert_dir = os.environ.get("SSL_CERT_DIR")
            if cert_file:
                self.load_verify_locations(cafile=cert_file)
            elif cert_dir:
                self.load_verify_locations(capath=cert_dir)
            else:
                import certifi  # here, not at import: only a process that uses TLS needs it

                self.load_verify_locations(cafile=certifi.where())
            self._trust_loaded = True

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        self.load_trust()
        return super().wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=server_hostname,
            session=session,
        )

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        # TLS inside TLS (an https target through an https proxy) goes through wrap_bio.
        self.load_trust()
        return super().wrap_bio(
            incoming,
            outgoing,
            server_side=server_side,
            server_hostname=server_hostname,
            session=session,
        )


_contexts: dict[Path | None, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def verifying_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """The process-wide verifying context for ``ca_bundle`` (None: the default CA source).

    Raises :class:`ConfigError` if ``ca_bundle`` cannot be read as PEM certificates.
    """
    with _contexts_lock:
        context = _contexts.get(ca_bundle)
        if context is None:
            context = DeferredTrustContext() if ca_bundle is None else _bundle_context(ca_bundle)
            _contexts[ca_bundle] = context
        return context


def _bundle_context(ca_bundle: Path) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(ca_bundle))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the CA bundle {ca_bundle}: {exc}",
            hint="give a PEM file of CA certificates",
        ) from exc
