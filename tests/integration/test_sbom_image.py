"""End to end: real images built by buildah with real package databases, cataloged from an
OCI layout and from a registry, written as SPDX and CycloneDX and checked by the validators.

The app image's layers, in order:

1. ``COPY busybox``
2. ``COPY rootfs/``: this machine's own ``/var/lib/dpkg/status`` and ``os-release``, a
   ``node_modules`` from a real ``npm install``, a ``site-packages`` from a real
   ``pip install --target``, a real Debian ``PyJWT-*.egg-info``
3. ``RUN rm …; ln -s …``: deletes lodash and Jinja2's dist-info (whiteouts) and links
   ``/etc/os-release`` to ``../usr/lib/os-release`` as Debian does
4. ``COPY overlay/``: overwrites the dpkg status with one package marked removed
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from packageurl import PackageURL

from fixtures.images import BuiltImage, ImageBuilder, busybox_context
from fixtures.procs import require_binary
from fixtures.registry import Registry
from shipflow.errors import UsageError
from shipflow.oci.layout import LayoutStore
from shipflow.oci.open import open_store
from shipflow.sbom import Inventory, SbomFormat, catalog_image, render
from support.paths import DATA_DIR
from support.sbom import npm_install, pip_install_target, tree_files, validate_cyclonedx, validate_spdx

DATA = DATA_DIR / "sbom"
HOST_STATUS = Path("/var/lib/dpkg/status")
HOST_OS_RELEASE = Path("/usr/lib/os-release")
REMOVED_PACKAGE = "bc"  # marked "deinstall ok config-files" in the overwriting layer

APP_DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
COPY rootfs/ /
RUN ["/bin/busybox", "sh", "-c", "/bin/busybox rm -rf /opt/app/node_modules/lodash \
/opt/app/site-packages/Jinja2-2.11.2.dist-info && /bin/busybox mkdir -p /etc \
&& /bin/busybox ln -s ../usr/lib/os-release /etc/os-release"]
COPY overlay/ /
"""

ALPINE_DOCKERFILE = """\
FROM scratch
COPY rootfs/ /
"""


def _status_with_removed_package(status: str, package: str) -> str:
    stanzas = status.split("\n\n")
    for number, stanza in enumerate(stanzas):
        if re.search(rf"^Package: {re.escape(package)}$", stanza, re.M):
            stanzas[number] = re.sub(r"^Status: .*$", "Status: deinstall ok config-files", stanza, flags=re.M)
    return "\n\n".join(stanzas)


@pytest.fixture(scope="module")
def app_context(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes | tuple[bytes, int]]:
    work = tmp_path_factory.mktemp("sbom-app")
    npm_dir = npm_install(work / "npm")
    site = pip_install_target(work / "site-packages")
    egg_info = sorted(Path("/usr/lib/python3/dist-packages").glob("PyJWT-*.egg-info"))
    if not HOST_STATUS.is_file() or not HOST_OS_RELEASE.is_file() or not egg_info:
        pytest.fail("this test needs a Debian machine (dpkg status, os-release, python3-jwt)")
    files: dict[str, bytes | tuple[bytes, int]] = dict(busybox_context())
    files["rootfs/var/lib/dpkg/status"] = HOST_STATUS.read_bytes()
    files["rootfs/usr/lib/os-release"] = HOST_OS_RELEASE.read_bytes()
    for package in ("bash", "zlib1g"):  # licences come from machine-readable copyright files
        files[f"rootfs/usr/share/doc/{package}/copyright"] = Path(
            f"/usr/share/doc/{package}/copyright"
        ).read_bytes()
    files.update(tree_files(npm_dir, "rootfs/opt/app"))
    files.update(tree_files(site, "rootfs/opt/app/site-packages"))
    files.update(tree_files(egg_info[0], f"rootfs/usr/lib/python3/dist-packages/{egg_info[0].name}"))
    overlay_status = _status_with_removed_package(HOST_STATUS.read_text(), REMOVED_PACKAGE)
    files["overlay/var/lib/dpkg/status"] = overlay_status.encode()
    return files


@pytest.fixture(scope="module")
def app_image(image_builder: ImageBuilder, app_context: dict[str, bytes | tuple[bytes, int]]) -> BuiltImage:
    # buildah bud squashes a build into one layer unless asked for one layer per step; the
    # builder passes our environment on to buildah.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BUILDAH_LAYERS", "true")
        return image_builder.build("sbom-app", APP_DOCKERFILE, app_context)


@pytest.fixture(scope="module")
def app_inventory(app_image: BuiltImage) -> Inventory:
    return catalog_image(LayoutStore(app_image.layout_path), app_image.tag)


