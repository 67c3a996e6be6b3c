"""Where a cataloged package lives in OSV: its ecosystem name and normalised package name."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipflow.sbom.model import Distro, Package

_PEP503 = re.compile(r"[-_.]+")

# purl type -> OSV ecosystem, for language packages (one ecosystem each).
LANGUAGE_ECOSYSTEMS = {
    "npm": "npm",
    "pypi": "PyPI",
    "golang": "Go",
    "cargo": "crates.io",
    "composer": "Packagist",
    "gem": "RubyGems",
    "maven": "Maven",
}

# Red Hat's OSV data scopes each RPM to a product stream named after its CPE
# (``Red Hat:enterprise_linux:9::baseos``); these are the streams of a RHEL release's
# standard repositories (BaseOS, AppStream, CodeReady Builder; RHEL 7's variants).
_RHEL_STREAMS = {"7": ("server", "workstation", "client", "computenode")}
_RHEL_DEFAULT_STREAMS = ("baseos", "appstream", "crb")


def normalise_name(ecosystem: str, name: str) -> str:
    """The name as the ecosystem compares names (PyPI per PEP 503; Debian, Ubuntu and Alpine
    lowercase; RPM, Go, npm and the others as written)."""
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


def _rpm_ecosystems(distro: Distro) -> tuple[str, ...]:
    major = distro.release
    if distro.id in ("rhel", "centos"):
        # CentOS Linux and CentOS Stream rebuild RHEL: Red Hat's advisories are theirs too.
        streams = _RHEL_STREAMS.get(major, _RHEL_DEFAULT_STREAMS)
        return tuple(f"Red Hat:enterprise_linux:{major}::{stream}" for stream in streams)
    if distro.id == "rocky":
        return (f"Rocky Linux:{major}",)
    if distro.id == "almalinux":
        return (f"AlmaLinux:{major}",)
    if distro.id in ("sles", "sled", "sle-micro") and distro.pretty_name:
        return (f"SUSE:{distro.pretty_name}",)
    if distro.id.startswith("opensuse") and distro.pretty_name:
        return (f"openSUSE:{distro.pretty_name}",)
    if distro.id == "photon":
        return (f"Photon OS:{distro.version_id}",)
    return ()  # Fedora, Amazon Linux, Oracle Linux: no OSV ecosystem


def os_ecosystems(distro: Distro) -> tuple[str, ...]:
    if distro.id == "alpine":
        return (f"Alpine:v{distro.release}",)
    if distro.id == "debian":
        return (f"Debian:{distro.release}",)
    if distro.id == "ubuntu":
        # osv.dev writes LTS releases as "Ubuntu:22.04:LTS" and others as "Ubuntu:23.10".
        return (f"Ubuntu:{distro.release}", f"Ubuntu:{distro.release}:LTS")
    return _rpm_ecosystems(distro)


def query_for(package: Package, distro: Distro | None) -> Query | None:
    """The OSV lookup for ``package``; ``None`` when shipflow cannot place it (e.g. an OS
    package without a known distribution release)."""
    ecosystem = LANGUAGE_ECOSYSTEMS.get(package.type)
    if ecosystem is not None:
        return Query((ecosystem,), normalise_name(ecosystem, package.name), package.version)
    os_release = package.distro or distro
    if package.type in ("apk", "deb", "rpm") and os_release is not None:
        ecosystems = os_ecosystems(os_release)
        if not ecosystems:
            return None
        # OS advisories are keyed by the source package and its version.
        name = package.source_name or package.name
        version = package.source_version or package.version
        return Query(ecosystems, name.lower() if package.type != "rpm" else name, version)
    return None
