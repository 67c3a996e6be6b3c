"""Alpine packages from ``lib/apk/db/installed`` (apk's installed database).

Records are separated by blank lines; each line is ``X:value`` with ``P`` name, ``V``
version, ``A`` architecture, ``o`` origin (the source package advisories are keyed by),
``L`` licence.
"""

from __future__ import annotations

import logging

from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.packages import os_package
from shipflow.sbom.model import Distro
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
    wanted_names = frozenset({APK_DB.rsplit("/", 1)[-1]})

    def wants(self, path: str) -> bool:
        return path == APK_DB

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        packages = result.packages
        for found in source.find(self.wants):
            records = parse_installed(found.data.decode("utf-8", "replace"))
            if found.data.strip() and not any(r.get("P") and r.get("V") for r in records):
                result.skip(found.location, self.name, "no record with P: and V: fields")
            for record in records:
                name, version = record.get("P"), record.get("V")
                if not name or not version:
                    log.debug("apk record without P:/V: in %s", found.location.path)
                    continue
                licence = record.get("L", "").strip()
                packages.append(
                    os_package(
                        "apk",
                        name=name,
                        version=version,
                        arch=record.get("A"),
                        source_name=record.get("o") or name,
                        source_version=version,  # apk records no separate origin version
                        licenses=(licence,) if licence else (),
                        location=found.location,
                        distro=distro,
                        default_namespace="alpine",
                    )
                )
        return result
