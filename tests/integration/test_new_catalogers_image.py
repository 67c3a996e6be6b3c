"""The new catalogers on real images built by buildah, from inputs the real tools made here:

* a Rocky Linux 9 style image: an ``rpmdb.sqlite`` written by ``rpm`` (packages built by
  ``rpmbuild``), a Go executable from ``go build``, Java archives from Maven and the JDK's
  ``jar``, a Node project's pnpm and yarn lock files, and a broken Pipfile.lock;
* a CentOS 7 style image whose database is rpm < 4.16's Berkeley DB ``Packages``, written by
  ``db5.3_load`` and read back by rpm's own ``bdb_ro`` backend.

Each image is cataloged from its OCI layout and checked against what the tools themselves
report (``rpm -qa``, ``go version -m``), written as SPDX and CycloneDX (validated), and
scanned against OSV records for the RPM distribution."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.images import BuiltImage, ImageBuilder, busybox_context
from fixtures.procs import require_binary
from shipflow.oci.layout import LayoutStore
from shipflow.sbom import Inventory, SbomFormat, catalog_image, render
from shipflow.scan import AdvisoryDB, import_paths, scan_inventory
from support.catalog_inputs import berkeley_database, go_build, go_version_m, java_archives, rpm_database, run
from support.paths import DATA_DIR
from support.sbom import validate_cyclonedx, validate_spdx

LOCKS = DATA_DIR / "lockfiles"
ROCKY_OS_RELEASE = (
    b'NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nVERSION_ID="9.3"\n'
    b'PRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n'
)
CENTOS_OS_RELEASE = b'NAME="CentOS Linux"\nID="centos"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n'
DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
COPY rootfs/ /
RUN ["/bin/busybox", "rm", "/opt/app/remove-me.jar"]
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    work = tmp_path_factory.mktemp("catalog-inputs")
    database, rpm_listing = rpm_database(work / "rpmdb")
    app = go_build(work / "bin" / "app")
    archives = java_archives(work / "java")
    return {"database": database, "rpm": rpm_listing, "app": app, "archives": archives, "work": work}


@pytest.fixture(scope="module")
def rocky_image(image_builder: ImageBuilder, inputs: dict[str, object]) -> BuiltImage:
    archives = inputs["archives"]
    assert isinstance(archives, dict)
    files: dict[str, bytes | tuple[bytes, int]] = {
        **busybox_context(),
        "rootfs/etc/os-release": ROCKY_OS_RELEASE,
        "rootfs/var/lib/rpm/rpmdb.sqlite": Path(str(inputs["database"])).read_bytes(),
        "rootfs/usr/local/bin/app": (Path(str(inputs["app"])).read_bytes(), 0o755),
        "rootfs/opt/app/shop.ear": archives["ear"].read_bytes(),
        "rootfs/opt/app/service.jar": archives["fat"].read_bytes(),
        "rootfs/opt/app/remove-me.jar": archives["bundle"].read_bytes(),
        "rootfs/srv/web/package.json": (LOCKS / "pnpm-v9" / "package.json").read_bytes(),
        "rootfs/srv/web/pnpm-lock.yaml": (LOCKS / "pnpm-v9" / "pnpm-lock.yaml").read_bytes(),
        "rootfs/srv/admin/package.json": (LOCKS / "yarn-berry-v4" / "package.json").read_bytes(),
        "rootfs/srv/admin/yarn.lock": (LOCKS / "yarn-berry-v4" / "yarn.lock").read_bytes(),
        "rootfs/srv/api/Pipfile.lock": b'{"default": {"requests": {"version": "==2.25.0"',
    }
    return image_builder.build("catalogers-rocky", DOCKERFILE, files)


@pytest.fixture(scope="module")
def rocky_inventory(rocky_image: BuiltImage) -> Inventory:
    return catalog_image(LayoutStore(rocky_image.layout_path), rocky_image.digest)


def _by_type(inventory: Inventory, kind: str) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for package in inventory.packages:
        if package.type == kind:
            found.setdefault(package.name, []).append((package.version, package.locations[0].path))
    return found


def test_rpm_packages_are_what_rpm_says(rocky_inventory: Inventory, inputs: dict[str, object]) -> None:
    assert rocky_inventory.distro is not None and rocky_inventory.distro.id == "rocky"
    listing = inputs["rpm"]
    assert isinstance(listing, list)
    expected = {
        (
            row["name"],
            f"{row['epoch']}:" * (row["epoch"] != "0") + f"{row['version']}-{row['release']}",
            row["arch"],
        )
        for row in listing
    }
    packages = [p for p in rocky_inventory.packages if p.type == "rpm"]
    assert {
        (p.name, p.version, dict(q.split("=") for q in p.purl.split("?")[1].split("&"))["arch"])
        for p in packages
    } == expected
    for package in packages:
        assert package.locations[0].path == "/var/lib/rpm/rpmdb.sqlite"
        assert package.locations[0].layer is not None and package.distro == rocky_inventory.distro
    libs = next(p for p in packages if p.name == "shipflow-tools-libs")
    assert (libs.source_name, libs.source_version) == ("shipflow-tools", "3.1-7.el9")


def test_go_binary_modules_are_what_go_version_m_says(
    rocky_inventory: Inventory, inputs: dict[str, object]
) -> None:
    expected = go_version_m(Path(str(inputs["app"])))
    # The main module is "(devel)" in a plain build and ./local a directory: no version to
    # match, so neither is listed. Go's "go1.26.8" is the stdlib package's "v1.26.8".
    wanted = {
        (path, "v" + version.removeprefix("go") if path == "stdlib" else version)
        for path, version in expected
        if version != "(devel)"
    }
    found = {
        (name, version)
        for name, entries in _by_type(rocky_inventory, "golang").items()
        for version, _ in entries
    }
    assert found == wanted
    assert {("github.com/google/uuid", "v1.6.0"), ("github.com/pkg/errors", "v0.9.1")} < found
    assert all(
        path == "/usr/local/bin/app"
        for entries in _by_type(rocky_inventory, "golang").values()
        for _, path in entries
    )


def test_java_archives_nested_and_the_deleted_one_gone(rocky_inventory: Inventory) -> None:
    maven = {
        p.name: (p.version, sorted(loc.path for loc in p.locations), p.purl)
        for p in rocky_inventory.packages
        if p.type == "maven"
    }
    assert maven == {
        "com.example:shop": ("3.0.0", ["/opt/app/shop.ear!/shop.war"], "pkg:maven/com.example/shop@3.0.0"),
        "org.apache.commons:commons-text": (
            "1.9",
            ["/opt/app/shop.ear!/shop.war!/WEB-INF/lib/commons-text-1.9.jar"],
            "pkg:maven/org.apache.commons/commons-text@1.9",
        ),
        "dev.shipflow.fixture:greeter": (  # built by Maven; in the fat jar and in the war
            "1.4.2",
            [
                "/opt/app/service.jar!/BOOT-INF/lib/greeter-1.4.2.jar",
                "/opt/app/shop.ear!/shop.war!/WEB-INF/lib/greeter-1.4.2.jar",
            ],
            "pkg:maven/dev.shipflow.fixture/greeter@1.4.2",
        ),
        "com.example:service": ("0.9.1", ["/opt/app/service.jar"], "pkg:maven/com.example/service@0.9.1"),
        # A manifest-only OSGi bundle: no group can be told, so none is made up.
        "org.osgi.util.function": (
            "1.2.0",
            ["/opt/app/service.jar!/BOOT-INF/lib/org.osgi.util.function-1.2.0.jar"],
            "pkg:maven/org.osgi.util.function@1.2.0",
        ),
    }
    # remove-me.jar was deleted by a later layer (a whiteout): nothing of it is listed.
    assert not any("remove-me" in loc.path for p in rocky_inventory.packages for loc in p.locations)


def test_lock_files_in_the_image_without_dev_and_the_broken_one_reported(rocky_inventory: Inventory) -> None:
    npm = _by_type(rocky_inventory, "npm")
    assert "mkdirp" not in npm and "semver" not in npm and "express" in npm
    paths = {path for entries in npm.values() for _, path in entries}
    assert paths <= {"/srv/web/pnpm-lock.yaml", "/srv/admin/yarn.lock"}
    express = next(p for p in rocky_inventory.packages if p.name == "express")
    assert {loc.path for loc in express.locations} == {"/srv/web/pnpm-lock.yaml", "/srv/admin/yarn.lock"}
    [broken] = rocky_inventory.not_read
    assert (broken.location.path, broken.cataloger) == ("/srv/api/Pipfile.lock", "pipfile-lock")
    assert broken.location.layer is not None and "not valid JSON" in broken.reason


def test_sboms_of_the_image_validate_and_carry_the_warning(
    rocky_inventory: Inventory, tmp_path: Path
) -> None:
    spdx = validate_spdx(render(rocky_inventory, SbomFormat.SPDX_JSON), tmp_path)
    root = spdx["packages"][0]  # type: ignore[index]
    [annotation] = root["annotations"]
    assert (
        json.loads(annotation["comment"].removeprefix("shipflow:not-read "))["path"]
        == "/srv/api/Pipfile.lock"
    )
    cyclonedx = validate_cyclonedx(render(rocky_inventory, SbomFormat.CYCLONEDX_JSON))
    types = {c["purl"].split(":", 1)[1].split("/", 1)[0] for c in cyclonedx["components"] if "purl" in c}  # type: ignore[union-attr]
    assert types == {"rpm", "golang", "maven", "npm"}


def test_scan_matches_rpm_packages_by_source_package_and_release(
    rocky_inventory: Inventory, tmp_path: Path
) -> None:
    records = tmp_path / "records"
    records.mkdir()
    record = {  # shaped as Rocky's RLSA records are; the package is this test's own
        "id": "RLSA-2099:0042",
        "modified": "2099-01-01T00:00:00Z",
        "summary": "Important: shipflow-tools security update",
        "affected": [
            {
                "package": {"ecosystem": "Rocky Linux:9", "name": "shipflow-tools"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1-8.el9"}]}],
            }
        ],
    }
    (records / "RLSA-2099-0042.json").write_text(json.dumps(record))
    import_paths([records], tmp_path / "adv.db")
    with contextlib.closing(AdvisoryDB.open(tmp_path / "adv.db")) as db:
        report = scan_inventory(rocky_inventory, db)
    found = sorted((f.advisory_id, f.package.name, f.package.ecosystem) for f in report.findings)
    assert found == [
        ("RLSA-2099:0042", "shipflow-tools", "Rocky Linux:9"),
        ("RLSA-2099:0042", "shipflow-tools-libs", "Rocky Linux:9"),  # a binary of that source
    ]
    assert [n.location.path for n in report.not_read] == ["/srv/api/Pipfile.lock"]


@pytest.fixture(scope="module")
def centos_image(image_builder: ImageBuilder, inputs: dict[str, object]) -> Iterator[BuiltImage]:
    work = Path(str(inputs["work"]))
    packages = berkeley_database(Path(str(inputs["database"])), work / "bdb" / "Packages")
    # rpm's own Berkeley DB reader must see the same packages in the file db_load wrote.
    listing = run(
        [
            require_binary("rpm"),
            "--dbpath",
            str(packages.parent),
            "--define",
            "_db_backend bdb_ro",
            "-qa",
            "--qf",
            "%{NAME}\\n",
        ]
    )
    assert sorted(listing.split()) == sorted(row["name"] for row in inputs["rpm"])  # type: ignore[attr-defined]
    files: dict[str, bytes | tuple[bytes, int]] = {
        **busybox_context(),
        "rootfs/etc/os-release": CENTOS_OS_RELEASE,
        "rootfs/var/lib/rpm/Packages": packages.read_bytes(),
    }
    yield image_builder.build(
        "catalogers-centos7", "FROM scratch\nCOPY busybox /bin/busybox\nCOPY rootfs/ /\n", files
    )


def test_berkeley_db_image(centos_image: BuiltImage, inputs: dict[str, object]) -> None:
    inventory = catalog_image(LayoutStore(centos_image.layout_path), centos_image.digest)
    assert inventory.not_read == []
    assert inventory.distro is not None and (inventory.distro.id, inventory.distro.release) == ("centos", "7")
    names = sorted(p.name for p in inventory.packages if p.type == "rpm")
    assert names == sorted(row["name"] for row in inputs["rpm"])  # type: ignore[attr-defined]
    hello = next(p for p in inventory.packages if p.name == "shipflow-hello")
    assert hello.purl == "pkg:rpm/centos/shipflow-hello@1.2.3-4.el9?arch=noarch&distro=centos-7&epoch=2"
