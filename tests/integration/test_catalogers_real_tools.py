"""Catalogers on what the real package managers wrote here: npm install (node_modules and package-
lock v1/v2), pip install --target, and this machine's dpkg status checked against dpkg-query.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from shipflow.sbom import catalog_directory
from shipflow.sbom.catalogers.npm import NpmCataloger
from support.paths import DATA_DIR
from support.sbom import npm_install, pip_install_target

DATA = DATA_DIR / "sbom"


@pytest.fixture(scope="module")
def npm_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return npm_install(tmp_path_factory.mktemp("npm") / "project")


@pytest.fixture(scope="module")
def site_packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pip_install_target(tmp_path_factory.mktemp("pip") / "site-packages")


# -- Python ------------------------------------------------------------------------------------


def test_real_pip_install_target(site_packages: Path) -> None:
    inventory = catalog_directory(site_packages)
    found = {(p.name, p.version): p for p in inventory.packages}
    assert set(found) == {("Jinja2", "2.11.2"), ("urllib3", "1.26.4")}
    jinja = found[("Jinja2", "2.11.2")]
    assert jinja.purl == "pkg:pypi/jinja2@2.11.2"
    assert jinja.licenses == ("BSD-3-Clause",)  # License: BSD-3-Clause
    assert jinja.locations[0].path == "Jinja2-2.11.2.dist-info/METADATA"


# -- npm ---------------------------------------------------------------------------------------


def test_npm_package_roots_only() -> None:
    npm = NpmCataloger()
    assert npm.wants("opt/app/node_modules/lodash/package.json")
    assert npm.wants("node_modules/@babel/core/package.json")
    assert npm.wants("a/node_modules/mkdirp/node_modules/minimist/package.json")
    assert not npm.wants("node_modules/lodash/fp/package.json")  # a sub-path, not a package
    assert not npm.wants("node_modules/.package-lock.json")
    assert not npm.wants("package.json")
    assert not npm.wants("node_modules/@babel/package.json")


def test_real_npm_install_node_modules_and_lockfile(npm_project: Path) -> None:
    lock = json.loads((npm_project / "package-lock.json").read_text())
    assert lock["lockfileVersion"] == 3
    inventory = catalog_directory(npm_project)
    found = {(p.name, p.version): p for p in inventory.packages}
    assert set(found) == {
        ("lodash", "4.17.15"),
        ("minimist", "1.2.0"),
        ("minimist", "0.0.8"),
        ("mkdirp", "0.5.1"),
        ("@babel/helper-validator-identifier", "7.10.4"),
    }
    # Found twice (lock file and node_modules), reported once with both places.
    assert sorted(loc.path for loc in found[("lodash", "4.17.15")].locations) == [
        "node_modules/lodash/package.json",
        "package-lock.json",
    ]


@pytest.mark.parametrize("version", [1, 2])
def test_real_npm_lockfiles_v1_and_v2(npm_project: Path, tmp_path: Path, version: int) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(npm_project / "package.json", project / "package.json")
    result = subprocess.run(
        ["npm", "install", "--package-lock-only", "--no-audit", "--no-fund", f"--lockfile-version={version}"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((project / "package-lock.json").read_text())["lockfileVersion"] == version
    inventory = catalog_directory(project)
    assert {(p.name, p.version) for p in inventory.packages} == {
        ("lodash", "4.17.15"),
        ("minimist", "1.2.0"),
        ("minimist", "0.0.8"),
        ("mkdirp", "0.5.1"),
        ("@babel/helper-validator-identifier", "7.10.4"),
    }


# -- dpkg ---------------------------------------------------------------------------------------


def test_real_dpkg_status_of_this_machine(tmp_path: Path) -> None:
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    shutil.copy("/var/lib/dpkg/status", tmp_path / "var/lib/dpkg/status")
    inventory = catalog_directory(tmp_path)
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${Version} ${source:Package} ${source:Version}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    truth = {tuple(line.split(" ")) for line in out.splitlines()}
    ours = {(p.name, p.version, p.source_name, p.source_version) for p in inventory.packages}
    assert ours == truth and len(ours) > 100
