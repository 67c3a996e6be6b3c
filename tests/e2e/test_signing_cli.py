"""End to end through the ``shipflow`` CLI: exit codes, output, no secrets.

Most tests run the CLI's ``main()`` in-process (the interpreter start costs seconds on a busy
machine); the secrets test runs the real ``shipflow`` executable as a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.procs import free_port
from fixtures.registry import Registry
from shipflow.cli.main import main
from shipflow.oci.layout import LayoutStore
from shipflow.oci.open import open_store
from shipflow.signing import encrypt_private_key, generate_private_key, load_private_key
from support.signing import make_image

SHIPFLOW = str(Path(sys.executable).parent / "shipflow")

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run ``shipflow ARGS`` in-process; returns a CompletedProcess like the subprocess form."""

    def invoke(
        *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as patch:
            for name in [k for k in os.environ if k.startswith("COSIGN_")]:
                patch.delenv(name)
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            if cwd is not None:
                patch.chdir(cwd)
            patch.setattr(sys, "argv", ["shipflow", *args])
            capsys.readouterr()
            code = 0
            try:
                main()
            except SystemExit as exc:
                code = int(exc.code or 0)
            out = capsys.readouterr()
        return subprocess.CompletedProcess(["shipflow", *args], code, out.out, out.err)

    return invoke


def run_subprocess(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("COSIGN_")}
    return subprocess.run(
        [SHIPFLOW, *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=cwd,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture
def keys(tmp_path: Path, run: Run) -> tuple[Path, Path]:
    result = run("keygen", "--output-key-prefix", str(tmp_path / "release"), env={"COSIGN_PASSWORD": "pw"})
    assert result.returncode == 0, result.stderr
    return tmp_path / "release.key", tmp_path / "release.pub"


def test_keygen_writes_a_loadable_key_and_refuses_to_overwrite(
    run: Run, tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    key, pub = keys
    assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert load_private_key(key.read_bytes(), b"pw").verifier.pem == pub.read_bytes()
    again = run("keygen", "--output-key-prefix", str(tmp_path / "release"), env={"COSIGN_PASSWORD": "pw"})
    assert again.returncode == 2 and "already exists" in again.stderr
    no_password = run("keygen", "--output-key-prefix", str(tmp_path / "x"))
    assert no_password.returncode == 2 and "COSIGN_PASSWORD" in no_password.stderr
    assert not (tmp_path / "x.key").exists()


def test_sign_and_verify_on_the_registry(
    run: Run, registry: Registry, repo_name: str, keys: tuple[Path, Path]
) -> None:
    key, pub = keys
    store = open_store(registry.ref(repo_name))
    digest = make_image(store, "cli", tag="v1")
    image = registry.ref(repo_name, "v1")
    signed = run("sign", image, "--key", str(key), "-a", "env=prod", env={"COSIGN_PASSWORD": "pw"})
    assert signed.returncode == 0, signed.stderr
    assert f"resolved {image} to {digest}" in signed.stderr
    assert f"@{digest}: signed" in signed.stdout

    verified = run("verify", image, "--key", str(pub), "--json", "-a", "env=prod", "--check-reference")
    assert verified.returncode == 0, verified.stderr
    [payload] = json.loads(verified.stdout)
    assert payload["critical"]["image"]["docker-manifest-digest"] == str(digest)
    assert payload["critical"]["identity"]["docker-reference"] == registry.ref(repo_name)
    assert "Verification for" in verified.stderr

    text = run("verify", f"{registry.ref(repo_name)}@{digest}", "--key", str(pub))
    assert text.returncode == 0 and text.stdout.startswith('{"critical":')
    assert "resolved" not in text.stderr  # a digest is never resolved again

    wrong = generate_private_key()
    (key.parent / "wrong.pub").write_bytes(wrong.verifier.pem)
    refused = run("verify", image, "--key", str(key.parent / "wrong.pub"))
    assert refused.returncode == 1 and "does not verify" in refused.stderr and refused.stdout == ""
    missing_annotation = run("verify", image, "--key", str(pub), "-a", "env=dev")
    assert missing_annotation.returncode == 1


def test_verify_exit_codes(
    run: Run, registry: Registry, repo_name: str, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    _, pub = keys
    store = open_store(registry.ref(repo_name))
    make_image(store, "unsigned", tag="v1")
    unsigned = run("verify", registry.ref(repo_name, "v1"), "--key", str(pub))
    assert unsigned.returncode == 1 and "has no signatures" in unsigned.stderr
    assert run("verify", registry.ref(repo_name, "v1")).returncode == 2  # no --key
    assert run("verify", registry.ref(repo_name, "v1"), "--key", str(tmp_path / "nope.pub")).returncode == 2
    not_there = run("verify", registry.ref(repo_name, "missing"), "--key", str(pub))
    assert not_there.returncode == 1
    down = run("verify", f"127.0.0.1:{free_port()}/x/y:v1", "--key", str(pub))
    assert down.returncode == 3, down.stderr


def test_key_rotation_directory_and_wrong_password(run: Run, tmp_path: Path, keys: tuple[Path, Path]) -> None:
    key, pub = keys
    store = LayoutStore(tmp_path / "layout", create=True)
    digest = make_image(store, "rotation", tag="dev")
    image = f"oci:{tmp_path / 'layout'}:dev"
    bad = run("sign", image, "--key", str(key), env={"COSIGN_PASSWORD": "wrong"})
    assert bad.returncode == 2 and "wrong password" in bad.stderr and "Traceback" not in bad.stderr
    assert run("sign", image, "--key", str(key), env={"COSIGN_PASSWORD": "pw"}).returncode == 0
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    (trusted / "old.pub").write_bytes(generate_private_key().verifier.pem)
    (trusted / "new.pub").write_bytes(pub.read_bytes())
    ok = run("verify", f"oci:{tmp_path / 'layout'}@{digest}", "--key", str(trusted))
    assert ok.returncode == 0, ok.stderr
    both = run("verify", image, "--key", str(trusted / "old.pub"), "--key", str(pub), "--require-all")
    assert both.returncode == 1 and "policy not met" in both.stderr


def test_attest_and_verify_attestation(
    run: Run, registry: Registry, repo_name: str, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    key, pub = keys
    store = open_store(registry.ref(repo_name))
    make_image(store, "attest-cli", tag="v1")
    sbom = tmp_path / "sbom.json"
    sbom.write_text('{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}')
    image = registry.ref(repo_name, "v1")
    result = run(
        "attest",
        image,
        "--predicate",
        str(sbom),
        "--type",
        "cyclonedx",
        env={"COSIGN_PASSWORD": "pw", "COSIGN_PRIVATE_KEY": str(key)},
    )
    assert result.returncode == 0, result.stderr
    shown = run("verify-attestation", image, "--key", str(pub), "--type", "cyclonedx")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == json.loads(sbom.read_text())
    as_json = run("verify-attestation", image, "--key", str(pub), "--type", "cyclonedx", "--json")
    [statement] = json.loads(as_json.stdout)
    assert statement["predicateType"] == "https://cyclonedx.org/bom"
    other_type = run("verify-attestation", image, "--key", str(pub), "--type", "slsaprovenance1")
    assert other_type.returncode == 1
    bad_type = run(
        "attest", image, "--predicate", str(sbom), "--type", "bogus", env={"COSIGN_PRIVATE_KEY": str(key)}
    )
    assert bad_type.returncode == 2
    (tmp_path / "notjson").write_text("nope")
    not_json = run(
        "attest",
        image,
        "--predicate",
        str(tmp_path / "notjson"),
        "--type",
        "spdxjson",
        env={"COSIGN_PASSWORD": "pw", "COSIGN_PRIVATE_KEY": str(key)},
    )
    assert not_json.returncode == 2 and "not valid JSON" in not_json.stderr


def test_no_secret_in_any_output_at_debug_level(registry: Registry, repo_name: str, tmp_path: Path) -> None:
    """Sign with a sentinel password and a sentinel key (as PEM text in COSIGN_PRIVATE_KEY) at
    -vv; neither may appear anywhere in stdout or stderr (where the logs go)."""
    password = "SENTINEL-PASSWORD-4f2a9c"
    key = generate_private_key()
    pem = encrypt_private_key(key, password.encode()).decode()
    pem_lines = [line for line in pem.splitlines() if not line.startswith("-----")]
    store = open_store(registry.ref(repo_name))
    make_image(store, "sentinel", tag="v1")
    env = {"COSIGN_PASSWORD": password, "COSIGN_PRIVATE_KEY": pem}
    predicate = tmp_path / "predicate.json"
    predicate.write_text('{"note": "sentinel test"}')
    outputs = [
        run_subprocess("-vv", "sign", registry.ref(repo_name, "v1"), env=env),
        run_subprocess(
            "-vv", "attest", registry.ref(repo_name, "v1"), "--predicate", str(predicate), env=env
        ),
        run_subprocess("-vv", "sign", registry.ref(repo_name, "v1"), env={**env, "COSIGN_PASSWORD": "wrong"}),
    ]
    assert outputs[0].returncode == 0, outputs[0].stderr
    assert "DEBUG" in outputs[0].stderr  # debug logging really was on
    assert outputs[1].returncode == 0, outputs[1].stderr
    assert outputs[2].returncode == 2
    private_value = str(key.key.private_numbers().private_value)
    for result in outputs:
        for text in (result.stdout, result.stderr):
            assert password not in text
            assert private_value not in text
            assert not any(line in text for line in pem_lines)


def test_sign_without_password_off_a_terminal_is_a_usage_error(
    run: Run, tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    """No TTY and no COSIGN_PASSWORD: never a prompt (it would hang CI), a clear error instead."""
    key, _ = keys
    store = LayoutStore(tmp_path / "layout", create=True)
    make_image(store, "no password", tag="v1")
    result = run("sign", f"oci:{tmp_path / 'layout'}:v1", "--key", str(key))
    assert result.returncode == 2
    assert "no password" in result.stderr and "COSIGN_PASSWORD" in result.stderr
    assert LayoutStore(tmp_path / "layout").list_tags() == ["v1"]  # nothing half-written


def test_check_reference_refuses_a_signature_for_another_repository(
    run: Run, tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    key, pub = keys
    store = LayoutStore(tmp_path / "layout", create=True)
    make_image(store, "identity", tag="v1")
    image = f"oci:{tmp_path / 'layout'}:v1"
    signed = run(
        "sign", image, "--key", str(key), "--identity", "ghcr.io/org/app", env={"COSIGN_PASSWORD": "pw"}
    )
    assert signed.returncode == 0, signed.stderr
    assert run("verify", image, "--key", str(pub)).returncode == 0
    refused = run("verify", image, "--key", str(pub), "--check-reference")
    assert refused.returncode == 1 and "docker-reference 'ghcr.io/org/app'" in refused.stderr
