"""Alpine packages from ``lib/apk/db/installed`` (apk's installed database).

Records are separated by blank lines; each line is ``X:value`` with ``P`` name, ``V``
version, ``A`` architecture, ``o`` origin (the source package advisories are keyed by),
``L`` licence.
"""

from __future__ import annotations

import logging

from shipflow.sbom.model import Distro, Package
from shipflow.sbom.purls import os_package_purl
from shipflow.sbom.source import FileSource

log = logging.getLogger(__name__)

APK_DB = "lib/apk/db/installed"


def parse_installed(text: str) -> list[dict[str, str]]:
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                records.append(current)
            current = {}
            continue
        key, sep, value = line.partition(":")
        if sep and len(key) == 1 and key not in current:  # F:/R: repeat; the first is enough
            current[key] = value
    if current:
        records.append(current)
    return records


class ApkCataloger:
    name = "apk"

    def wants(self, path: str) -> bool:
        return path == APK_DB

    def catalog(self, source: FileSource, distro: Distro | None) -> list[Package]:
        packages: list[Package] = []
        for found in source.find(self.wants):
            for record in parse_installed(found.data.decode("utf-8", "replace")):
                name, version = record.get("P"), record.get("V")
                if not name or not version:
                    log.debug("apk record without P:/V: in %s", found.location.path)
                    continue
                origin = record.get("o") or name
                licence = record.get("L", "").strip()
                packages.append(
                    Package(
                        name=name,
                        version=version,
                        type="apk",
                        purl=os_package_purl(
                            "apk",
                            namespace=distro.id if distro else "alpine",
                            name=name,
                            version=version,
                            arch=record.get("A"),
                            distro=distro,
                            source_name=origin,
                        ),
                        licenses=(licence,) if licence else (),
                        source_name=origin,
                        source_version=version,
                        locations=(found.location,),
                        distro=distro,
                    )
                )
        return packages
