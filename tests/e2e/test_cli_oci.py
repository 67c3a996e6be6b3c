"""The OCI commands end to end: the real ``shipflow`` executable against real registries,
layouts and peer tools (skopeo, crane, umoci), checking exit codes, messages and digests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from fixtures.images import BuiltImage, ImageBuilder, PublishedImage
from fixtures.procs import free_port
from fixtures.registry import Registry
from shipflow.oci import mediatypes as mt
from shipflow.oci.open import open_store
from shipflow.oci.registry.config import RegistryConfig
from support.oci import put_artifact

SHIPFLOW = Path(sys.executable).parent / "shipflow"


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


def shipflow(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Run:
    proc = subprocess.run(
        [str(SHIPFLOW), *args], capture_output=True, text=True, input=stdin, timeout=120, env=env, check=False
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def ok(*args: str) -> Run:
    result = shipflow(*args)
    assert result.code == 0, f"shipflow {' '.join(args)} exited {result.code}:\n{result.err}"
    return result


def crane_digest(crane_bin: str, ref: str) -> str:
    return subprocess.run(
        [crane_bin, "digest", "--insecure", ref], capture_output=True, text=True, check=True
    ).stdout.strip()


def skopeo_digest(skopeo_bin: str, ref: str) -> str:
    return subprocess.run(
        [skopeo_bin, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", f"docker://{ref}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


# -- errors and exit codes ---------------------------------------------------------------------


def test_malformed_reference_exits_2_with_the_reason() -> None:
    result = shipflow("inspect", "Ghcr.io/Org/App:tag")
    assert result.code == 2
    assert "invalid repository name" in result.err
    assert "hint:" in result.err
    assert "Traceback" not in result.err


def test_malformed_digest_exits_2() -> None:
    result = shipflow("digest", "127.0.0.1:5000/app@sha256:1234")
    assert result.code == 2
    assert "64" in result.err


def test_missing_tag_exits_1_with_a_hint(busybox_image: PublishedImage) -> None:
    result = shipflow("inspect", busybox_image.registry.ref(busybox_image.repo, "no-such-tag"))
    assert result.code == 1
    assert "no-such-tag" in result.err
    assert "hint:" in result.err and "tags" in result.err


def test_missing_tag_in_a_layout_exits_1(busybox_built: BuiltImage) -> None:
    result = shipflow("digest", f"oci:{busybox_built.layout_path}:nope")
    assert result.code == 1
    assert "nope" in result.err and "hint:" in result.err


def test_registry_down_exits_3() -> None:
    # One attempt: the retry policy has its own tests; here only the exit code matters.
    env = {**os.environ, "SHIPFLOW_REGISTRY_MAX_ATTEMPTS": "1"}
    result = shipflow("digest", f"127.0.0.1:{free_port()}/app:v1", env=env)
    assert result.code == 3
    assert "error:" in result.err
    assert "Traceback" not in result.err


def test_copy_from_a_missing_tag_writes_nothing(busybox_built: BuiltImage, tmp_path: Path) -> None:
    result = shipflow("copy", f"oci:{busybox_built.layout_path}:nope", f"oci:{tmp_path / 'dst'}:x")
    assert result.code == 1
    assert not (tmp_path / "dst").exists()


def test_copy_to_a_digest_is_a_usage_error(busybox_built: BuiltImage, tmp_path: Path) -> None:
    result = shipflow("copy", busybox_built.layout_ref, f"oci:{tmp_path / 'dst'}@{busybox_built.digest}")
    assert result.code == 2
    assert "digest" in result.err


def test_tags_rejects_a_tagged_reference(busybox_built: BuiltImage) -> None:
    result = shipflow("tags", busybox_built.layout_ref)
    assert result.code == 2
    assert "shipflow tags oci:" in result.err


def test_username_without_password_is_a_usage_error(busybox_image: PublishedImage) -> None:
    result = shipflow("digest", "--username", "someone", busybox_image.ref)
    assert result.code == 2
    assert "--password-stdin" in result.err


def test_credentials_for_two_registries_must_name_one(
    busybox_image: PublishedImage, registry2: Registry, repo_name: str
) -> None:
    result = shipflow(
        "copy", "--username", "u", "--password", "p", busybox_image.ref, registry2.ref(repo_name, "x")
    )
    assert result.code == 2
    assert "--credentials-host" in result.err


def test_password_stdin_logs_in(auth_registry: Registry, busybox_built: BuiltImage, repo_name: str) -> None:
    assert auth_registry.username and auth_registry.password
    target = auth_registry.ref(repo_name, "v1")
    denied = shipflow("copy", busybox_built.layout_ref, target)
    assert denied.code == 3 and "hint:" in denied.err

    result = shipflow(
        "copy",
        "--username",
        auth_registry.username,
        "--password-stdin",
        busybox_built.layout_ref,
        target,
        stdin=auth_registry.password + "\n",
    )
    assert result.code == 0, result.err
    assert auth_registry.password not in result.out + result.err


# -- read commands and --json ------------------------------------------------------------------


def test_digest_prints_only_the_digest(busybox_image: PublishedImage) -> None:
    assert ok("digest", busybox_image.ref).out == busybox_image.digest + "\n"
    assert ok("digest", busybox_image.layout_ref).out == busybox_image.digest + "\n"
    data = ok("digest", "--json", busybox_image.ref).json()
    assert data == {
        "reference": busybox_image.ref,
        "digest": busybox_image.digest,
        "mediaType": busybox_image.built.media_type,
        "size": len(busybox_image.built.manifest_bytes),
    }


def test_inspect_image_json(busybox_image: PublishedImage) -> None:
    data = ok("inspect", "--json", busybox_image.ref).json()
    assert isinstance(data, dict)
    assert data["digest"] == busybox_image.digest
    assert data["kind"] == "image"
    assert data["os"] == "linux"
    assert data["architecture"]
    assert data["layers"] >= 1 and data["layerBytes"] > 0
    assert busybox_image.tag in data["tags"]
    assert data["tagsComplete"] is True


def test_inspect_human_output_names_the_essentials(busybox_image: PublishedImage) -> None:
    out = ok("inspect", busybox_image.ref).out
    for expected in (busybox_image.digest, "layers", "linux/", busybox_image.tag):
        assert expected in out


def test_inspect_index_lists_platforms(multiarch_index: PublishedImage) -> None:
    data = ok("inspect", "--json", multiarch_index.ref).json()
    assert isinstance(data, dict)
    assert data["kind"] == "index"
    assert sorted(p["platform"] for p in data["platforms"]) == ["linux/amd64", "linux/arm64"]
    assert all(p["layers"] >= 1 for p in data["platforms"])
    human = ok("inspect", multiarch_index.ref).out
    assert "linux/amd64" in human and "linux/arm64" in human


def test_inspect_raw_is_the_exact_manifest(busybox_image: PublishedImage, crane_bin: str) -> None:
    raw = subprocess.run(
        [str(SHIPFLOW), "inspect", "--raw", busybox_image.ref], capture_output=True, check=True
    )
    crane = subprocess.run(
        [crane_bin, "manifest", "--insecure", busybox_image.ref], capture_output=True, check=True
    ).stdout
    assert raw.stdout == crane == busybox_image.built.manifest_bytes


def test_tags_lists_sorted_and_as_json(
    image_builder: ImageBuilder, busybox_built: BuiltImage, registry: Registry, repo_name: str
) -> None:
    for tag in ("b", "a", "c"):
        image_builder.push(busybox_built, registry, repo_name, tag)
    repo = f"{registry.host}/{repo_name}"
    assert ok("tags", repo).out.split() == ["a", "b", "c"]
    assert ok("tags", "--json", repo).json() == {"repository": repo, "tags": ["a", "b", "c"]}


# -- copy and tag through the CLI, checked by peers --------------------------------------------


def test_copy_of_a_skopeo_pushed_image_keeps_the_digest(
    busybox_image: PublishedImage, registry2: Registry, repo_name: str, crane_bin: str, skopeo_bin: str
) -> None:
    target = registry2.ref(repo_name, "copied")
    result = ok("copy", "--json", busybox_image.ref, target)
    data = result.json()
    assert isinstance(data, dict)
    assert data["digest"] == busybox_image.digest
    assert data["destination"] == target
    assert data["blobs"]["copied"] >= 2 and data["bytesCopied"] > 0

    assert skopeo_digest(skopeo_bin, busybox_image.ref) == busybox_image.digest
    assert skopeo_digest(skopeo_bin, target) == busybox_image.digest
    assert crane_digest(crane_bin, target) == busybox_image.digest
    # ... and crane can copy on what shipflow wrote.
    onward = registry2.ref(repo_name, "by-crane")
    subprocess.run([crane_bin, "copy", "--insecure", target, onward], capture_output=True, check=True)
    assert crane_digest(crane_bin, onward) == busybox_image.digest


def test_copy_of_a_multiplatform_index_keeps_every_digest(
    multiarch_index: PublishedImage, registry2: Registry, repo_name: str, crane_bin: str, tmp_path: Path
) -> None:
    target = registry2.ref(repo_name, "multi")
    ok("copy", multiarch_index.ref, target)
    assert crane_digest(crane_bin, target) == multiarch_index.digest
    index = json.loads(
        subprocess.run([crane_bin, "manifest", "--insecure", target], capture_output=True, check=True).stdout
    )
    for child in index["manifests"]:
        platform = f"{child['platform']['os']}/{child['platform']['architecture']}"
        child_digest = crane_digest(crane_bin, f"{target}@{child['digest']}")
        assert child_digest == child["digest"], platform

    ok("copy", target, f"oci:{tmp_path / 'back'}:multi")
    assert ok("digest", f"oci:{tmp_path / 'back'}:multi").out.strip() == multiarch_index.digest


def test_copy_summary_and_cross_repo_mount(
    busybox_image: PublishedImage, registry: Registry, repo_name: str
) -> None:
    out = ok("copy", busybox_image.ref, registry.ref(repo_name, "m")).out
    assert busybox_image.digest in out
    assert "0 copied" in out and "mounted" in out


def test_docker_schema2_image_keeps_its_digest(
    busybox_built: BuiltImage,
    registry: Registry,
    registry2: Registry,
    repo_name: str,
    skopeo_bin: str,
    crane_bin: str,
    tmp_path: Path,
) -> None:
    # skopeo converts the OCI image to a Docker schema 2 manifest on the way in; shipflow must
    # carry that manifest (a different digest) byte for byte.
    source = registry.ref(repo_name, "docker")
    subprocess.run(
        [
            skopeo_bin,
            "copy",
            "--quiet",
            "--format",
            "v2s2",
            "--dest-tls-verify=false",
            busybox_built.layout_ref,
            f"docker://{source}",
        ],
        capture_output=True,
        check=True,
    )
    docker_digest = crane_digest(crane_bin, source)
    data = ok("inspect", "--json", source).json()
    assert isinstance(data, dict)
    assert data["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert data["digest"] == docker_digest

    target = registry2.ref(repo_name, "docker")
    ok("copy", source, target)
    ok("copy", target, f"oci:{tmp_path / 'store'}:docker")
    assert crane_digest(crane_bin, target) == docker_digest
    assert ok("digest", f"oci:{tmp_path / 'store'}:docker").out.strip() == docker_digest


def test_layout_written_by_shipflow_is_read_by_umoci_and_skopeo(
    busybox_image: PublishedImage, umoci_bin: str, skopeo_bin: str, repo_name: str, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    ok("copy", busybox_image.ref, f"oci:{store}:v1")

    stat = subprocess.run(
        [umoci_bin, "stat", "--json", "--image", f"{store}:v1"], capture_output=True, text=True, check=False
    )
    assert stat.returncode == 0, stat.stderr
    assert json.loads(stat.stdout)["history"]
    bundle = tmp_path / "bundle"
    unpack = subprocess.run(
        [umoci_bin, "unpack", "--rootless", "--image", f"{store}:v1", str(bundle)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert unpack.returncode == 0, unpack.stderr
    assert (bundle / "rootfs" / "bin" / "busybox").is_file()

    digest = subprocess.run(
        [skopeo_bin, "inspect", "--format", "{{.Digest}}", f"oci:{store}:v1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert digest == busybox_image.digest
    pushed = subprocess.run(
        [
            skopeo_bin,
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
            f"oci:{store}:v1",
            f"docker://{busybox_image.registry.ref(repo_name, 'from-skopeo')}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert pushed.returncode == 0, pushed.stderr
    assert (
        ok("digest", busybox_image.registry.ref(repo_name, "from-skopeo")).out.strip() == busybox_image.digest
    )


def test_layout_written_by_umoci_is_copied_by_shipflow(
    busybox_built: BuiltImage,
    umoci_bin: str,
    registry: Registry,
    repo_name: str,
    tmp_path: Path,
    crane_bin: str,
) -> None:
    # umoci writes manifests without a mediaType field: the digest must still survive.
    private = busybox_built.copy_layout(tmp_path / "layout")
    subprocess.run(
        [
            umoci_bin,
            "config",
            "--image",
            f"{private.layout_path}:{private.tag}",
            "--tag",
            "umoci",
            "--config.env",
            "A=1",
        ],
        capture_output=True,
        check=True,
    )
    local = ok("digest", f"oci:{private.layout_path}:umoci").out.strip()
    target = registry.ref(repo_name, "umoci")
    ok("copy", f"oci:{private.layout_path}:umoci", target)
    assert crane_digest(crane_bin, target) == local


def test_tag_by_digest_and_by_tag(
    busybox_image: PublishedImage, registry: Registry, repo_name: str, crane_bin: str
) -> None:
    ok("copy", busybox_image.ref, registry.ref(repo_name, "build"))
    repo = f"{registry.host}/{repo_name}"

    by_digest = ok("tag", f"{repo}@{busybox_image.digest}", "dev")
    assert f"{repo}:dev" in by_digest.out
    by_tag = ok("tag", f"{repo}:dev", "staging", "qa")
    assert "resolved" in by_tag.err and busybox_image.digest in by_tag.err

    for tag in ("dev", "staging", "qa"):
        assert crane_digest(crane_bin, f"{repo}:{tag}") == busybox_image.digest
    data = ok("tag", "--json", f"{repo}@{busybox_image.digest}", "prod").json()
    assert data == {
        "repository": repo,
        "digest": busybox_image.digest,
        "tags": ["prod"],
        "resolvedFrom": None,
    }


def test_tag_of_a_missing_digest_exits_1(busybox_image: PublishedImage) -> None:
    missing = "sha256:" + "0" * 64
    result = shipflow("tag", f"{busybox_image.registry.host}/{busybox_image.repo}@{missing}", "x")
    assert result.code == 1
    assert "hint:" in result.err


def test_copy_with_attachments_carries_signature_tag_and_referrer(
    image_builder: ImageBuilder,
    busybox_built: BuiltImage,
    registry: Registry,
    registry2: Registry,
    repo_name: str,
    crane_bin: str,
    tmp_path: Path,
) -> None:
    # Set up the source in-process (faster than more CLI runs): image, a cosign-style .sig tag
    # (an OCI artifact, as cosign writes it) and an SBOM referrer recorded by the fallback tag.
    image_builder.push(busybox_built, registry, repo_name, "v1")
    source = open_store(f"{registry.host}/{repo_name}", config=RegistryConfig.from_env({}))
    image = source.get_manifest("v1")
    sig_tag = f"{image.digest.tag_form}.sig"
    signature = put_artifact(source, b'{"critical":{}}', artifact_type=mt.COSIGN_SIMPLESIGNING)
    source.put_manifest(signature, tag=sig_tag)
    sbom = put_artifact(source, b"{}", artifact_type="application/spdx+json", subject=image)
    source.put_manifest(sbom)
    source.add_referrer(image.digest, sbom)

    dst_repo = f"{registry2.host}/{repo_name}"
    data = ok(
        "copy", "--with-attachments", "--json", f"{registry.host}/{repo_name}:v1", f"{dst_repo}:v1"
    ).json()
    assert isinstance(data, dict)
    assert sig_tag in data["attachments"]
    assert any(str(sbom.digest)[:19] in entry for entry in data["attachments"])

    listed = subprocess.run(
        [crane_bin, "ls", "--insecure", dst_repo], capture_output=True, text=True, check=True
    )
    assert sig_tag in listed.stdout.split()
    copied_sig = subprocess.run(
        [crane_bin, "manifest", "--insecure", f"{dst_repo}:{sig_tag}"], capture_output=True, check=True
    ).stdout
    assert copied_sig == signature.data
    referrers_index = subprocess.run(
        [crane_bin, "manifest", "--insecure", f"{dst_repo}:{image.digest.tag_form}"],
        capture_output=True,
        check=True,
    ).stdout
    assert [m["digest"] for m in json.loads(referrers_index)["manifests"]] == [str(sbom.digest)]

    plain = tmp_path / "plain"
    ok("copy", f"{dst_repo}:v1", f"oci:{plain}:v1")
    assert ok("tags", f"oci:{plain}").out.split() == ["v1"]
