"""An image that carries this machine's real dpkg status and os-release (the Debian packages really
installed here), and how to read them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HOST_STATUS = Path("/var/lib/dpkg/status")
HOST_OS_RELEASE = Path("/usr/lib/os-release")

DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
COPY rootfs/ /
"""


def installed_source_version(package: str) -> tuple[str, str]:
    """(source package, source version) of an installed package, from the real status file."""
    for stanza in HOST_STATUS.read_text().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
        if fields.get("Package") == package and fields.get("Status", "").endswith(" installed"):
            source = fields.get("Source", package).split(" ")
            version = source[1].strip("()") if len(source) > 1 else fields["Version"]
            return source[0], version
    pytest.fail(f"{package} is not installed on this machine")


def os_release() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in HOST_OS_RELEASE.read_text().splitlines() if "=" in line)
    return {k: v.strip('"') for k, v in pairs}
