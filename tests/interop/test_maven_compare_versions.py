"""shipflow's Maven version order against the real Maven (Debian's maven 3.8.7): every
vector of Maven's ComparableVersionTest and versions Java advisories name, pair by pair,
through ``ComparableVersion``'s own ``main`` in ``maven-artifact``."""

from __future__ import annotations

import glob
import itertools
import json
import subprocess

import pytest

from fixtures.procs import require_binary
from shipflow.scan.versions import maven
from support.paths import DATA_DIR

VECTORS = json.loads((DATA_DIR / "versions" / "maven-comparableversion.json").read_text())
ADVISORY_VERSIONS = [
    "2.14.1",
    "2.15.0",
    "2.15.0-rc1",
    "2.0-beta9",
    "2.17.1",
    "1.2.17",
    "5.3.18",
    "5.3.20.RELEASE",
    "5.3.20",
    "31.1-jre",
    "32.0.0-android",
    "1.0.0-M1",
    "1.0.0.M1",
    "1.0.0-RC1",
    "1.0.0.Final",
    "1.0.0.CR1",
    "1.0.0.Beta2",
    "9.4.44.v20210927",
    "1.0-SNAPSHOT",
    "1.0-20200101.120000-1",
    "1-sp.1",
    "1.0.0.sp1",
    "3.0.0-alpha-1",
    "2.12.7.1",
]
_SIGN = {"<": -1, "==": 0, ">": 1}


def _maven_artifact() -> str:
    require_binary("mvn")
    jars = sorted(glob.glob("/usr/share/maven/lib/maven-artifact*.jar"))
    if not jars:
        pytest.fail(
            "maven-artifact is missing from /usr/share/maven/lib; install Debian's maven (bash .ci/run does)"
        )
    return jars[0]


def _real(pairs: list[tuple[str, str]]) -> list[int]:
    """ComparableVersion's main compares each argument with the next: pass the pairs flat and
    read every other comparison."""
    java = require_binary("java")
    args = [version for pair in pairs for version in pair]
    result = subprocess.run(
        [java, "-cp", _maven_artifact(), "org.apache.maven.artifact.versioning.ComparableVersion", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = [line.strip() for line in result.stdout.splitlines() if line.startswith("   ")]
    return [_SIGN[lines[2 * index].split(" ")[1]] for index in range(len(pairs))]


def test_agrees_with_real_maven() -> None:
    pairs = [tuple(p) for p in VECTORS["equal"] + VECTORS["less"]]
    versions = list(dict.fromkeys(ADVISORY_VERSIONS + [v for p in VECTORS["less"][:60] for v in p]))
    pairs += list(itertools.combinations(versions, 2))
    real = _real(pairs)  # type: ignore[arg-type]
    disagreements = [(a, b, r) for (a, b), r in zip(pairs, real, strict=True) if maven.compare(a, b) != r]
    assert disagreements == []
    assert len(pairs) > 1500
