"""Package records as the catalogers build them: one constructor per package kind, so the
purl and the record's own fields cannot drift apart between catalogers of the same kind."""

from __future__ import annotations

from typing import Literal

from shipflow.sbom._purls import (
    cargo_purl,
    composer_purl,
    gem_purl,
    golang_purl,
    maven_purl,
    npm_purl,
    os_package_purl,
    pypi_purl,
)
from shipflow.sbom.model import Distro, Location, Package, PackageType


def npm_package(
    name: str, version: str, location: Location, licenses: tuple[str, ...] = (), *, dev: bool = False
) -> Package:
    return _language_package("npm", npm_purl(name, version), name, version, location, licenses, dev)


def pypi_package(
    name: str, version: str, location: Location, licenses: tuple[str, ...] = (), *, dev: bool = False
) -> Package:
    return _language_package("pypi", pypi_purl(name, version), name, version, location, licenses, dev)


def golang_package(module: str, version: str, location: Location) -> Package:
    return _language_package("golang", golang_purl(module, version), module, version, location, (), False)


def cargo_package(name: str, version: str, location: Location) -> Package:
    return _language_package("cargo", cargo_purl(name, version), name, version, location, (), False)


def composer_package(
    name: str, version: str, location: Location, licenses: tuple[str, ...] = (), *, dev: bool = False
) -> Package:
    return _language_package("composer", composer_purl(name, version), name, version, location, licenses, dev)


def gem_package(name: str, version: str, location: Location, platform: str | None = None) -> Package:
    return _language_package("gem", gem_purl(name, version, platform), name, version, location, (), False)


def maven_package(
    group: str, artifact: str, version: str, location: Location, licenses: tuple[str, ...] = ()
) -> Package:
    """A Maven artifact, named ``groupId:artifactId`` as OSV's Maven ecosystem names it."""
    name = f"{group}:{artifact}" if group else artifact
    purl = maven_purl(group, artifact, version)
    return _language_package("maven", purl, name, version, location, licenses, False)


def _language_package(
    kind: PackageType,
    purl: str,
    name: str,
    version: str,
    location: Location,
    licenses: tuple[str, ...],
    dev: bool,
) -> Package:
    return Package(
        name=name, version=version, type=kind, purl=purl, licenses=licenses, locations=(location,), dev=dev
    )


def os_package(
    kind: Literal["apk", "deb", "rpm"],
    *,
    name: str,
    version: str,
    arch: str | None,
    source_name: str,
    source_version: str,
    licenses: tuple[str, ...],
    location: Location,
    distro: Distro | None,
    default_namespace: str | None,
    purl_version: str | None = None,
    epoch: int | None = None,
) -> Package:
    """An installed OS package (``kind`` "apk", "deb" or "rpm"); the source package is what OS
    advisories are keyed by, and the purl names it as ``upstream`` when it differs. Without a
    detected distro the purl namespace is ``default_namespace``. ``purl_version`` and
    ``epoch`` are for rpm, whose purl carries the epoch as a qualifier."""
    return Package(
        name=name,
        version=version,
        type=kind,
        purl=os_package_purl(
            kind,
            namespace=distro.id if distro else default_namespace,
            name=name,
            version=purl_version or version,
            arch=arch,
            distro=distro,
            source_name=source_name,
            # The purl version may leave out what the package version has (rpm's epoch).
            source_version=(purl_version or version) if source_version == version else source_version,
            epoch=epoch,
        ),
        licenses=licenses,
        source_name=source_name,
        source_version=source_version,
        locations=(location,),
        distro=distro,
    )
