"""RPM packages installed in an image (Red Hat, Fedora, CentOS, Rocky, AlmaLinux, Oracle
Linux, Amazon Linux, SUSE…), from rpm's package database.

The database is ``rpmdb.sqlite`` (rpm ≥ 4.16), ``Packages`` (Berkeley DB) or ``Packages.db``
(NDB), under ``var/lib/rpm/`` or ``usr/lib/sysimage/rpm/``; each record is an RPM header
(:mod:`shipflow.sbom.catalogers.rpmheader`). Where one directory holds more than one format
(a migration left the old file behind), the one rpm itself would use is read: SQLite, then
NDB, then Berkeley DB.

A package's version is ``[epoch:]version-release`` (how rpm compares them and how OSV's
RPM-based ecosystems write them); its purl carries ``version-release`` and the epoch as a
qualifier. The source package, which distribution advisories are keyed by, comes from
``SOURCERPM`` (``bash-5.1.8-6.el9.src.rpm``), with the binary package's epoch. The
``gpg-pubkey`` entries rpm keeps for imported signing keys are not packages.
"""

from __future__ import annotations

import logging
import posixpath

from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.packages import os_package
from shipflow.sbom.catalogers.rpmheader import HeaderError, RpmHeader, parse_header, split_source_rpm
from shipflow.sbom.model import Distro, Location, Package
from shipflow.sbom.source import FileSource, FoundFile

log = logging.getLogger(__name__)

DB_DIRS = ("var/lib/rpm/", "usr/lib/sysimage/rpm/", "usr/share/rpm/")
# In the order rpm prefers them when a directory has several.
DB_FILES = ("rpmdb.sqlite", "Packages.db", "Packages")
_WAL = "rpmdb.sqlite-wal"
# More broken headers than this in one database: stop listing them one by one.
_MAX_REPORTED_HEADERS = 5


def rpm_version(epoch: int | None, version_release: str) -> str:
    return f"{epoch}:{version_release}" if epoch else version_release


def package_from_header(header: RpmHeader, location: Location, distro: Distro | None) -> Package:
    version_release = f"{header.version}-{header.release}"
    source_name, source_version = header.name, version_release
    if header.source_rpm:
        split = split_source_rpm(header.source_rpm)
        if split is not None:
            source_name, source_version = split
    return os_package(
        "rpm",
        name=header.name,
        version=rpm_version(header.epoch, version_release),
        arch=header.arch if header.arch and header.arch != "(none)" else None,
        source_name=source_name,
        source_version=rpm_version(header.epoch, source_version),
        licenses=(header.license,) if header.license else (),
        location=location,
        distro=distro,
        default_namespace=None,
        purl_version=version_release,
        epoch=header.epoch,
    )


class RpmCataloger:
    name = "rpm"
    wanted_names = frozenset((*DB_FILES, _WAL))

    def wants(self, path: str) -> bool:
        directory, base = posixpath.split(path)
        return f"{directory}/" in DB_DIRS and (base in DB_FILES or base == _WAL)

    @staticmethod
    def _is_database(path: str) -> bool:
        directory, base = posixpath.split(path)
        return f"{directory}/" in DB_DIRS and base in DB_FILES

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        chosen: dict[str, FoundFile] = {}
        for found in source.find(self._is_database):
            directory, base = posixpath.split(found.path)
            current = chosen.get(directory)
            if current is None or DB_FILES.index(base) < DB_FILES.index(posixpath.basename(current.path)):
                chosen[directory] = found
        for directory, found in sorted(chosen.items()):
            wal = source.read(posixpath.join(directory, _WAL)) if found.path.endswith(".sqlite") else None
            self._read(found, wal.data if wal else None, distro, result)
        return result

    def _read(self, found: FoundFile, wal: bytes | None, distro: Distro | None, result: Cataloged) -> None:
        # The database readers (sqlite3, tempfile: 10-15 ms of start-up) only when there is one.
        from shipflow.sbom.catalogers.rpmdb import RpmDbError, blobs

        try:
            records = list(blobs(found.data, wal))
        except RpmDbError as exc:
            result.skip(found.location, self.name, str(exc))
            return
        broken = 0
        for position, blob in enumerate(records, start=1):
            try:
                header = parse_header(blob)
            except HeaderError as exc:
                broken += 1
                if broken <= _MAX_REPORTED_HEADERS:
                    result.skip(
                        found.location, self.name, f"package record {position}: malformed header: {exc}"
                    )
                continue
            if header.name == "gpg-pubkey":
                continue
            result.packages.append(package_from_header(header, found.location, distro))
        if broken > _MAX_REPORTED_HEADERS:
            result.skip(found.location, self.name, f"{broken} package headers in all are malformed")
