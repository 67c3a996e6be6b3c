"""SBOMs: read image layers safely, catalog the packages in them, write SPDX or CycloneDX.

Public API::

    catalog_image(store, "tag-or-digest", platform="linux/amd64") -> Inventory
    catalog_directory(path) -> Inventory
    inventory_of(detect_target("oci:./store:dev" or "./src")) -> Inventory   # any argument
    render(inventory, SbomFormat.SPDX_JSON) -> str
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipflow._lazy import lazy_names

if TYPE_CHECKING:
    from shipflow.sbom._formats import SbomFormat, render
    from shipflow.sbom.catalog import catalog_directory
    from shipflow.sbom.image import catalog_image
    from shipflow.sbom.layers import Limits
    from shipflow.sbom.model import Distro, Inventory, Location, Package
    from shipflow.sbom.target import Target, TargetKind, detect_target, inventory_of

__all__ = [
    "Distro",
    "Inventory",
    "Limits",
    "Location",
    "Package",
    "SbomFormat",
    "Target",
    "TargetKind",
    "catalog_directory",
    "catalog_image",
    "detect_target",
    "inventory_of",
    "render",
]

# Names are imported on first use (PEP 562), so importing one submodule (or the package for
# one name) does not import the rest.
_MODULE_OF = {
    "catalog_directory": "shipflow.sbom.catalog",
    "SbomFormat": "shipflow.sbom._formats",
    "render": "shipflow.sbom._formats",
    "catalog_image": "shipflow.sbom.image",
    "Limits": "shipflow.sbom.layers",
    "Distro": "shipflow.sbom.model",
    "Inventory": "shipflow.sbom.model",
    "Location": "shipflow.sbom.model",
    "Package": "shipflow.sbom.model",
    "Target": "shipflow.sbom.target",
    "TargetKind": "shipflow.sbom.target",
    "detect_target": "shipflow.sbom.target",
    "inventory_of": "shipflow.sbom.target",
}

__getattr__, __dir__ = lazy_names(__name__, _MODULE_OF)
