"""Builder backends: every --builder choice is wired, and the commands they run are right.

No builder runs here (unit tier): the docker buildx backend cannot be run on these machines
at all (there is no Docker daemon), so its command construction is what this file proves;
the buildah backend runs for real in tests/integration/build.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipflow.build._builders import (
    BuildahBuilder,
    BuilderChoice,
    BuilderOptions,
    BuildRequest,
    BuildxBuilder,
    builder_for,
    host_platform,
)
from shipflow.build.errors import BuilderUnavailable
from shipflow.errors import InfrastructureError


@pytest.fixture
def fake_bins(tmp_path: Path) -> BuilderOptions:
    """Executables named like the builders (never run: constructors only look them up)."""
    for name in ("buildah", "docker"):
        path = tmp_path / "bin" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text("#!/bin/sh\nexit 99\n")
        path.chmod(0o755)
    return BuilderOptions(buildah=str(tmp_path / "bin" / "buildah"), docker=str(tmp_path / "bin" / "docker"))


def request(tmp_path: Path, **changes: object) -> BuildRequest:
    values: dict[str, object] = {
        "context": tmp_path / "ctx",
        "dockerfile": tmp_path / "ctx" / "Dockerfile",
        "build_args": {"VERSION": "1.2.0", "A": "x y"},
        "labels": {"org.opencontainers.image.version": "1.2.0"},
        "platform": "linux/amd64",
        "timestamp": 1700000000,
        "name": "localhost/shipflow-build/image:abc",
        "output": tmp_path / "out",
    }
    values.update(changes)
    return BuildRequest(**values)  # type: ignore[arg-type]


EXPECTED = {
    BuilderChoice.BUILDAH: BuildahBuilder,
    BuilderChoice.BUILDX: BuildxBuilder,
    BuilderChoice.AUTO: BuildahBuilder,
}


@pytest.mark.parametrize("choice", list(BuilderChoice))
def test_every_choice_is_wired(choice: BuilderChoice, fake_bins: BuilderOptions) -> None:
    assert set(EXPECTED) == set(BuilderChoice), "a new choice needs a backend and a line here"
    builder = builder_for(choice, fake_bins)
    try:
        assert isinstance(builder, EXPECTED[choice])
        assert builder.name in {"buildah", "buildx"}
    finally:
        builder.close()


def test_missing_builders_are_infrastructure_errors(tmp_path: Path) -> None:
    options = BuilderOptions(buildah=str(tmp_path / "none"), docker=str(tmp_path / "none"))
    for choice in BuilderChoice:
        with pytest.raises(BuilderUnavailable) as caught:
            builder_for(choice, options)
        assert isinstance(caught.value, InfrastructureError) and caught.value.hint


def test_buildah_bud_command(tmp_path: Path, fake_bins: BuilderOptions) -> None:
    builder = BuildahBuilder(fake_bins)
    try:
        cmd = builder.bud_command(request(tmp_path, target="runtime"), tmp_path / "iid")
        assert cmd[0] == fake_bins.buildah
        assert cmd[1:7] == [
            "--storage-driver",
            "vfs",
            "--root",
            str(builder.root),
            "--runroot",
            str(builder.runroot),
        ]
        assert cmd[7] == "bud"
        flags = cmd[8:]
        assert flags[flags.index("--isolation") + 1] == "chroot"
        assert flags[flags.index("--timestamp") + 1] == "1700000000"
        assert "--identity-label=false" in flags
        assert flags[flags.index("--format") + 1] == "oci"
        assert flags[flags.index("--platform") + 1] == "linux/amd64"
        assert flags[flags.index("-f") + 1] == str(tmp_path / "ctx" / "Dockerfile")
        assert flags[flags.index("--target") + 1] == "runtime"
        # build args and labels sorted, one flag each, values kept whole (no shell involved)
        args = [flags[i + 1] for i, f in enumerate(flags) if f == "--build-arg"]
        assert args == ["A=x y", "VERSION=1.2.0"]
        assert [flags[i + 1] for i, f in enumerate(flags) if f == "--label"] == [
            "org.opencontainers.image.version=1.2.0"
        ]
        assert cmd[-1] == str(tmp_path / "ctx")
        push = builder.push_command(request(tmp_path), tmp_path / "digest")
        assert push[7:] == [
            "push",
            "--quiet",
            "--format",
            "oci",
            "--digestfile",
            str(tmp_path / "digest"),
            "localhost/shipflow-build/image:abc",
            f"oci:{tmp_path / 'out'}:latest",
        ]
        assert builder.ephemeral and builder.root.parent.exists()
    finally:
        builder.close()
    assert not builder.root.parent.exists()  # the private storage is gone


def test_buildah_options_from_env_and_flags(tmp_path: Path, fake_bins: BuilderOptions) -> None:
    env = {
        "BUILDAH_ISOLATION": "oci",
        "STORAGE_DRIVER": "overlay",
        "SHIPFLOW_BUILDAH_ROOT": str(tmp_path / "keep"),
    }
    options = BuilderOptions.from_env(env, buildah=fake_bins.buildah)
    assert (options.isolation, options.storage_driver, options.storage_root) == (
        "oci",
        "overlay",
        tmp_path / "keep",
    )
    flagged = BuilderOptions.from_env(env, isolation="chroot", storage_root=None)
    assert flagged.isolation == "chroot" and flagged.storage_root == tmp_path / "keep"
    builder = BuildahBuilder(options)
    try:
        cmd = builder.bud_command(request(tmp_path), tmp_path / "iid")
        assert cmd[1:5] == ["--storage-driver", "overlay", "--root", str(tmp_path / "keep")]
        assert cmd[cmd.index("--isolation") + 1] == "oci"
        assert not builder.ephemeral
    finally:
        builder.close()
    assert BuilderOptions.from_env({}) == BuilderOptions()


def test_buildx_build_command(tmp_path: Path, fake_bins: BuilderOptions) -> None:
    builder = BuildxBuilder(fake_bins)
    try:
        req = request(tmp_path)
        cmd = builder.build_command(req, tmp_path / "meta.json")
        assert cmd[:3] == [fake_bins.docker, "buildx", "build"]
        assert cmd[cmd.index("--file") + 1] == str(req.dockerfile)
        assert cmd[cmd.index("--platform") + 1] == "linux/amd64"
        assert "--provenance=false" in cmd and "--sbom=false" in cmd
        assert (
            cmd[cmd.index("--output") + 1]
            == f"type=oci,dest={tmp_path / 'out'},tar=false,rewrite-timestamp=true"
        )
        assert cmd[cmd.index("--metadata-file") + 1] == str(tmp_path / "meta.json")
        assert [cmd[i + 1] for i, f in enumerate(cmd) if f == "--build-arg"] == ["A=x y", "VERSION=1.2.0"]
        assert "--target" not in cmd
        assert cmd[-1] == str(req.context)
        env = builder.build_environ(req)
        assert env["SOURCE_DATE_EPOCH"] == "1700000000"
        assert builder.reports_base_digests is False
    finally:
        builder.close()


def test_buildx_metadata_digest(tmp_path: Path) -> None:
    meta = tmp_path / "meta.json"
    digest = "sha256:" + "c" * 64
    meta.write_text(json.dumps({"containerimage.digest": digest, "containerimage.descriptor": {}}))
    assert str(BuildxBuilder.digest_from_metadata(meta)) == digest
    meta.write_text("{}")
    with pytest.raises(InfrastructureError, match="metadata"):
        BuildxBuilder.digest_from_metadata(meta)


def test_host_platform_is_oci_form() -> None:
    assert host_platform().startswith("linux/") and host_platform().count("/") in (1, 2)
