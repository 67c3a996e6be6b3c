"""Version ordering per ecosystem: what "introduced", "fixed" and "last_affected" mean.

Each scheme is a module with ``compare(a, b) -> int`` that raises :class:`InvalidVersion` for
a string the ecosystem would not accept. :func:`scheme_for` maps an OSV ecosystem name to its
scheme through :data:`SCHEMES`; a scheme module is imported the first time it is needed.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from shipflow.scan.versions.base import InvalidVersion, VersionScheme

__all__ = ["SCHEMES", "InvalidVersion", "VersionScheme", "scheme_for"]

# OSV ecosystem (the part before ":") -> (scheme name, module with compare()).
SCHEMES: dict[str, tuple[str, str]] = {
    "npm": ("npm", "shipflow.scan.versions.npm"),
    "PyPI": ("pep440", "shipflow.scan.versions.pep440"),
    "Go": ("go", "shipflow.scan.versions.golang"),
    "Alpine": ("apk", "shipflow.scan.versions.apk"),
    "Debian": ("dpkg", "shipflow.scan.versions.dpkg"),
    "Ubuntu": ("dpkg", "shipflow.scan.versions.dpkg"),
    "crates.io": ("cargo", "shipflow.scan.versions.cargo"),
    "Maven": ("maven", "shipflow.scan.versions.maven"),
    # RPM-based distributions: their ECOSYSTEM ranges are in rpm order.
    "Red Hat": ("rpm", "shipflow.scan.versions.rpm"),
    "Rocky Linux": ("rpm", "shipflow.scan.versions.rpm"),
    "AlmaLinux": ("rpm", "shipflow.scan.versions.rpm"),
    "SUSE": ("rpm", "shipflow.scan.versions.rpm"),
    "openSUSE": ("rpm", "shipflow.scan.versions.rpm"),
    "Photon OS": ("rpm", "shipflow.scan.versions.rpm"),
    "openEuler": ("rpm", "shipflow.scan.versions.rpm"),
    "Mageia": ("rpm", "shipflow.scan.versions.rpm"),
    "Azure Linux": ("rpm", "shipflow.scan.versions.rpm"),
}


@lru_cache(maxsize=256)
def scheme_for(ecosystem: str) -> VersionScheme | None:
    """The scheme for an OSV ecosystem ("npm", "PyPI", "Go", "Alpine:v3.19", "Debian:12"…).

    ``None`` for ecosystems shipflow does not order; their records still match through
    explicit ``versions`` lists.
    """
    entry = SCHEMES.get(ecosystem.split(":", 1)[0])
    if entry is None:
        return None
    name, module = entry
    return VersionScheme(name, importlib.import_module(module).compare)
