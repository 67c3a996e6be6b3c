"""The operating system release: ``etc/os-release`` (or ``usr/lib/os-release``), else
``etc/alpine-release``, else ``etc/redhat-release`` (CentOS/RHEL 6 and older have no
os-release)."""

from __future__ import annotations

import re
import shlex

from shipflow.sbom.model import Distro
from shipflow.sbom.source import FileSource

OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
ALPINE_RELEASE = "etc/alpine-release"
REDHAT_RELEASE = "etc/redhat-release"
_WANTED = frozenset((*OS_RELEASE_PATHS, ALPINE_RELEASE, REDHAT_RELEASE, "etc/debian_version"))
_REDHAT = re.compile(r"^(?P<name>.+?) release (?P<version>[0-9][0-9.]*)")
_REDHAT_IDS = (
    ("centos", "centos"),
    ("red hat", "rhel"),
    ("fedora", "fedora"),
    ("rocky", "rocky"),
    ("alma", "almalinux"),
)


# The file names wants() can accept (the hint of Cataloger.wanted_names).
WANTED_NAMES = frozenset(path.rsplit("/", 1)[-1] for path in _WANTED)


def wants(path: str) -> bool:
    return path in _WANTED


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines with shell quoting (os-release(5))."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            values = shlex.split(raw)
        except ValueError:
            values = [raw.strip("\"'")]
        fields[key.strip()] = values[0] if values else ""
    return fields


def find_distro(source: FileSource) -> Distro | None:
    for path in OS_RELEASE_PATHS:
        found = source.read(path)
        if found is None:
            continue
        fields = parse_os_release(found.data.decode("utf-8", "replace"))
        distro_id = fields.get("ID", "").lower()
        version = fields.get("VERSION_ID", "")
        if not version and distro_id == "debian":
            # testing/sid have no VERSION_ID; debian_version says e.g. "trixie/sid".
            debian = source.read("etc/debian_version")
            version = debian.data.decode("utf-8", "replace").strip() if debian else ""
        if distro_id:
            return Distro(id=distro_id, version_id=version, pretty_name=fields.get("PRETTY_NAME"))
    alpine = source.read(ALPINE_RELEASE)
    if alpine is not None:
        version = alpine.data.decode("utf-8", "replace").strip()
        return Distro(id="alpine", version_id=version, pretty_name=f"Alpine Linux v{version}")
    redhat = source.read(REDHAT_RELEASE)
    if redhat is not None:
        return parse_redhat_release(redhat.data.decode("utf-8", "replace"))
    return None


def parse_redhat_release(text: str) -> Distro | None:
    """``CentOS release 6.10 (Final)`` -> centos 6.10."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    match = _REDHAT.match(first)
    if match is None:
        return None
    lowered = match["name"].lower()
    for marker, distro_id in _REDHAT_IDS:
        if marker in lowered:
            return Distro(id=distro_id, version_id=match["version"], pretty_name=first)
    return None
