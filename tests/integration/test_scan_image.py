"""``shipflow scan IMAGE`` end to end on a real image built by buildah: node_modules from a
real ``npm install`` of old versions, this machine's real dpkg status and os-release. Scanned
from its OCI layout and from the test registry by digest; the report names the image digest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.images import BuiltImage, ImageBuilder, busybox_context
from fixtures.registry import Registry
from shipflow.scan.versions import dpkg
from support.paths import DATA_DIR
from support.sbom import npm_install, tree_files
from support.scan_images import DOCKERFILE, HOST_OS_RELEASE, HOST_STATUS, installed_source_version, os_release

OSV = DATA_DIR / "osv"


@pytest.fixture(scope="module")
def scan_image(image_builder: ImageBuilder, tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    if not HOST_STATUS.is_file() or not HOST_OS_RELEASE.is_file():
        pytest.fail("this test needs a Debian machine (dpkg status, os-release)")
    npm_dir = npm_install(tmp_path_factory.mktemp("scan-npm") / "npm", ("lodash@4.17.15", "minimist@1.2.0"))
    files = dict(busybox_context())
    files["rootfs/var/lib/dpkg/status"] = HOST_STATUS.read_bytes()
    files["rootfs/etc/os-release"] = HOST_OS_RELEASE.read_bytes()
    files.update(tree_files(npm_dir, "rootfs/opt/app"))
    return image_builder.build("scan-app", DOCKERFILE, files)


@pytest.fixture(scope="module")
def advisory_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real npm records plus two OS records built from this machine's own dpkg status:
    one for its Debian release with a fix just above the installed version (must match), one
    for another release (must not)."""
    work = tmp_path_factory.mktemp("scan-db")
    source, version = installed_source_version("dpkg")
    fixed = version + "+shipflowtest1"
    assert dpkg.compare(version, fixed) < 0
    release = os_release()["VERSION_ID"].split(".")[0]
    records = []
    for ident, ecosystem in (("TEST-OS-1", f"Debian:{release}"), ("TEST-OS-2", f"Debian:{int(release) - 1}")):
        records.append(
            {
                "id": ident,
                "modified": "2026-01-01T00:00:00Z",
                "summary": f"test advisory for {source}",
                "database_specific": {"severity": "CRITICAL"},
                "affected": [
                    {
                        "package": {"ecosystem": ecosystem, "name": source},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
                    }
                ],
            }
        )
    (work / "os.json").write_text(json.dumps(records))
    db = work / "adv.db"
    result = _run("db", "import", str(OSV / "records"), str(work / "os.json"), db=db)
    assert result.returncode == 0, result.stderr
    return db


def _run(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHIPFLOW_DB": str(db)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(
        [sys.executable, "-m", "shipflow.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_scan_image_from_layout_and_registry(
    scan_image: BuiltImage, advisory_db: Path, image_builder: ImageBuilder, registry: Registry
) -> None:
    published = image_builder.push(scan_image, registry, "scan/app")
    reports = {}
    for name, ref in (("layout", scan_image.layout_ref), ("registry", published.digest_ref)):
        result = _run("scan", ref, "--format", "json", "--fail-on", "CRITICAL", db=advisory_db)
        assert result.returncode == 1, result.stderr  # the CRITICAL OS advisory fails the gate
        reports[name] = json.loads(result.stdout)
    layout, remote = reports["layout"], reports["registry"]
    assert layout["subjectDigest"] == scan_image.digest == remote["subjectDigest"]
    found = {(f["id"], f["package"]["name"]) for f in layout["findings"]}
    source, _ = installed_source_version("dpkg")
    assert {
        ("GHSA-p6mc-m468-83gw", "lodash"),
        ("GHSA-35jh-r3h4-6jhm", "lodash"),
        ("GHSA-vh95-rmgr-6w4m", "minimist"),
    } <= found
    os_findings = [f for f in layout["findings"] if f["id"].startswith("TEST-OS")]
    # One finding per binary package built from the source package; the other release's
    # record does not apply.
    assert {f["id"] for f in os_findings} == {"TEST-OS-1"}
    assert "dpkg" in {f["package"]["name"] for f in os_findings}
    assert os_findings[0]["package"]["ecosystem"].startswith("Debian:")
    assert os_findings[0]["fixedVersions"][0].endswith("+shipflowtest1")
    assert source == "dpkg"
    assert sorted(found) == sorted((f["id"], f["package"]["name"]) for f in remote["findings"])
    assert layout["packagesScanned"] > 100  # the whole dpkg status plus the npm packages
