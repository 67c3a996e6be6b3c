"""The package inventory: what catalogers find, what SBOM writers and the scanner consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# purl types shipflow catalogs; also the key the scanner maps to OSV ecosystems.
PackageType = Literal["apk", "deb", "npm", "pypi", "golang"]


@dataclass(frozen=True, slots=True)
class Distro:
    """The operating system release of an image (``etc/os-release``)."""

    id: str  # "alpine", "debian", "ubuntu"
    version_id: str  # "3.19.1", "12"
    pretty_name: str | None = None

    @property
    def release(self) -> str:
        """The release OS advisories are keyed by: Alpine by minor (``3.19``), others as given."""
        if self.id == "alpine":
            return ".".join(self.version_id.split(".")[:2])
        return self.version_id.split(".")[0] if self.id == "debian" else self.version_id


@dataclass(frozen=True, slots=True)
class Location:
    """Where a package record was found: the file path, and the layer that last wrote it."""

    path: str
    layer: str | None = None  # layer digest, for images


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    version: str
    type: PackageType
    purl: str
    licenses: tuple[str, ...] = ()
    # OS advisories are keyed by the *source* package (dpkg Source:, apk origin).
    source_name: str | None = None
    source_version: str | None = None
    locations: tuple[Location, ...] = ()
    distro: Distro | None = None

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.type, self.name, self.version, self.purl)


@dataclass(slots=True)
class Inventory:
    """Everything cataloged from one subject (an image digest or a directory)."""

    subject: str  # e.g. "127.0.0.1:5000/app@sha256:…" or a directory path
    subject_digest: str | None = None
    distro: Distro | None = None
    packages: list[Package] = field(default_factory=list)

    def sorted_packages(self) -> list[Package]:
        return sorted(self.packages, key=lambda p: p.sort_key)
