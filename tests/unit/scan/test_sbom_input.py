"""Reading SBOMs back into an Inventory: shipflow's own SPDX and CycloneDX output round-trips
(purls, distro and source package)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipflow.errors import ConfigError
from shipflow.sbom import SbomFormat, render
from shipflow.sbom._purls import npm_purl, os_package_purl
from shipflow.sbom.model import Distro, Inventory, Package
from shipflow.scan import read_sbom

DEBIAN = Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)")


def _inventory() -> Inventory:
    libc = Package(
        "libc6", "2.36-9+deb12u1", "deb",
        os_package_purl("deb", namespace="debian", name="libc6", version="2.36-9+deb12u1", arch="amd64",
                        distro=DEBIAN, source_name="glibc"),
        source_name="glibc", source_version="2.36-9+deb12u1", distro=DEBIAN,
    )  # fmt: skip
    lodash = Package("lodash", "4.17.15", "npm", npm_purl("lodash", "4.17.15"))
    return Inventory(
        subject="127.0.0.1:5000/app@sha256:" + "f" * 64,
        subject_digest="sha256:" + "f" * 64,
        distro=DEBIAN,
        packages=[libc, lodash],
    )


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_round_trip(tmp_path: Path, fmt: SbomFormat) -> None:
    path = tmp_path / "sbom.json"
    path.write_text(render(_inventory(), fmt))
    result = read_sbom(path)
    inventory = result.inventory
    assert inventory.subject_digest == "sha256:" + "f" * 64
    by_name = {p.name: p for p in inventory.packages}
    assert set(by_name) == {"libc6", "lodash"}
    assert by_name["libc6"].source_name == "glibc"
    assert inventory.distro is not None and inventory.distro.release == "12"
    assert by_name["lodash"].purl == "pkg:npm/lodash@4.17.15"


def test_not_an_sbom(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(ConfigError, match="neither SPDX"):
        read_sbom(path)
