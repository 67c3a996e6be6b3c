"""OSV range evaluation (schema algorithm): introduced/fixed pairs, last_affected, limit,
explicit versions, unsorted events, GIT ranges, unparseable versions."""

from __future__ import annotations

from typing import Any

import pytest

from shipflow.scan._ranges import evaluate
from shipflow.scan.versions import scheme_for

NPM = scheme_for("npm")
PYPI = scheme_for("PyPI")


def _entry(
    *ranges: list[dict[str, str]], versions: list[str] | None = None, kind: str = "ECOSYSTEM"
) -> dict[str, Any]:
    entry: dict[str, Any] = {"ranges": [{"type": kind, "events": events} for events in ranges]}
    if versions is not None:
        entry["versions"] = versions
    return entry


# Two introduced/fixed pairs in ONE range, written out of order on purpose.
TWO_PAIRS = _entry([{"fixed": "1.2.3"}, {"introduced": "1.0.0"}, {"fixed": "0.2.1"}, {"introduced": "0"}])


@pytest.mark.parametrize(
    ("version", "affected", "fixed"),
    [
        ("0.0.8", True, ("0.2.1",)),
        ("0.2.1", False, ()),
        ("0.9.9", False, ()),
        ("1.0.0", True, ("1.2.3",)),
        ("1.2.0", True, ("1.2.3",)),
        ("1.2.3", False, ()),
        ("1.2.3-rc.1", True, ("1.2.3",)),  # a prerelease of the fix is still before it
        ("2.0.0", False, ()),
    ],
)
def test_multiple_introduced_fixed_pairs(version: str, affected: bool, fixed: tuple[str, ...]) -> None:
    verdict = evaluate(version, TWO_PAIRS, NPM)
    assert (verdict.affected, verdict.fixed) == (affected, fixed)


LAST_AFFECTED = _entry([{"introduced": "2.0.0"}, {"last_affected": "2.4.1"}])


@pytest.mark.parametrize(
    ("version", "affected"), [("1.9.9", False), ("2.0.0", True), ("2.4.1", True), ("2.4.2", False)]
)
def test_last_affected_is_inclusive(version: str, affected: bool) -> None:
    verdict = evaluate(version, LAST_AFFECTED, NPM)
    assert verdict.affected is affected
    assert verdict.fixed == ()  # last_affected names no fix


LIMITED = _entry([{"introduced": "0"}, {"limit": "3.0.0"}], [{"introduced": "0"}, {"limit": "*"}])


def test_limit_caps_a_range_and_star_is_unbounded() -> None:
    only_limit = _entry([{"introduced": "1.0.0"}, {"limit": "3.0.0"}])
    assert evaluate("2.9.9", only_limit, NPM).affected
    assert not evaluate("3.0.0", only_limit, NPM).affected
    assert not evaluate("0.9.0", only_limit, NPM).affected
    assert evaluate("9.0.0", LIMITED, NPM).affected  # the second range's limit is "*"


def test_multiple_ranges_any_one_suffices() -> None:
    entry = _entry(
        [{"introduced": "1.0.0"}, {"fixed": "1.1.0"}], [{"introduced": "2.0.0"}, {"fixed": "2.0.5"}]
    )
    assert evaluate("1.0.5", entry, NPM).fixed == ("1.1.0",)
    assert evaluate("2.0.1", entry, NPM).fixed == ("2.0.5",)
    assert not evaluate("1.5.0", entry, NPM).affected


def test_explicit_versions_list_matches_without_ranges() -> None:
    entry = {"versions": ["1.0", "1.1"]}
    assert evaluate("1.1", entry, PYPI).affected
    assert not evaluate("1.2", entry, PYPI).affected
    # Ecosystems without an ordering still match listed versions.
    assert evaluate("1.1", entry, None).affected


def test_explicit_version_outside_range_is_affected_and_offers_fixes() -> None:
    entry = _entry([{"introduced": "0"}, {"fixed": "2.0"}], versions=["3.0"])
    verdict = evaluate("3.0", entry, PYPI)
    assert verdict.affected
    assert verdict.fixed == ()


def test_pep440_semantics_inside_ranges() -> None:
    entry = _entry([{"introduced": "0"}, {"fixed": "2.11.3"}])
    assert evaluate("2.11.3rc1", entry, PYPI).affected  # pre-release of the fix
    assert not evaluate("2.11.3.post1", entry, PYPI).affected
    assert evaluate("2.11.2", entry, PYPI).fixed == ("2.11.3",)


def test_git_ranges_never_match_versions() -> None:
    entry = _entry([{"introduced": "0"}, {"fixed": "2d4a3fee6de2fa45eb82169361918f759269b4ec"}], kind="GIT")
    assert not evaluate("1.26.4", entry, PYPI).affected


def test_unparseable_version_is_reported_not_guessed() -> None:
    entry = _entry([{"introduced": "0"}, {"fixed": "1.2.3"}])
    verdict = evaluate("not-a-version", entry, NPM)
    assert not verdict.affected
    assert verdict.problem is not None and "not-a-version" in verdict.problem


def test_introduced_zero_and_fixed_at_same_version_order() -> None:
    # introduced and fixed at the same version: the fix applies to that version.
    entry = _entry([{"introduced": "1.0.0"}, {"fixed": "1.0.0"}])
    assert not evaluate("1.0.0", entry, NPM).affected
