"""``shipflow scan IMAGE --attest``: the report as a signed cosign ``vuln`` attestation.

End to end through the CLI on real images built by buildah: a vulnerable one (this machine's
real dpkg status, an OS advisory just above its installed dpkg version) in the test registry,
and the busybox fixture in an OCI layout. The attestation is checked by shipflow's
``verify-attestation`` and, on the registry, by the real cosign (v2.4.1). Refusals (directory
and SBOM subjects, ``--key`` without ``--attest``, bad keys) exit 2 and write nothing.
Unit tests cover the predicate's shape against cosign's ``CosignVulnPredicate``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from fixtures.images import BuiltImage, ImageBuilder, busybox_context
from fixtures.registry import Registry
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
from shipflow.scan.attestation import (
    VULN_PREDICATE_TYPE,
)
from shipflow.signing import attestation_tag, generate_private_key
from support.cli import InProcessCli as _InProcess
from support.cosign import VERIFY_FLAGS, cosign
from support.paths import DATA_DIR
from support.scan_images import DOCKERFILE, HOST_OS_RELEASE, HOST_STATUS, installed_source_version, os_release

OSV = DATA_DIR / "osv"
PASSWORD = "scan-attest-pass"


@pytest.fixture
def shipflow(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> _InProcess:
    return _InProcess(monkeypatch, capsys)


@pytest.fixture(scope="module")
def vulnerable_image(image_builder: ImageBuilder) -> BuiltImage:
    """busybox plus this machine's real dpkg status and os-release (COPY only, no RUN)."""
    if not HOST_STATUS.is_file() or not HOST_OS_RELEASE.is_file():
        pytest.fail("this test needs a Debian machine (dpkg status, os-release)")
    files = dict(busybox_context())
    files["rootfs/var/lib/dpkg/status"] = HOST_STATUS.read_bytes()
    files["rootfs/etc/os-release"] = HOST_OS_RELEASE.read_bytes()
    return image_builder.build("scan-attest", DOCKERFILE, files)


