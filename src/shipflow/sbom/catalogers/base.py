"""The cataloger interface: which files a cataloger wants, and what packages it finds."""

from __future__ import annotations

from typing import Protocol

from shipflow.sbom.model import Distro, Package
from shipflow.sbom.source import FileSource


class Cataloger(Protocol):
    name: str  # short, for summaries and logs: "dpkg", "npm-lock"

    def wants(self, path: str) -> bool:
        """Whether the file at ``path`` (relative, no leading slash) must be read."""
        ...

    def catalog(self, source: FileSource, distro: Distro | None) -> list[Package]: ...
