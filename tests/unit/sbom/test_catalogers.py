"""Catalogers on real package databases and lock files (directories), plus parser edge cases."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shipflow.errors import UsageError
from shipflow.sbom import Inventory, SbomFormat, catalog_directory, render
from shipflow.sbom._purls import normalise_pypi_name
from shipflow.sbom.catalogers.apk import parse_installed
from shipflow.sbom.catalogers.dpkg import DpkgCataloger, is_installed, parse_stanzas
from shipflow.sbom.catalogers.lockfiles import parse_requirements
from shipflow.sbom.catalogers.osrelease import parse_os_release
from shipflow.sbom.catalogers.python import PythonCataloger
from support.paths import DATA_DIR
from support.sbom import validate_spdx

DATA = DATA_DIR / "sbom"


# -- dpkg --------------------------------------------------------------------------------------

STATUS = """\
Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: bash
Status: install ok installed
Architecture: amd64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b2

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: purged
Status: purge ok not-installed
Architecture: amd64
Version: 1.0

Package: held
Status: hold ok installed
Architecture: all
Version: 3.1
"""


def test_dpkg_status_parsing_and_removed_packages(tmp_path: Path) -> None:
    stanzas = parse_stanzas(STATUS)
    assert [s["Package"] for s in stanzas] == ["libc6", "bash", "gone", "purged", "held"]
    assert stanzas[0]["Description"].endswith("the system.")
    assert [is_installed(s) for s in stanzas] == [True, True, False, False, True]
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(STATUS)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text(
        'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12"\n'
    )
    inventory = catalog_directory(tmp_path)
    debs = {p.name: p for p in inventory.packages}
    assert set(debs) == {"libc6", "bash", "held"}
    assert (debs["libc6"].source_name, debs["libc6"].source_version) == ("glibc", "2.36-9+deb12u4")
    assert (debs["bash"].source_name, debs["bash"].source_version) == ("bash", "5.2.15-2")
    assert (
        debs["libc6"].purl
        == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
    )
    assert (
        debs["bash"].purl
        == "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12&upstream=bash%405.2.15-2"
    )
    assert debs["held"].purl == "pkg:deb/debian/held@3.1?arch=all&distro=debian-12"


def test_dpkg_status_d_of_distroless_images(tmp_path: Path) -> None:
    status_d = tmp_path / "var/lib/dpkg/status.d"
    status_d.mkdir(parents=True)
    (status_d / "base-files").write_text("Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n")
    (status_d / "base-files.md5sums").write_text("d41d8cd98f00b204e9800998ecf8427e  etc/issue\n")
    (status_d / "tzdata").write_text("Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n")
    assert DpkgCataloger().wants("var/lib/dpkg/status.d/tzdata")
    assert not DpkgCataloger().wants("var/lib/dpkg/status.d/tzdata.md5sums")
    inventory = catalog_directory(tmp_path)
    assert sorted((p.name, p.version) for p in inventory.packages) == [
        ("base-files", "12.4+deb12u5"),
        ("tzdata", "2024a-0+deb12u1"),
    ]


def test_dpkg_licences_from_machine_readable_copyright_files(tmp_path: Path) -> None:
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    shutil.copy("/var/lib/dpkg/status", tmp_path / "var/lib/dpkg/status")
    for package in ("bash", "zlib1g", "libc6"):  # libc6's file is free text, not DEP-5
        (tmp_path / "usr/share/doc" / package).mkdir(parents=True)
        shutil.copy(f"/usr/share/doc/{package}/copyright", tmp_path / "usr/share/doc" / package / "copyright")
    debs = {p.name: p for p in catalog_directory(tmp_path).packages}
    assert debs["zlib1g"].licenses == ("Zlib",)
    assert {"GPL-3.0-or-later", "GPL-2.0-or-later"} <= set(debs["bash"].licenses)
    assert debs["libc6"].licenses == ()
    assert debs["coreutils"].licenses == ()  # no copyright file copied
    validate_spdx(
        render(Inventory(subject="rootfs", packages=list(debs.values())), SbomFormat.SPDX_JSON), tmp_path
    )


# -- apk ---------------------------------------------------------------------------------------


def test_apk_database_from_public_test_data(tmp_path: Path) -> None:
    (tmp_path / "lib/apk/db").mkdir(parents=True)
    shutil.copy(DATA / "apk" / "installed", tmp_path / "lib/apk/db/installed")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/alpine-release").write_text("3.19.1\n")
    inventory = catalog_directory(tmp_path)
    assert inventory.distro is not None and inventory.distro.release == "3.19"
    found = {p.name: (p.version, p.source_name, p.licenses) for p in inventory.packages}
    assert found == {
        "bash": ("5.2.21-r0", "bash", ("GPL-3.0-or-later",)),
        "busybox-binsh": ("1.36.1-r15", "busybox", ("GPL-2.0-only",)),
        "musl": ("1.2.4_git20230717-r4", "musl", ("MIT",)),
        "readline": ("8.2.1-r2", "readline", ("GPL-2.0-or-later",)),
    }
    musl = next(p for p in inventory.packages if p.name == "musl")
    assert musl.purl == "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1"


def test_apk_records_without_version_are_skipped() -> None:
    records = parse_installed("P:ok\nV:1.0-r0\nL:MIT BSD GPL2+\n\nP:noversion\n\n\nP:two\nV:2\nF:a\nF:b\n")
    assert [(r.get("P"), r.get("V"), r.get("L")) for r in records] == [
        ("ok", "1.0-r0", "MIT BSD GPL2+"),
        ("noversion", None, None),
        ("two", "2", None),
    ]


def test_python_metadata_licence_sources(tmp_path: Path) -> None:
    dist = tmp_path / "lib/python3.12/site-packages"
    (dist / "new-1.0.dist-info").mkdir(parents=True)
    (dist / "new-1.0.dist-info/METADATA").write_text(
        "Metadata-Version: 2.4\nName: New_Thing\nVersion: 1.0\nLicense-Expression: MIT OR Apache-2.0\n"
    )
    (dist / "texty-2.0.dist-info").mkdir()
    (dist / "texty-2.0.dist-info/METADATA").write_text(
        "Metadata-Version: 2.1\nName: texty\nVersion: 2.0\nLicense: Copyright (c) someone\n"
        "        Permission is hereby granted, free of charge, to any person obtaining a copy\n"
        "Classifier: License :: OSI Approved :: MIT License\n"
    )
    (dist / "old.egg-info").write_text(
        "Metadata-Version: 1.0\nName: old.pkg\nVersion: 0.9\nLicense: UNKNOWN\n"
    )
    inventory = catalog_directory(tmp_path)
    found = {p.name: p for p in inventory.packages}
    assert found["New_Thing"].licenses == ("MIT OR Apache-2.0",)
    assert found["New_Thing"].purl == "pkg:pypi/new-thing@1.0"
    assert found["texty"].licenses == ("MIT",)
    assert found["old.pkg"].licenses == () and found["old.pkg"].purl == "pkg:pypi/old-pkg@0.9"
    assert PythonCataloger().wants("usr/lib/python3/dist-packages/PyJWT-2.6.0.egg-info/PKG-INFO")


def test_pypi_name_normalisation() -> None:
    assert normalise_pypi_name("Zope.Interface") == "zope-interface"
    assert normalise_pypi_name("typing__extensions") == "typing-extensions"


def test_requirements_pins_only() -> None:
    text = """\
