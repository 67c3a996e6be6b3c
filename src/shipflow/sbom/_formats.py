"""The SBOM formats shipflow writes, and one function that renders any of them."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, assert_never

if TYPE_CHECKING:
    from shipflow.sbom.model import Inventory


class SbomFormat(enum.Enum):
    SPDX_JSON = "spdx-json"
    CYCLONEDX_JSON = "cyclonedx-json"

    @property
    def media_type(self) -> str:
        if self is SbomFormat.SPDX_JSON:
            return "application/spdx+json"
        if self is SbomFormat.CYCLONEDX_JSON:
            return "application/vnd.cyclonedx+json"
        assert_never(self)

    @property
    def predicate_type(self) -> str:
        """The in-toto predicate type of an attestation carrying this SBOM."""
        if self is SbomFormat.SPDX_JSON:
            return "https://spdx.dev/Document"
        if self is SbomFormat.CYCLONEDX_JSON:
            return "https://cyclonedx.org/bom"
        assert_never(self)

    @classmethod
    def parse(cls, text: str) -> SbomFormat:
        aliases = {"spdx": cls.SPDX_JSON, "cyclonedx": cls.CYCLONEDX_JSON}
        return aliases.get(text) or cls(text)


def render(inventory: Inventory, fmt: SbomFormat) -> str:
    # Each writer is imported when its format is asked for (cyclonedx-python-lib's SPDX list,
    # which the CycloneDX writer checks ids with, alone costs 45-70 ms of start-up).
    if fmt is SbomFormat.SPDX_JSON:
        from shipflow.sbom.spdx import spdx_json

        return spdx_json(inventory)
    if fmt is SbomFormat.CYCLONEDX_JSON:
        from shipflow.sbom.cyclonedx import cyclonedx_json

        return cyclonedx_json(inventory)
    assert_never(fmt)
