"""Debian/Ubuntu packages from ``var/lib/dpkg/status`` and ``var/lib/dpkg/status.d/*``.

Stanzas in deb822 form. Removed packages stay in the status file with a ``Status:`` of
``deinstall …``/``purge …`` or a state of ``not-installed``/``config-files``: their files are
gone, so they are skipped. ``Source:`` names the source package (``glibc`` for ``libc6``),
optionally with its version in parentheses when it differs from the binary's; OS advisories
are keyed by it. The distroless ``status.d/`` files carry one package each (and ``.md5sums``
files, which are not stanzas).

Stanzas are validated as dpkg validates what it installs: a package name is
``[a-z0-9][a-z0-9+.-]+``, a version ``[epoch:]upstream[-revision]`` of letters, digits and
``.+~-`` (a status file with binary garbage would otherwise put a package named
``"\ufffd\ufffd\x00\x01"`` in the SBOM). A stanza that fails is skipped with a warning naming
the file; an invalid ``Source:`` or ``Architecture:`` is dropped (the binary's name stands in).

Licences come from the package's ``usr/share/doc/NAME/copyright`` when it is machine-readable
(DEP-5: a ``Format:`` line naming copyright-format): every distinct ``License:`` value, with
Debian's GPL-family short names (``GPL-2+``) mapped to SPDX ids (``GPL-2.0-or-later``). Free
text copyright files give no licence.
"""

from __future__ import annotations

import logging
import re

from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.packages import os_package
from shipflow.sbom.model import Distro, Package
from shipflow.sbom.source import FileSource

log = logging.getLogger(__name__)

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
DOC_DIR = "usr/share/doc/"

_GNU_SHORT_NAME = re.compile(r"^(?P<family>A?GPL|LGPL|GFDL)-(?P<version>\d(?:\.\d)?)(?P<plus>\+)?$", re.I)

_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s+\((?P<version>[^)]+)\))?\s*$")
# deb-control(5) / Debian policy 5.6.1 and 5.6.12.
_PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_VERSION = re.compile(r"^(?:[0-9]+:)?[A-Za-z0-9][A-Za-z0-9.+~-]*(?::[A-Za-z0-9.+~-]+)*$")
_ARCHITECTURE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_REMOVED_WANTS = frozenset({"deinstall", "purge"})
_ABSENT_STATES = frozenset({"not-installed", "config-files"})


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """deb822 stanzas; continuation lines (leading space) are appended to their field."""
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                stanzas.append(current)
            current, last = {}, None
        elif line[0] in " \t":
            if last is not None:
                current[last] += "\n" + line.strip()
        else:
            key, sep, value = line.partition(":")
            if sep:
                last = key.strip()
                current[last] = value.strip()
    if current:
        stanzas.append(current)
    return stanzas


def is_installed(stanza: dict[str, str]) -> bool:
    status = stanza.get("Status")
    if status is None:
        return True  # status.d entries (distroless) may omit it: present means installed
    words = status.split()
    want = words[0] if words else ""
    state = words[-1] if words else ""
    return want not in _REMOVED_WANTS and state not in _ABSENT_STATES


def _spdx_from_debian(name: str) -> str:
    """``GPL-2+`` -> ``GPL-2.0-or-later``, ``LGPL-2.1`` -> ``LGPL-2.1-only``; others as given."""
    match = _GNU_SHORT_NAME.match(name)
    if not match:
        return name
    version = match["version"] if "." in match["version"] else f"{match['version']}.0"
    return f"{match['family'].upper()}-{version}-{'or-later' if match['plus'] else 'only'}"


def copyright_licenses(text: str) -> tuple[str, ...]:
    """Distinct licences named by a machine-readable ``debian/copyright`` file, in order."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("Format:") or "copyright-format" not in lines[0]:
        return ()
    found: dict[str, None] = {}
    for line in lines:
        if line.startswith("License:"):
            value = line[len("License:") :].strip()
            if value:
                found[_spdx_from_debian(value)] = None
    return tuple(found)


class DpkgCataloger:
    name = "dpkg"

    def wants(self, path: str) -> bool:
        if path == STATUS:
            return True
        if path.startswith(DOC_DIR) and path.endswith("/copyright"):
            return path.count("/") == DOC_DIR.count("/") + 1  # usr/share/doc/NAME/copyright
        return (
            path.startswith(STATUS_D) and "/" not in path[len(STATUS_D) :] and not path.endswith(".md5sums")
        )

    def _wants_database(self, path: str) -> bool:
        return self.wants(path) and not path.startswith(DOC_DIR)

    @staticmethod
    def _licenses(source: FileSource, name: str) -> tuple[str, ...]:
        found = source.read(f"{DOC_DIR}{name}/copyright")
        return copyright_licenses(found.data.decode("utf-8", "replace")) if found else ()

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        packages: list[Package] = result.packages
        for found in source.find(self._wants_database):
            stanzas = parse_stanzas(found.data.decode("utf-8", "replace"))
            if found.data.strip() and not any(s.get("Package") and s.get("Version") for s in stanzas):
                result.skip(found.location, self.name, "no stanza with Package: and Version: fields")
            for stanza in stanzas:
                name, version = stanza.get("Package"), stanza.get("Version")
                if not name or not version:
                    continue
                if not _PACKAGE_NAME.match(name) or len(name) > 256:
                    log.warning(
                        "%s: skipped a stanza with an invalid package name %s",
                        found.location.path,
                        ascii(name[:80]),
                    )
                    continue
                if not _VERSION.match(version) or len(version) > 256:
                    log.warning(
                        "%s: skipped %s, its version %s is invalid",
                        found.location.path,
                        name,
                        ascii(version[:80]),
                    )
                    continue
                if not is_installed(stanza):
                    log.debug("skipping %s %s: %s", name, version, stanza.get("Status"))
                    continue
                source_name, source_version = name, version
                match = _SOURCE.match(stanza.get("Source", ""))
                if match and _PACKAGE_NAME.match(match["name"]):
                    source_name = match["name"]
                    if match["version"] and _VERSION.match(match["version"]):
                        source_version = match["version"]
                arch = stanza.get("Architecture")
                packages.append(
                    os_package(
                        "deb",
                        name=name,
                        version=version,
                        arch=arch if arch and _ARCHITECTURE.match(arch) else None,
                        source_name=source_name,
                        source_version=source_version,
                        licenses=self._licenses(source, name),
                        location=found.location,
                        distro=distro,
                        default_namespace="debian",
                    )
                )
        return result
