"""``shipflow build`` as a user runs it: the real executable, exit codes, outputs, reuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.example import ExampleRepo

SHIPFLOW = str(Path(sys.executable).parent / "shipflow")
pytestmark = pytest.mark.slow


def shipflow(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "COSIGN_", "SOURCE_DATE"))}
    return subprocess.run(
        [SHIPFLOW, *args], capture_output=True, text=True, cwd=cwd, env={**clean, **(env or {})}, timeout=600
    )


def test_build_reports_outputs_then_reuses(example_repo: ExampleRepo, tmp_path: Path) -> None:
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    gh = {"GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)}
    store = f"oci:{tmp_path / 'store'}"
    first = shipflow(
        "build",
        str(example_repo.path),
        "--image",
        store,
        "-t",
        "1.2.3",
        "--build-arg",
        "VERSION=1.2.3",
        "--json",
        env=gh,
    )
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["reused"] is False and data["version"] == "1.2.3"
    assert data["image"] == f"{store}@{data['digest']}"
    assert data["tags"] == [f"build-{data['fingerprint'].removeprefix('sha256:')}", "1.2.3"]
    assert "build: building Dockerfile with buildah" in first.stderr
    lines = outputs.read_text().splitlines()
    assert f"digest={data['digest']}" in lines and "reused=false" in lines
    assert "### shipflow build" in summary.read_text() and data["digest"] in summary.read_text()

    second = shipflow(
        "build", str(example_repo.path), "--image", store, "--build-arg", "VERSION=1.2.3", env=gh
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == f"reused {data['image']}"
    assert "nothing was built" in second.stderr
    assert "reused=true" in outputs.read_text().splitlines()


def test_attested_provenance_verifies(example_repo: ExampleRepo, tmp_path: Path) -> None:
    env = {"COSIGN_PASSWORD": "build-e2e"}
    assert shipflow("keygen", cwd=tmp_path, env=env).returncode == 0
    store = f"oci:{tmp_path / 'store'}"
    built = shipflow(
        "build",
        str(example_repo.path),
        "--image",
        store,
        "--build-arg",
        "VERSION=1.2.3",
        "--attest",
        "--key",
        str(tmp_path / "cosign.key"),
        "--provenance",
        str(tmp_path / "provenance.json"),
        "--json",
        env=env,
    )
    assert built.returncode == 0, built.stderr
    data = json.loads(built.stdout)
    assert data["provenanceAttestation"] == f"sha256-{data['digest'].removeprefix('sha256:')}.att"
    predicate = json.loads((tmp_path / "provenance.json").read_text())
    assert predicate["buildDefinition"]["internalParameters"]["buildInputsFingerprint"] == data["fingerprint"]

    verified = shipflow(
        "verify-attestation",
        data["image"],
        "--key",
        str(tmp_path / "cosign.pub"),
        "--type",
        "slsaprovenance1",
        "--json",
    )
    assert verified.returncode == 0, verified.stderr
    statements = json.loads(verified.stdout)
    assert statements[0]["predicateType"] == "https://slsa.dev/provenance/v1"

    again = shipflow(
        "build",
        str(example_repo.path),
        "--image",
        store,
        "--build-arg",
        "VERSION=1.2.3",
        "--attest",
        "--key",
        str(tmp_path / "cosign.key"),
        env=env,
    )
    assert again.returncode == 0 and "no new provenance" in again.stderr


def test_exit_codes(example_repo: ExampleRepo, tmp_path: Path) -> None:
    tagged = shipflow("build", str(example_repo.path), "--image", f"oci:{tmp_path / 's'}:tag")
    assert tagged.returncode == 2 and "names a tag or digest" in tagged.stderr

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "Dockerfile").write_text("FROM scratch\nCOPY nothing-here /x\n")
    no_revision = shipflow("build", str(plain), "--image", f"oci:{tmp_path / 's'}")
    assert no_revision.returncode == 2 and "--revision" in no_revision.stderr

    failed = shipflow("build", str(plain), "--image", f"oci:{tmp_path / 's'}", "--revision", "a" * 40)
    assert failed.returncode == 1, failed.stderr
    assert "nothing-here" in failed.stderr

    bad_arg = shipflow("build", str(plain), "--image", f"oci:{tmp_path / 's'}", "--build-arg", "NOVALUE")
    assert bad_arg.returncode == 2 and "NAME=VALUE" in bad_arg.stderr

    no_key = shipflow("build", str(plain), "--image", f"oci:{tmp_path / 's'}", "--attest")
    assert no_key.returncode == 2 and "signing key" in no_key.stderr


def test_help_explains_build_once() -> None:
    result = shipflow("build", "--help")
    assert result.returncode == 0
    assert "--rebuild" in result.stdout and "same inputs" in result.stdout


def test_image_defaults_to_shipflow_yaml(example_repo: ExampleRepo, tmp_path: Path) -> None:
    from shipflow.signing import generate_private_key

    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "cosign.pub").write_bytes(generate_private_key().verifier.pem)
    (tmp_path / "shipflow.yaml").write_text(
        "image: oci:./store\nkeys: {trusted: [keys/cosign.pub]}\nenvironments:\n  dev: {promoted_by: [ci]}\n"
        "roles: {ci: [bot]}\n"
    )
    built = shipflow("build", str(example_repo.path), "--build-arg", "VERSION=1.2.3", "--json", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["image"].startswith(
        f"oci:{tmp_path / 'store'}@sha256:"
    )  # relative to the file
    assert (tmp_path / "store" / "index.json").is_file()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    missing = shipflow("build", str(example_repo.path), cwd=elsewhere)
    assert missing.returncode == 2 and "shipflow init" in missing.stderr