@pytest.fixture(scope="module")
def advisory_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed OSV records plus one CRITICAL OS record for this machine's dpkg source
    package, fixed just above the installed version (so it matches, and fails a gate)."""
    from shipflow.scan import import_paths

    work = tmp_path_factory.mktemp("scan-attest-db")
    source, version = installed_source_version("dpkg")
    release = os_release()["VERSION_ID"].split(".")[0]
    record = {
        "id": "TEST-ATTEST-1",
        "modified": "2026-01-01T00:00:00Z",
        "summary": f"test advisory for {source}",
        "database_specific": {"severity": "CRITICAL"},
        "affected": [
            {
                "package": {"ecosystem": f"Debian:{release}", "name": source},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": version + "+shipflowtest1"}],
                    }
                ],
            }
        ],
    }
    (work / "os.json").write_text(json.dumps(record))
    db = work / "adv.db"
    import_paths([OSV / "records", work / "os.json"], db)
    return db


@pytest.fixture
def keys(shipflow: _InProcess, tmp_path: Path) -> tuple[Path, Path]:
    """A key pair made by ``shipflow keygen`` (cosign's format)."""
    result = shipflow(
        "keygen",
        "--output-key-prefix",
        str(tmp_path / "cosign"),
        cwd=tmp_path,
        db=tmp_path / "unused.db",
        env={"COSIGN_PASSWORD": PASSWORD},
    )
    assert result.returncode == 0, result.stderr
    return tmp_path / "cosign.key", tmp_path / "cosign.pub"


def _db_identity(shipflow: _InProcess, db: Path, cwd: Path) -> str:
    status = shipflow("db", "status", "--json", cwd=cwd, db=db)
    assert status.returncode == 0, status.stderr
    identity: str = json.loads(status.stdout)["identity"]
    return identity


# --- end to end ----------------------------------------------------------------------------------


def test_scan_attest_on_the_registry_verifies_with_shipflow_and_cosign(
    shipflow: _InProcess,
    vulnerable_image: BuiltImage,
    advisory_db: Path,
    image_builder: ImageBuilder,
    registry: Registry,
    keys: tuple[Path, Path],
    cosign_bin: str,
    tmp_path: Path,
) -> None:
    key, pub = keys
    published = image_builder.push(vulnerable_image, registry, "scan-attest/app", tag="candidate")
    env = {"COSIGN_PASSWORD": PASSWORD}
    scanned = shipflow(
        "scan",
        published.ref,  # a tag: resolved once, and the attestation goes to the digest
        "--fail-on",
        "CRITICAL",
        "--format",
        "json",
        "--attest",
        "--key",
        str(key),
        cwd=tmp_path,
        db=advisory_db,
        env=env,
    )
    # The gate fails (the CRITICAL OS advisory), and the attestation records that failure.
    assert scanned.returncode == 1, scanned.stderr
    assert f"resolved {published.ref} to {published.digest}" in scanned.stderr
    assert attestation_tag(Digest.parse(published.digest)) in scanned.stderr
    assert "gate failed" in scanned.stderr
    printed_report = json.loads(scanned.stdout)  # stdout stays the report alone
    assert printed_report["subjectDigest"] == published.digest

    verified = shipflow(
        "verify-attestation", published.ref, "--key", str(pub), "--type", "vuln", cwd=tmp_path, db=advisory_db
    )
    assert verified.returncode == 0, verified.stderr
    predicate = json.loads(verified.stdout)
    result = predicate["scanner"]["result"]
    assert result["subjectDigest"] == published.digest
    assert result["gate"]["passed"] is False and result["gate"]["failOn"] == ["CRITICAL"]
    assert "TEST-ATTEST-1" in {f["id"] for f in result["findings"]}
    assert result["findings"] == printed_report["findings"]
    assert predicate["scanner"]["db"]["version"] == _db_identity(shipflow, advisory_db, tmp_path)
    assert predicate["scanner"]["uri"].startswith("pkg:pypi/shipflow@")
    assert predicate["metadata"] == {
        "scanStartedOn": printed_report["startedAt"],
        "scanFinishedOn": printed_report["finishedAt"],
    }
    assert predicate["invocation"]["parameters"]["failOn"] == ["CRITICAL"]
    assert set(predicate["invocation"]) == {"parameters", "uri", "event_id", "builder.id"}

    # The real cosign accepts it, by digest, as a vuln attestation signed by this key ...
    digest_ref = published.digest_ref
    checked = cosign(
        cosign_bin, "verify-attestation", "--key", str(pub), "--type", "vuln", *VERIFY_FLAGS, digest_ref
    )
    assert checked.returncode == 0, checked.stderr
    envelope = json.loads(checked.stdout.strip().splitlines()[0])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicateType"] == VULN_PREDICATE_TYPE
    assert statement["subject"][0]["digest"] == {"sha256": Digest.parse(published.digest).hex}
    assert statement["predicate"] == predicate
    # ... and refuses it for another key, so the acceptance above means something.
    other = tmp_path / "other.pub"
    other.write_bytes(generate_private_key().verifier.pem)
    refused = cosign(
        cosign_bin, "verify-attestation", "--key", str(other), "--type", "vuln", *VERIFY_FLAGS, digest_ref
    )
    assert refused.returncode != 0


def test_scan_attest_on_a_layout_with_the_key_from_the_environment(
    shipflow: _InProcess,
    busybox_built: BuiltImage,
    advisory_db: Path,
    keys: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    key, pub = keys
    image = busybox_built.copy_layout(tmp_path / "layout")
    env = {"COSIGN_PRIVATE_KEY": key.read_text(), "COSIGN_PASSWORD": PASSWORD}  # PEM text, as CI passes it
    scanned = shipflow(
        "scan",
        image.layout_ref,
        "--fail-on",
        "CRITICAL,HIGH",
        "--attest",
        cwd=tmp_path,
        db=advisory_db,
        env=env,
    )
    assert scanned.returncode == 0, scanned.stderr  # nothing vulnerable in busybox: the gate passes
    assert PASSWORD not in scanned.stdout + scanned.stderr

    digest = Digest.parse(image.digest)
    store = LayoutStore(image.layout_path)
    assert store.resolve(attestation_tag(digest)) is not None
    assert store.resolve(image.tag).digest == digest  # the image itself is untouched

    verified = shipflow(
        "verify-attestation",
        image.layout_ref,
        "--key",
        str(pub),
        "--type",
        "vuln",
        cwd=tmp_path,
        db=advisory_db,
    )
    assert verified.returncode == 0, verified.stderr
    predicate = json.loads(verified.stdout)
    assert predicate["scanner"]["result"]["subjectDigest"] == image.digest
    assert predicate["scanner"]["result"]["gate"]["passed"] is True
    assert predicate["scanner"]["result"]["findings"] == []

    # Signed by some other key: shipflow refuses (exit 1), so the pass above is not vacuous.
    other = tmp_path / "other.pub"
    other.write_bytes(generate_private_key().verifier.pem)
    refused = shipflow(
        "verify-attestation",
        image.layout_ref,
        "--key",
        str(other),
        "--type",
        "vuln",
        cwd=tmp_path,
        db=advisory_db,
    )
    assert refused.returncode == 1


def test_attest_refuses_directories_sbom_files_and_bad_keys(
    shipflow: _InProcess, advisory_db: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    key, _ = keys
    env = {"COSIGN_PASSWORD": PASSWORD}
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("urllib3==1.26.4\n")
    sbom = tmp_path / "bom.cdx.json"
    sbom.write_text(
        json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": []})
    )

    for subject, kind in ((project, "a directory"), (sbom, "an SBOM file")):
        refused = shipflow(
            "scan", str(subject), "--attest", "--key", str(key), cwd=tmp_path, db=advisory_db, env=env
        )
        assert refused.returncode == 2, refused.stderr
        assert f"--attest needs an image, and {subject} is {kind}" in refused.stderr
        assert refused.stdout == ""  # refused before scanning: no report

    lone_key = shipflow("scan", str(project), "--key", str(key), cwd=tmp_path, db=advisory_db, env=env)
    assert lone_key.returncode == 2 and "--key is only used with --attest" in lone_key.stderr

    image = f"oci:{tmp_path / 'no-such-layout'}:latest"
    wrong_password = shipflow(
        "scan",
        image,
        "--attest",
        "--key",
        str(key),
        cwd=tmp_path,
        db=advisory_db,
        env={"COSIGN_PASSWORD": "nope"},
    )
    assert wrong_password.returncode == 2 and "Traceback" not in wrong_password.stderr
    assert "nope" not in wrong_password.stderr
    no_key = shipflow("scan", image, "--attest", cwd=tmp_path, db=advisory_db, env=env)
    assert no_key.returncode == 2 and "COSIGN_PRIVATE_KEY" in no_key.stderr
