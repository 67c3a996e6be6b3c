"""Go module versions: ``v``-prefixed SemVer, ``+incompatible`` and pseudo-versions.

OSV's Go records write versions without the ``v``; go.mod and purls write it. A pseudo-version
(``v0.0.0-20220101000000-abcdef123456``) is a SemVer prerelease, so it orders correctly as one.
"""

from __future__ import annotations

from shipflow.scan.versions import semver


def normalise(version: str) -> str:
    text = version.strip()
    return text[1:] if text.startswith("v") else text


def compare(a: str, b: str) -> int:
    # "+incompatible" is build metadata and is ignored by the SemVer key.
    return semver.compare_keys(semver.key(normalise(a)), semver.key(normalise(b)))