def dpkg_query(status_text: str, tmp_path: Path) -> dict[str, tuple[str, str, str, str]]:
    """What the real dpkg-query says about a status file: package -> (version, abbrev,
    source name, source version)."""
    admin = tmp_path / "dpkg-admin"
    (admin / "info").mkdir(parents=True)
    (admin / "status").write_text(status_text)
    (admin / "available").write_text("")
    out = subprocess.run(
        [
            "dpkg-query",
            f"--admindir={admin}",
            "-W",
            "-f=${Package}\t${Version}\t${db:Status-Abbrev}\t${source:Package}\t${source:Version}\n",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = {}
    for line in out.splitlines():
        name, version, abbrev, source, source_version = line.split("\t")
        result[name] = (version, abbrev.strip(), source, source_version)
    return result


def test_app_image_layers_are_as_described(app_image: BuiltImage) -> None:
    manifest = LayoutStore(app_image.layout_path).get_manifest(app_image.tag).as_manifest()
    assert len(manifest.layers) == 4


def test_dpkg_packages_match_dpkg_query(
    app_inventory: Inventory, app_image: BuiltImage, tmp_path: Path
) -> None:
    overlay_status = _status_with_removed_package(HOST_STATUS.read_text(), REMOVED_PACKAGE)
    truth = dpkg_query(overlay_status, tmp_path)
    installed = {
        name: info for name, info in truth.items() if info[1][0] not in "rp" and info[1][1] not in "nc"
    }
    assert REMOVED_PACKAGE in truth and REMOVED_PACKAGE not in installed
    debs = {p.name: p for p in app_inventory.packages if p.type == "deb"}
    assert set(debs) == set(installed)
    layers = LayoutStore(app_image.layout_path).get_manifest(app_image.tag).as_manifest().layers
    for name, (version, _, source, source_version) in installed.items():
        package = debs[name]
        assert package.version == version
        assert (package.source_name, package.source_version) == (source, source_version), name
        purl = PackageURL.from_string(package.purl)
        assert (purl.type, purl.namespace, purl.name, purl.version) == ("deb", "debian", name, version)
        assert purl.qualifiers["distro"] == "debian-12"  # type: ignore[index]
        # The overwriting layer (4th) is where the status file came from.
        assert package.locations[0].path == "/var/lib/dpkg/status"
        assert package.locations[0].layer == str(layers[3].digest)
    assert debs["zlib1g"].licenses == ("Zlib",)
    assert "GPL-3.0-or-later" in debs["bash"].licenses


def test_distro_found_through_the_os_release_symlink(app_inventory: Inventory) -> None:
    assert app_inventory.distro is not None
    assert (app_inventory.distro.id, app_inventory.distro.release) == ("debian", "12")


def test_npm_packages_and_whiteout(app_inventory: Inventory, app_image: BuiltImage) -> None:
    npm = {(p.name, p.version): p for p in app_inventory.packages if p.type == "npm"}
    installed = {key for key, p in npm.items() if any("/node_modules/" in loc.path for loc in p.locations)}
    assert installed == {
        ("@babel/helper-validator-identifier", "7.10.4"),
        ("minimist", "1.2.0"),
        ("minimist", "0.0.8"),  # nested under mkdirp/node_modules
        ("mkdirp", "0.5.1"),
    }  # lodash's node_modules was deleted by the RUN layer: its whiteout hides it
    # The project's package-lock.json copied into the image still names lodash (lock files in
    # images are read, without their dev dependencies): listed, from the lock file only.
    assert {loc.path for loc in npm[("lodash", "4.17.15")].locations} == {"/opt/app/package-lock.json"}
    assert set(npm) == installed | {("lodash", "4.17.15")}
    assert npm[("@babel/helper-validator-identifier", "7.10.4")].purl == (
        "pkg:npm/%40babel/helper-validator-identifier@7.10.4"
    )
    nested = npm[("minimist", "0.0.8")]
    assert nested.locations[0].path == "/opt/app/node_modules/mkdirp/node_modules/minimist/package.json"
    assert npm[("minimist", "1.2.0")].licenses == ("MIT",)
    layers = LayoutStore(app_image.layout_path).get_manifest(app_image.tag).as_manifest().layers
    assert nested.locations[0].layer == str(layers[1].digest)


def test_python_packages_and_whiteout(app_inventory: Inventory) -> None:
    python = {(p.name, p.version): p for p in app_inventory.packages if p.type == "pypi"}
    assert set(python) == {("urllib3", "1.26.4"), ("PyJWT", "2.6.0")}  # Jinja2's dist-info is whited out
    assert python[("PyJWT", "2.6.0")].purl == "pkg:pypi/pyjwt@2.6.0"
    assert python[("urllib3", "1.26.4")].licenses == ("MIT",)


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_sboms_of_the_app_image_validate(app_inventory: Inventory, fmt: SbomFormat, tmp_path: Path) -> None:
    text = render(app_inventory, fmt)
    if fmt is SbomFormat.SPDX_JSON:
        doc = validate_spdx(text, tmp_path)
        packages = doc["packages"]
        assert isinstance(packages, list)
        assert len(packages) == len(app_inventory.packages) + 1
        root = packages[0]
        assert root["versionInfo"] == app_inventory.subject_digest
    else:
        doc = validate_cyclonedx(text)
        metadata = doc["metadata"]
        assert isinstance(metadata, dict)
        assert metadata["component"]["version"] == app_inventory.subject_digest
        components = doc["components"]
        assert isinstance(components, list)
        assert len(components) == len(app_inventory.packages) + 1  # + the operating system


def test_cli_sbom_from_layout_and_registry(
    app_image: BuiltImage, image_builder: ImageBuilder, registry: Registry, tmp_path: Path
) -> None:
    """``shipflow sbom`` end to end, on the layout and on a registry copy: same packages."""
    published = image_builder.push(app_image, registry, "sbom/app")
    layout_out, registry_out = tmp_path / "layout.spdx.json", tmp_path / "registry.cdx.json"
    for ref, out, fmt in (
        (app_image.layout_ref, layout_out, "spdx-json"),
        (published.ref, registry_out, "cyclonedx"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "shipflow.cli.main", "sbom", ref, "-o", str(out), "--format", fmt],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "total" in result.stderr  # the summary table
    spdx = validate_spdx(layout_out.read_text(), tmp_path)
    cdx = validate_cyclonedx(registry_out.read_text())
    spdx_purls = sorted(
        ref["referenceLocator"]
        for pkg in spdx["packages"]
        for ref in pkg.get("externalRefs", [])  # type: ignore[attr-defined]
    )
    cdx_purls = sorted(c["purl"] for c in cdx["components"] if "purl" in c)  # type: ignore[attr-defined]
    assert spdx_purls == cdx_purls and len(spdx_purls) > 700
    root = cdx["metadata"]["component"]  # type: ignore[index]
    assert root["version"] == published.digest and root["name"] == f"{registry.host}/sbom/app"


def test_cli_sbom_to_stdout_and_bad_target(alpine_image: BuiltImage, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipflow.cli.main",
            "sbom",
            alpine_image.layout_ref,
            "--format",
            "cyclonedx-json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(validate_cyclonedx(result.stdout)["components"]) == 5  # type: ignore[arg-type]
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipflow.cli.main",
            "sbom",
            f"oci:{tmp_path}/nothing:latest",
            "-o",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode in (1, 3) and "error" in missing.stderr
    assert not (tmp_path / "x").exists()  # nothing half-written


@pytest.fixture(scope="module")
def alpine_image(image_builder: ImageBuilder) -> BuiltImage:
    files: dict[str, bytes | tuple[bytes, int]] = {
        "rootfs/lib/apk/db/installed": (DATA / "apk" / "installed").read_bytes(),
        "rootfs/etc/alpine-release": b"3.19.0\n",
    }
    return image_builder.build("sbom-alpine", ALPINE_DOCKERFILE, files)


def test_alpine_image_with_public_apk_database(alpine_image: BuiltImage, tmp_path: Path) -> None:
    image = alpine_image
    inventory = catalog_image(LayoutStore(image.layout_path), image.tag)
    assert inventory.distro is not None and inventory.distro.release == "3.19"
    apk = {p.name: p for p in inventory.packages}
    assert set(apk) == {"bash", "busybox-binsh", "musl", "readline"}
    binsh = apk["busybox-binsh"]
    assert (binsh.version, binsh.source_name, binsh.licenses) == ("1.36.1-r15", "busybox", ("GPL-2.0-only",))
    assert (
        binsh.purl
        == "pkg:apk/alpine/busybox-binsh@1.36.1-r15?arch=x86_64&distro=alpine-3.19.0&upstream=busybox"
    )
    validate_spdx(render(inventory, SbomFormat.SPDX_JSON), tmp_path)
    validate_cyclonedx(render(inventory, SbomFormat.CYCLONEDX_JSON))


def test_index_platform_selection(multiarch_built: BuiltImage) -> None:
    store = open_store(multiarch_built.layout_ref)
    arm = catalog_image(store, multiarch_built.tag, platform="linux/arm64")
    assert arm.subject_digest == multiarch_built.digest and arm.packages == []
    with pytest.raises(UsageError, match="no linux/s390x image") as info:
        catalog_image(store, multiarch_built.tag, platform="linux/s390x")
    assert info.value.hint is not None and "linux/arm64" in info.value.hint
    with pytest.raises(UsageError, match="malformed platform"):
        catalog_image(store, multiarch_built.tag, platform="linux")


def test_zstd_layers_written_by_skopeo(alpine_image: BuiltImage, tmp_path: Path) -> None:
    """A real tool's zstd layers (uncompressed tar layers are covered by crafted layouts)."""
    skopeo = require_binary("skopeo")
    flags = ["--dest-compress-format", "zstd"]
    media_type = "application/vnd.oci.image.layer.v1.tar+zstd"
    target = tmp_path / "recompressed"
    subprocess.run(
        [skopeo, "copy", "--quiet", *flags, alpine_image.layout_ref, f"oci:{target}:latest"],
        check=True,
        capture_output=True,
    )
    store = LayoutStore(target)
    layers = store.get_manifest("latest").as_manifest().layers
    assert {layer.media_type for layer in layers} == {media_type}
    inventory = catalog_image(store, "latest")
    assert sorted(p.name for p in inventory.packages) == ["bash", "busybox-binsh", "musl", "readline"]
    assert inventory.packages[0].locations[0].layer == str(layers[0].digest)
