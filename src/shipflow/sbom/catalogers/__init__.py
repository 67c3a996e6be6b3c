"""Package catalogers: installed-package databases, lock files, Go executables and Java
archives.

Which run where:

* images (:func:`image_catalogers`): installed-package records (apk, dpkg, rpm, npm
  ``node_modules``, Python dist-info), Go executables, Java archives, and the lock files of a
  project copied into the image, without their dev-only packages (a production install
  leaves those out, and what was installed is read from the installed records);
* directories (:func:`directory_catalogers`): the same, with lock files' dev dependencies
  listed and marked (a source tree's CI installs them).
"""

from __future__ import annotations

from shipflow.sbom.catalogers.apk import ApkCataloger
from shipflow.sbom.catalogers.base import Cataloged, Cataloger
from shipflow.sbom.catalogers.cargo import CargoLockCataloger
from shipflow.sbom.catalogers.composer import ComposerLockCataloger
from shipflow.sbom.catalogers.dpkg import DpkgCataloger
from shipflow.sbom.catalogers.gemfile import GemfileLockCataloger
from shipflow.sbom.catalogers.gobinary import GoBinaryCataloger
from shipflow.sbom.catalogers.gomod import GoModCataloger
from shipflow.sbom.catalogers.java import JavaArchiveCataloger
from shipflow.sbom.catalogers.lockfiles import NpmLockCataloger, PythonLockCataloger, RequirementsCataloger
from shipflow.sbom.catalogers.npm import NpmCataloger
from shipflow.sbom.catalogers.pipfile import PipfileLockCataloger
from shipflow.sbom.catalogers.pnpm import PnpmLockCataloger
from shipflow.sbom.catalogers.pylock import PylockCataloger
from shipflow.sbom.catalogers.python import PythonCataloger
from shipflow.sbom.catalogers.rpm import RpmCataloger
from shipflow.sbom.catalogers.yarn import YarnLockCataloger


def installed_catalogers() -> list[Cataloger]:
    """Installed-package records: what a root filesystem says is installed, and what its Go
    executables and Java archives were built from."""
    return [
        ApkCataloger(),
        DpkgCataloger(),
        RpmCataloger(),
        NpmCataloger(),
        PythonCataloger(),
        GoBinaryCataloger(),
        JavaArchiveCataloger(),
    ]


def lockfile_catalogers(*, include_dev: bool = True) -> list[Cataloger]:
    return [
        NpmLockCataloger(include_dev=include_dev),
        YarnLockCataloger(include_dev=include_dev),
        PnpmLockCataloger(include_dev=include_dev),
        RequirementsCataloger(),
        PythonLockCataloger(include_dev=include_dev),
        PipfileLockCataloger(include_dev=include_dev),
        PylockCataloger(include_dev=include_dev),
        GoModCataloger(),
        CargoLockCataloger(),
        ComposerLockCataloger(include_dev=include_dev),
        GemfileLockCataloger(),
    ]


def image_catalogers() -> list[Cataloger]:
    return [*installed_catalogers(), *lockfile_catalogers(include_dev=False)]


def directory_catalogers() -> list[Cataloger]:
    return [*installed_catalogers(), *lockfile_catalogers(include_dev=True)]


__all__ = [
    "ApkCataloger",
    "CargoLockCataloger",
    "Cataloged",
    "Cataloger",
    "ComposerLockCataloger",
    "DpkgCataloger",
    "GemfileLockCataloger",
    "GoBinaryCataloger",
    "GoModCataloger",
    "JavaArchiveCataloger",
    "NpmCataloger",
    "NpmLockCataloger",
    "PipfileLockCataloger",
    "PnpmLockCataloger",
    "PylockCataloger",
    "PythonCataloger",
    "PythonLockCataloger",
    "RequirementsCataloger",
    "RpmCataloger",
    "YarnLockCataloger",
    "directory_catalogers",
    "image_catalogers",
    "installed_catalogers",
    "lockfile_catalogers",
]
