"""crates.io versions: SemVer 2.0.0, as Cargo requires of every published crate."""

from __future__ import annotations

from shipflow.scan.versions import semver


def compare(a: str, b: str) -> int:
    return semver.compare_keys(semver.key(a.strip()), semver.key(b.strip()))
