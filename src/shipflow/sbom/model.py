"""The package inventory: what catalogers find, what SBOM writers and the scanner consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# purl types shipflow catalogs; also the key the scanner maps to OSV ecosystems.
PackageType = Literal["apk", "deb", "rpm", "npm", "pypi", "golang", "cargo", "composer", "gem", "maven"]
PACKAGE_TYPES: tuple[PackageType, ...] = (
    "apk",
    "deb",
    "rpm",
    "npm",
    "pypi",
    "golang",
    "cargo",
    "composer",
    "gem",
    "maven",
)
# Installed by an operating system's package manager: advisories are per distribution release.
OS_PACKAGE_TYPES: frozenset[str] = frozenset({"apk", "deb", "rpm"})


@dataclass(frozen=True, slots=True)
class Distro:
    """The operating system release of an image (``etc/os-release``)."""

    id: str  # "alpine", "debian", "ubuntu", "rhel", "rocky", "fedora", …
    version_id: str  # "3.19.1", "12", "9.4"
    pretty_name: str | None = None

    @property
    def release(self) -> str:
        """The release OS advisories are keyed by: Alpine by minor (``3.19``), Debian and the
        Red Hat family by major (``12``, ``9``), others as given."""
        if self.id == "alpine":
            return ".".join(self.version_id.split(".")[:2])
        if self.id in _MAJOR_RELEASE_IDS:
            return self.version_id.split(".")[0]
        return self.version_id


# Distributions whose advisories name only the major release (Debian 12, RHEL/Rocky/Alma 9).
_MAJOR_RELEASE_IDS = frozenset({"debian", "rhel", "centos", "rocky", "almalinux", "ol", "amzn"})


@dataclass(frozen=True, slots=True)
class Location:
    """Where a package record was found: the file path, and the layer that last wrote it.

    A package inside an archive is named by the archive's path and the member path joined with
    ``!/`` (the Java convention: ``/app/app.war!/WEB-INF/lib/x.jar``)."""

    path: str
    layer: str | None = None  # layer digest, for images


@dataclass(frozen=True, slots=True)
class Package:
    name: str
    version: str
    type: PackageType
    purl: str
    licenses: tuple[str, ...] = ()
    # OS advisories are keyed by the *source* package (dpkg Source:, apk origin, rpm SOURCERPM).
    source_name: str | None = None
    source_version: str | None = None
    locations: tuple[Location, ...] = ()
    distro: Distro | None = None
    # Needed only to develop or test the project (npm devDependencies, Pipfile "develop",
    # composer "packages-dev"…), as the lock file itself says. Lock files in images leave
    # such packages out; in source trees they are listed and marked.
    dev: bool = False

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.type, self.name, self.version, self.purl)


@dataclass(frozen=True, slots=True)
class NotRead:
    """A file shipflow recognised as a lock file, package database or package archive but
    could not read (malformed, truncated, over a size cap, an unknown format version): its
    packages are missing from the inventory, and reports must say so."""

    location: Location
    cataloger: str  # "yarn-lock", "rpm", "java-archive", …
    reason: str

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.location.path, self.location.layer or "", self.reason)


@dataclass(slots=True)
class Inventory:
    """Everything cataloged from one subject (an image digest or a directory)."""

    subject: str  # e.g. "127.0.0.1:5000/app@sha256:…" or a directory path
    subject_digest: str | None = None
    distro: Distro | None = None
    packages: list[Package] = field(default_factory=list)
    not_read: list[NotRead] = field(default_factory=list)

    def sorted_packages(self) -> list[Package]:
        return sorted(self.packages, key=lambda p: p.sort_key)

    def sorted_not_read(self) -> list[NotRead]:
        return sorted(self.not_read, key=lambda n: n.sort_key)
