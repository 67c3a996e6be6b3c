"""SBOMs: read image layers safely, catalog the packages in them, write SPDX or CycloneDX.

Public API::

    catalog_image(store, "tag-or-digest", platform="linux/amd64") -> Inventory
    catalog_directory(path) -> Inventory
    inventory_of(detect_target("oci:./store:dev" or "./src")) -> Inventory   # any argument
    render(inventory, SbomFormat.SPDX_JSON) -> str
"""

from __future__ import annotations

from shipflow.sbom.catalog import catalog_directory
from shipflow.sbom.formats import SbomFormat, render
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
