"""The OCI distribution registry client: settings, credentials, auth, HTTP, and the Store.

Public API::

    RegistryConfig      keyword-only settings (``RegistryConfig.from_env()``)
    RegistryClient      one registry host: auth, retries, error mapping (``.shared(host, config)``)
    RegistryStore       one repository on it, implementing :class:`shipflow.oci.store.Store`
    Credentials         what is presented to a registry (``resolve_credentials``)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipflow._lazy import lazy_names

if TYPE_CHECKING:
    from shipflow.oci.registry.client import RegistryClient
    from shipflow.oci.registry.config import RegistryConfig
    from shipflow.oci.registry.credentials import Credentials, resolve_credentials
    from shipflow.oci.registry.store import RegistryStore

__all__ = ["Credentials", "RegistryClient", "RegistryConfig", "RegistryStore", "resolve_credentials"]

# Loaded on first use (PEP 562): importing the settings (``registry.config``, which every CLI
# command does) must not import httpx (≈ 0.1 s) for a command that only reads an OCI layout.
_HOMES = {
    "RegistryClient": ".client",
    "RegistryConfig": ".config",
    "Credentials": ".credentials",
    "resolve_credentials": ".credentials",
    "RegistryStore": ".store",
}

__getattr__, __dir__ = lazy_names(__name__, _HOMES)