# comment
urllib3==1.26.4
Jinja2[i18n] == 2.11.2 ; python_version >= "3.6"
requests>=2.0          # a range: no version to match
flask
pyyaml==5.3.1 \\
    --hash=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
django==4.*
-r other.txt
--index-url https://example.invalid/simple
exact===1.0.post1
"""
    pinned, unpinned = parse_requirements(text)
    assert pinned == [
        ("urllib3", "1.26.4"),
        ("Jinja2", "2.11.2"),
        ("pyyaml", "5.3.1"),
        ("exact", "1.0.post1"),
    ]
    assert [u.split()[0] for u in unpinned] == ["requests>=2.0", "flask", "django==4.*"]


def test_poetry_and_uv_locks_and_requirements(tmp_path: Path) -> None:
    # Minimal files in the documented formats (poetry 1.x lock, uv lock version 1).
    (tmp_path / "poetry.lock").write_text(
        '[[package]]\nname = "urllib3"\nversion = "1.26.4"\ndescription = "HTTP"\noptional = false\n'
        'python-versions = "*"\n\n[[package]]\nname = "Jinja2"\nversion = "2.11.2"\n\n'
        '[metadata]\nlock-version = "2.0"\npython-versions = "^3.11"\ncontent-hash = "x"\n'
    )
    sub = tmp_path / "service"
    sub.mkdir()
    (sub / "uv.lock").write_text(
        'version = 1\nrequires-python = ">=3.11"\n\n[[package]]\nname = "service"\nversion = "0.1.0"\n'
        'source = { editable = "." }\n\n[[package]]\nname = "pyyaml"\nversion = "5.3.1"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
    )
    (tmp_path / "requirements-dev.txt").write_text("pytest==6.2.0\nruff\n")
    inventory = catalog_directory(tmp_path)
    assert {(p.name, p.version, p.locations[0].path) for p in inventory.packages} == {
        ("urllib3", "1.26.4", "poetry.lock"),
        ("Jinja2", "2.11.2", "poetry.lock"),
        ("pyyaml", "5.3.1", "service/uv.lock"),
        ("pytest", "6.2.0", "requirements-dev.txt"),
    }


# -- OS release and directory safety -----------------------------------------------------------


def test_os_release_parsing(tmp_path: Path) -> None:
    fields = parse_os_release(
        '# c\nNAME="Ubuntu"\nVERSION_ID=\'22.04\'\nID=ubuntu\nBROKEN\nPRETTY_NAME="A \\"q\\""\n'
    )
    assert fields == {"NAME": "Ubuntu", "VERSION_ID": "22.04", "ID": "ubuntu", "PRETTY_NAME": 'A "q"'}
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text('ID=debian\nPRETTY_NAME="Debian GNU/Linux trixie/sid"\n')
    (tmp_path / "etc/debian_version").write_text("trixie/sid\n")
    inventory = catalog_directory(tmp_path)
    assert inventory.distro is not None and inventory.distro.version_id == "trixie/sid"


def test_directory_walk_does_not_follow_symlinks_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "node_modules/evil").mkdir(parents=True)
    (outside / "node_modules/evil/package.json").write_text('{"name": "evil", "version": "6.6.6"}')
    project = tmp_path / "project"
    (project / "node_modules").mkdir(parents=True)
    (project / "node_modules/evil").symlink_to(outside / "node_modules/evil")
    (project / "package-lock.json").symlink_to(outside / "nothing.json")
    assert catalog_directory(project).packages == []


def test_catalog_directory_needs_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        catalog_directory(tmp_path / "missing")
