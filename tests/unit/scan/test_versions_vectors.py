"""Version ordering against published vectors: apk-tools, node-semver, PEP 440, Go."""

from __future__ import annotations

import itertools
import json

import pytest

from shipflow.scan.versions import InvalidVersion, apk, golang, npm, pep440, scheme_for
from support.paths import DATA_DIR

DATA = DATA_DIR / "versions"
_SIGN = {"<": -1, "=": 0, ">": 1}


def _apk_vectors() -> list[tuple[str, str, str]]:
    out = []
    for line in (DATA / "apk-version.data").read_text().splitlines():
        a, op, b = line.split("#", 1)[0].split()[:3]
        out.append((a, op, b))
    return out


@pytest.mark.parametrize(("a", "op", "b"), _apk_vectors())
def test_apk_matches_apk_tools_vectors(a: str, op: str, b: str) -> None:
    assert apk.compare(a, b) == _SIGN[op]
    assert apk.compare(b, a) == -_SIGN[op]


def test_apk_vector_file_is_not_empty() -> None:
    assert len(_apk_vectors()) > 90


NODE = json.loads((DATA / "node-semver-comparisons.json").read_text())


@pytest.mark.parametrize(("high", "low"), NODE["greater"])
def test_npm_matches_node_semver_comparisons(high: str, low: str) -> None:
    assert npm.compare(high, low) == 1
    assert npm.compare(low, high) == -1


@pytest.mark.parametrize(("a", "b"), NODE["equal"])
def test_npm_matches_node_semver_equality(a: str, b: str) -> None:
    assert npm.compare(a, b) == 0


@pytest.mark.parametrize("bad", ["1.2", "01.2.3", "1.2.3-", "x.y.z", "1.2.3.4"])
def test_npm_rejects_invalid_versions(bad: str) -> None:
    with pytest.raises(InvalidVersion):
        npm.compare(bad, "1.0.0")


PEP = json.loads((DATA / "pep440-ordering.json").read_text())


def test_pep440_ordering_from_the_pep() -> None:
    ordered = PEP["ascending"]
    assert sorted(reversed(ordered), key=scheme_for("PyPI").sort_key()) == ordered  # type: ignore[union-attr]
    for low, high in itertools.pairwise(ordered):
        assert pep440.compare(low, high) == -1


@pytest.mark.parametrize(("a", "b"), PEP["equal"])
def test_pep440_equal_spellings(a: str, b: str) -> None:
    assert pep440.compare(a, b) == 0


@pytest.mark.parametrize("bad", PEP["invalid"])
def test_pep440_invalid(bad: str) -> None:
    with pytest.raises(InvalidVersion):
        pep440.compare(bad, "1.0")


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("v0.3.7", "0.3.8"),  # go.mod writes the v, OSV does not
        ("v0.0.0-20220101000000-abcdef123456", "0.3.8"),  # pseudo-version of a commit before v0.3.8
        ("v0.3.8-0.20221010000000-abcdef123456", "0.3.8"),  # pseudo-version after v0.3.7, before v0.3.8
        ("v1.9.9", "v2.0.0+incompatible"),
        ("v2.0.0-rc.1", "2.0.0"),
    ],
)
def test_go_versions(low: str, high: str) -> None:
    assert golang.compare(low, high) == -1
    assert golang.compare(high, low) == 1


def test_go_incompatible_is_build_metadata() -> None:
    assert golang.compare("v2.0.0+incompatible", "2.0.0") == 0


def test_scheme_table() -> None:
    names = {eco: scheme_for(eco).name for eco in ("npm", "PyPI", "Go", "Alpine:v3.19", "Debian:12")}  # type: ignore[union-attr]
    assert names == {"npm": "npm", "PyPI": "pep440", "Go": "go", "Alpine:v3.19": "apk", "Debian:12": "dpkg"}
    assert scheme_for("NuGet") is None  # no ordering: explicit versions only


def test_every_scheme_in_the_table_is_wired() -> None:
    from shipflow.scan.versions import SCHEMES

    for ecosystem, (name, _module) in SCHEMES.items():
        scheme = scheme_for(f"{ecosystem}:x")
        assert scheme is not None and scheme.name == name
        assert scheme.compare("1.0.0", "1.0.0") == 0 and scheme.compare("1.0.0", "2.0.0") < 0
    assert scheme_for("NoSuchEcosystem") is None
