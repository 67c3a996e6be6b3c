"""OCI images in any store: references, digests, manifests, the Store interface, copy and retag.

The public API (what the pipeline and the CLI use)::

    ref = parse_reference("ghcr.io/org/app:dev")          # or "oci:./store:dev"
    image = open_image(ref)                               # pinned: image.digest, image.store
    store = open_store("oci:./store", create=True)        # a Store: layout or registry
    manifest = store.get_manifest(str(image.digest))      # exact bytes, verified
    copy(src_store, "dev", dst_store, "dev", with_attachments=True)
    retag(store, image.digest, "staging")                 # one manifest PUT, no blob moves
    Digest.of(b"bytes"), Digest.parse("sha256:…")

Two stores implement :class:`Store`: an OCI image layout on disk (the embedded default) and a
registry over HTTP(S). Names are loaded on first use, so importing ``shipflow.oci`` does not
import the registry client (httpx) for work that only touches a layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipflow._lazy import lazy_names

if TYPE_CHECKING:
    from shipflow.oci.copy import CopyResult, copy, copy_image, retag
    from shipflow.oci.digest import Digest
    from shipflow.oci.layout import LayoutStore
    from shipflow.oci.models import Descriptor, ImageConfig, Index, Manifest, ManifestBytes, Platform
    from shipflow.oci.open import OpenedImage, open_image, open_store
    from shipflow.oci.reference import Reference, parse_reference
    from shipflow.oci.registry.config import RegistryConfig
    from shipflow.oci.registry.store import RegistryStore
    from shipflow.oci.store import NullObserver, ProgressObserver, Store

__all__ = [
    "CopyResult",
    "Descriptor",
    "Digest",
    "ImageConfig",
    "Index",
    "LayoutStore",
    "Manifest",
    "ManifestBytes",
    "NullObserver",
    "OpenedImage",
    "Platform",
    "ProgressObserver",
    "Reference",
    "RegistryConfig",
    "RegistryStore",
    "Store",
    "copy",
    "copy_image",
    "open_image",
    "open_store",
    "parse_reference",
    "retag",
]

_MODULE_OF = {
    "CopyResult": "shipflow.oci.copy",
    "copy": "shipflow.oci.copy",
    "copy_image": "shipflow.oci.copy",
    "retag": "shipflow.oci.copy",
    "Digest": "shipflow.oci.digest",
    "LayoutStore": "shipflow.oci.layout",
    "Descriptor": "shipflow.oci.models",
    "ImageConfig": "shipflow.oci.models",
    "Index": "shipflow.oci.models",
    "Manifest": "shipflow.oci.models",
    "ManifestBytes": "shipflow.oci.models",
    "Platform": "shipflow.oci.models",
    "OpenedImage": "shipflow.oci.open",
    "open_image": "shipflow.oci.open",
    "open_store": "shipflow.oci.open",
    "Reference": "shipflow.oci.reference",
    "parse_reference": "shipflow.oci.reference",
    "RegistryConfig": "shipflow.oci.registry.config",
    "RegistryStore": "shipflow.oci.registry.store",
    "NullObserver": "shipflow.oci.store",
    "ProgressObserver": "shipflow.oci.store",
    "Store": "shipflow.oci.store",
}

__getattr__, __dir__ = lazy_names(__name__, _MODULE_OF)
