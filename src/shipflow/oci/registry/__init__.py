"""The OCI distribution registry client: settings, credentials, auth, HTTP, and the Store.

Public API::

    RegistryConfig      keyword-only settings (``RegistryConfig.from_env()``)
    RegistryClient      one registry host: auth, retries, error mapping (``.shared(host, config)``)
    RegistryStore       one repository on it, implementing :class:`shipflow.oci.store.Store`
    Credentials         what is presented to a registry (``resolve_credentials``)
"""

from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import RegistryConfig
from shipflow.oci.registry.credentials import Credentials, resolve_credentials
from shipflow.oci.registry.store import RegistryStore

__all__ = ["Credentials", "RegistryClient", "RegistryConfig", "RegistryStore", "resolve_credentials"]
