"""Python lock files written by the real tools (tests/data/lockfiles: pipenv, uv, poetry, pdm's
pylock.toml, uv's pylock.toml export): names, versions and dependency groups; then the
marker rules of PEP 751 and malformed input."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipflow.sbom import catalog_directory
from shipflow.sbom.catalogers.pylock import dev_by_marker
from support.paths import DATA_DIR

LOCKS = DATA_DIR / "lockfiles"
DIRECT = {("requests", "2.25.0"), ("jinja2", "2.11.2"), ("zope-interface", "5.4.0")}
DEV_DIRECT = ("pytest", "6.2.0")


def _packages(project: str) -> dict[tuple[str, str], bool]:
    inventory = catalog_directory(LOCKS / project)
    assert inventory.not_read == []
    found: dict[tuple[str, str], bool] = {}
    for package in inventory.packages:
        assert package.type == "pypi" and package.purl.startswith("pkg:pypi/")
        name = package.purl.split("/", 1)[1].split("@", 1)[0]  # PEP 503-normalised by the purl
        found[(name, package.version)] = package.dev
    return found


@pytest.mark.parametrize("project", ["pipenv", "poetry", "uv", "pylock-pdm"])
def test_group_aware_locks_mark_dev_dependencies(project: str) -> None:
    found = _packages(project)
    for direct in DIRECT:
        assert found[direct] is False, direct
    assert found[DEV_DIRECT] is True
    dev = {name for (name, _), is_dev in found.items() if is_dev}
    # pytest 6.2's own dependencies are dev too; requests' are not.
    assert {"pytest", "pluggy", "py", "iniconfig", "attrs", "toml"} <= dev
    assert not dev & {"urllib3", "idna", "chardet", "certifi", "markupsafe"}


def test_the_four_locks_agree_on_the_packages_they_share() -> None:
    """pipenv resolves for this platform only (no win32-only atomicwrites/colorama); the others
    lock for every platform. pdm chose pluggy 1.0.0.dev0 (a pre-release that pytest 6.2.0's
    ``pluggy<1.0.0a1`` admits), the others 0.13.1. Everything else is the same package, with
    the same dev flag, in all four."""
    results = {project: _packages(project) for project in ("pipenv", "poetry", "uv", "pylock-pdm")}
    everyone = set.intersection(*(set(r) for r in results.values()))
    assert len(everyone) == 15
    for key in everyone:
        assert len({r[key] for r in results.values()}) == 1, key
    platform_only = {("atomicwrites", "1.4.1"), ("colorama", "0.4.6")}
    assert set(results["poetry"]) - set(results["pipenv"]) == platform_only
    assert set(results["pylock-pdm"]) - everyone == platform_only | {("pluggy", "1.0.0.dev0")}


def test_pylock_exported_by_uv_has_no_groups_so_nothing_is_dev() -> None:
    found = _packages("pylock-uv")
    assert len(found) == 18 and not any(found.values())


@pytest.mark.parametrize(
    ("marker", "defaults", "dev"),
    [
        ('"dev" in dependency_groups', {"default"}, True),
        ('"default" in dependency_groups', {"default"}, False),
        ("sys_platform == \"win32\" and 'dev' in dependency_groups", {"default"}, True),
        ("sys_platform == \"win32\" or 'dev' in dependency_groups", {"default"}, False),  # unknown
        ("'dev' in dependency_groups or 'test' in dependency_groups", {"default"}, True),
        ("'dev' in dependency_groups or 'default' in dependency_groups", {"default"}, False),
        ("('dev' in dependency_groups) and python_version >= '3.8'", {"default"}, True),
        ("'dev' not in dependency_groups", {"default"}, False),
        ("'dev' in dependency_groups", {"dev"}, False),  # dev is installed by default here
        ('python_version < "3.9"', {"default"}, False),  # no groups named: never dev
        ("'extra1' in extras", {"default"}, False),
        ("'dev' in dependency_groups and (", {"default"}, False),  # malformed: not dev
        ("(" * 3000 + "'dev' in dependency_groups" + ")" * 3000, {"default"}, False),  # too deep: not dev
    ],
)
def test_pep751_marker_dev_rule(marker: str, defaults: set[str], dev: bool) -> None:
    assert dev_by_marker(marker, frozenset(defaults)) is dev


def test_requirements_files_report_unpinned_lines_as_not_read(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "flask>=2.0\nrequests==2.25.0\n-r other.txt\n--index-url https://x\n"
        "git+https://github.com/org/repo.git#egg=repo\nnumpy\n"
    )
    inventory = catalog_directory(tmp_path)
    assert [(p.name, p.version) for p in inventory.packages] == [("requests", "2.25.0")]
    [item] = inventory.not_read
    assert item.cataloger == "requirements"
    assert item.reason.startswith("3 requirement(s) not pinned with ==") and "flask>=2.0" in item.reason


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("Pipfile.lock", b'{"_meta": {}, "default": {"requests": {"version": "==2', "not valid JSON"),
        ("Pipfile.lock", b'{"_meta": {"pipfile-spec": 6}}', "neither a 'default' nor a 'develop'"),
        ("pylock.toml", b'lock-version = "2.0"\n[[packages]]\nname = "a"\nversion = "1"\n', "is not 1.x"),
        ("pylock.toml", b"[[packages]]\nname = 'a'\n", "no valid lock-version"),
        ("pylock.dev.toml", b'lock-version = "1.0"\npackages = "nope"\n', "not an array of tables"),
        ("pylock.toml", b'lock-version = "1.0"\n[[packages]\n', "not valid TOML"),
        ("poetry.lock", b"[[package]]\nname = 'a'\nversion = \n", "not valid TOML"),
        ("uv.lock", b"package = 7\n", "not an array of tables"),
        ("requirements.txt", b"requests==2.25.0\n\xff\xfe\xfd\n", "not UTF-8"),
    ],
)
def test_malformed_python_locks_are_reported_not_read(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    (tmp_path / name).write_bytes(content)
    inventory = catalog_directory(tmp_path)
    assert inventory.packages == []
    [item] = inventory.not_read
    assert item.location.path == name and reason in item.reason


def test_pylock_vcs_directory_and_archive_packages_have_no_version_and_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "test"\n'
        '[[packages]]\nname = "attrs"\nversion = "23.2.0"\nindex = "https://pypi.org/simple"\n'
        '[[packages]]\nname = "local"\ndirectory = { path = ".", editable = true }\n'
        '[[packages]]\nname = "fromgit"\nvcs = { type = "git", url = "https://x", commit-id = "abc" }\n'
    )
    inventory = catalog_directory(tmp_path)
    assert [(p.name, p.version) for p in inventory.packages] == [("attrs", "23.2.0")]
    assert inventory.not_read == []
