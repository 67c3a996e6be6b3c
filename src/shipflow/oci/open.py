"""Turn a parsed reference into the Store that holds it."""

from __future__ import annotations

from pathlib import Path

from shipflow.oci.reference import Reference, parse_reference
from shipflow.oci.registry.config import RegistryConfig
from shipflow.oci.store import Store


def open_store(ref: Reference | str, *, config: RegistryConfig | None = None, create: bool = False) -> Store:
    """The Store for ``ref``'s repository.

    ``create`` makes a missing OCI layout directory (for destinations); registries need no
    creation. Registry clients are shared per host so tokens and connections are reused.
    """
    if isinstance(ref, str):
        ref = parse_reference(ref)
    if ref.is_layout:
        from shipflow.oci.layout import LayoutStore

        return LayoutStore(Path(ref.repository), create=create)
    from shipflow.oci.registry.client import RegistryClient
    from shipflow.oci.registry.store import RegistryStore

    client = RegistryClient.shared(ref.registry, config or RegistryConfig.from_env())
    return RegistryStore(client, ref.repository)
