"""Package records as the catalogers build them: one constructor per package kind, so the
purl and the record's own fields cannot drift apart between catalogers of the same kind."""

from __future__ import annotations

from typing import Literal

from shipflow.sbom.model import Distro, Location, Package
from shipflow.sbom.purls import npm_purl, os_package_purl, pypi_purl


def npm_package(name: str, version: str, location: Location, licenses: tuple[str, ...] = ()) -> Package:
    return _language_package("npm", npm_purl(name, version), name, version, location, licenses)


def pypi_package(name: str, version: str, location: Location, licenses: tuple[str, ...] = ()) -> Package:
    return _language_package("pypi", pypi_purl(name, version), name, version, location, licenses)


def _language_package(
    kind: Literal["npm", "pypi"],
    purl: str,
    name: str,
    version: str,
    location: Location,
    licenses: tuple[str, ...],
) -> Package:
    return Package(name=name, version=version, type=kind, purl=purl, licenses=licenses, locations=(location,))


def os_package(
    kind: Literal["apk", "deb"],
    *,
    name: str,
    version: str,
    arch: str | None,
    source_name: str,
    source_version: str,
    licenses: tuple[str, ...],
    location: Location,
    distro: Distro | None,
    default_namespace: str,
) -> Package:
    """An installed OS package (``kind`` "apk" or "deb"); the source package is what OS
    advisories are keyed by, and the purl names it as ``upstream`` when it differs. Without a
    detected distro the purl namespace is ``default_namespace``."""
    return Package(
        name=name,
        version=version,
        type=kind,
        purl=os_package_purl(
            kind,
            namespace=distro.id if distro else default_namespace,
            name=name,
            version=version,
            arch=arch,
            distro=distro,
            source_name=source_name,
            source_version=source_version,
        ),
        licenses=licenses,
        source_name=source_name,
        source_version=source_version,
        locations=(location,),
        distro=distro,
    )
