"""``shipflow build`` output checked by independent tools.

- the SLSA v1 provenance shipflow signs and attaches passes the real ``cosign
  verify-attestation --type slsaprovenance1`` (v2.4.1), and shipflow's own verification;
- skopeo reads the OCI labels from the image in the registry, and its digest is the one
  ``build_image`` returned.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from fixtures.example import ExampleRepo
from fixtures.registry import Registry
from shipflow.build import (
    OCI_CREATED,
    OCI_REVISION,
    OCI_SOURCE,
    OCI_VERSION,
    SLSA_PROVENANCE_V1,
    BuildResult,
    BuildSettings,
    attest_provenance,
    build_image,
)
from shipflow.oci.open import open_store
from shipflow.signing import encrypt_private_key, generate_private_key, trusted_keys, verify_attestations
from support.cosign import PASSWORD, VERIFY_FLAGS, cosign

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(example_repo: ExampleRepo, registry: Registry) -> BuildResult:
    return build_image(
        BuildSettings(
            context=example_repo.path,
            image=registry.ref("interop/immoflowme"),
            tags=("1.2.3",),
            build_args={"VERSION": "1.2.3"},
        )
    )


def test_cosign_verifies_the_provenance(built: BuildResult, cosign_bin: str, tmp_path: Path) -> None:
    key = generate_private_key()
    (tmp_path / "cosign.pub").write_bytes(key.verifier.pem)
    (tmp_path / "cosign.key").write_bytes(encrypt_private_key(key, PASSWORD.encode()))
    store = open_store(built.image)
    ref = str(built.image)
    attest_provenance(store, built, key, subject_name=ref.split("@")[0])

    result = cosign(
        cosign_bin,
        "verify-attestation",
        "--key",
        str(tmp_path / "cosign.pub"),
        "--type",
        "slsaprovenance1",
        *VERIFY_FLAGS,
        ref,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    envelope = json.loads(result.stdout.strip().splitlines()[0])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == SLSA_PROVENANCE_V1
    assert statement["subject"][0]["digest"] == {"sha256": built.digest.hex}
    definition = statement["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["source"]["revision"] == built.source.revision
    assert definition["resolvedDependencies"][0]["digest"] == {"gitCommit": built.source.revision}

    wrong = cosign(
        cosign_bin,
        "verify-attestation",
        "--key",
        str(tmp_path / "cosign.pub"),
        "--type",
        "spdxjson",
        *VERIFY_FLAGS,
        ref,
        cwd=tmp_path,
    )
    assert wrong.returncode != 0  # the type filter is real: no SPDX attestation is there

    verified = verify_attestations(
        store, built.digest, trusted_keys([key.verifier]), predicate_type=SLSA_PROVENANCE_V1
    )
    assert [v.predicate_type for v in verified] == [SLSA_PROVENANCE_V1]
    assert verified[0].predicate["buildDefinition"]["buildType"] == definition["buildType"]


def test_skopeo_reads_the_labels_and_digest(built: BuildResult, skopeo_bin: str) -> None:
    ref = str(built.image).split("@")[0] + ":1.2.3"
    inspected = subprocess.run(
        [skopeo_bin, "inspect", "--tls-verify=false", f"docker://{ref}"],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(inspected.stdout)
    assert info["Digest"] == str(built.digest)
    labels = info["Labels"]
    assert labels[OCI_REVISION] == built.source.revision
    assert labels[OCI_VERSION] == "1.2.3"
    assert labels[OCI_SOURCE] == "https://github.com/immoflowme/app"
    assert labels[OCI_CREATED] == "2026-01-15T09:00:00Z"
    assert info["Created"].startswith("2026-01-15T09:00:00")  # the image config's created: the commit time
