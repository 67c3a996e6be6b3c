"""Package catalogers: installed-package databases (for images and root filesystems) and
lock files (for source trees)."""

from __future__ import annotations

from shipflow.sbom.catalogers.apk import ApkCataloger
from shipflow.sbom.catalogers.base import Cataloger
from shipflow.sbom.catalogers.dpkg import DpkgCataloger
from shipflow.sbom.catalogers.lockfiles import NpmLockCataloger, PythonLockCataloger, RequirementsCataloger
from shipflow.sbom.catalogers.npm import NpmCataloger
from shipflow.sbom.catalogers.python import PythonCataloger


def installed_catalogers() -> list[Cataloger]:
    """What images are cataloged with: installed-package records, not lock files."""
    return [ApkCataloger(), DpkgCataloger(), NpmCataloger(), PythonCataloger()]


def lockfile_catalogers() -> list[Cataloger]:
    return [NpmLockCataloger(), RequirementsCataloger(), PythonLockCataloger()]


__all__ = [
    "ApkCataloger",
    "Cataloger",
    "DpkgCataloger",
    "NpmCataloger",
    "NpmLockCataloger",
    "PythonCataloger",
    "PythonLockCataloger",
    "RequirementsCataloger",
    "installed_catalogers",
    "lockfile_catalogers",
]
