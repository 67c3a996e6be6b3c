"""Where a cataloged package lives in OSV: its ecosystem name and normalised package name."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipflow.sbom.model import Distro, Package

_PEP503 = re.compile(r"[-_.]+")


def normalise_name(ecosystem: str, name: str) -> str:
    """The name as the ecosystem compares names (PyPI per PEP 503; Go and npm as written)."""
    base = ecosystem.split(":", 1)[0]
    if base == "PyPI":
        return _PEP503.sub("-", name).lower()
    if base in ("Alpine", "Debian", "Ubuntu"):
        return name.lower()
    return name


@dataclass(frozen=True, slots=True)
class Query:
    """What to look up for one package: candidate ecosystems, the name, the version to compare."""

    ecosystems: tuple[str, ...]
    name: str
    version: str


def _os_ecosystems(distro: Distro) -> tuple[str, ...]:
    if distro.id == "alpine":
        return (f"Alpine:v{distro.release}",)
    if distro.id == "debian":
        return (f"Debian:{distro.release}",)
    if distro.id == "ubuntu":
        # osv.dev writes LTS releases as "Ubuntu:22.04:LTS" and others as "Ubuntu:23.10".
        return (f"Ubuntu:{distro.release}", f"Ubuntu:{distro.release}:LTS")
    return ()


def query_for(package: Package, distro: Distro | None) -> Query | None:
    """The OSV lookup for ``package``; ``None`` when shipflow cannot place it (e.g. an OS
    package without a known distribution release)."""
    if package.type == "npm":
        return Query(("npm",), package.name, package.version)
    if package.type == "pypi":
        return Query(("PyPI",), normalise_name("PyPI", package.name), package.version)
    if package.type == "golang":
        return Query(("Go",), package.name, package.version)
    os_release = package.distro or distro
    if package.type in ("apk", "deb") and os_release is not None:
        ecosystems = _os_ecosystems(os_release)
        if not ecosystems:
            return None
        # OS advisories are keyed by the source package and its version.
        name = (package.source_name or package.name).lower()
        version = package.source_version or package.version
        return Query(ecosystems, name, version)
    return None
