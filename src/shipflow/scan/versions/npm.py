"""npm versions: SemVer 2.0.0 as node-semver parses them (a leading ``v`` or ``=`` and
surrounding spaces are tolerated; build metadata does not affect order)."""

from __future__ import annotations

from shipflow.scan.versions import semver


def normalise(version: str) -> str:
    text = version.strip()
    while text[:1] in ("=", "v"):
        text = text[1:].lstrip()
    return text


def compare(a: str, b: str) -> int:
    return semver.compare_keys(semver.key(normalise(a)), semver.key(normalise(b)))
