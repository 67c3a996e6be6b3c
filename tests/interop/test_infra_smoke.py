"""The test infrastructure itself works: every fixture starts or builds something real.

These run the independent tools (crane, skopeo, umoci, cosign) against what the fixtures made,
so a broken fixture shows up here rather than as a puzzling failure in a feature test.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from fixtures.images import (
    BUSYBOX_DOCKERFILE,
    BuiltImage,
    ContextFile,
    ImageBuilder,
    PublishedImage,
    busybox_context,
)
from fixtures.peers import peer_binary, write_sigstore_registries_d
from fixtures.registry import Registry

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"


def run(*command: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, f"{command[0]} {command[1]} failed:\n{result.stderr}"
    return result.stdout


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# -- images built by buildah ---------------------------------------------------------------


def test_busybox_image_in_registry_has_the_buildah_digest(
    busybox_image: PublishedImage, crane_bin: str
) -> None:
    assert run(crane_bin, "digest", "--insecure", busybox_image.ref).strip() == busybox_image.digest
    # The layout's manifest bytes are exactly what buildah's digest names.
    assert sha256(busybox_image.built.manifest_bytes) == busybox_image.digest


def test_busybox_image_layout_is_readable_by_skopeo_and_umoci(
    busybox_image: PublishedImage, skopeo_bin: str, umoci_bin: str
) -> None:
    raw = subprocess.run(
        [skopeo_bin, "inspect", "--raw", busybox_image.layout_ref], capture_output=True, check=True
    ).stdout
    assert sha256(raw) == busybox_image.digest
    inspected = json.loads(run(skopeo_bin, "inspect", busybox_image.layout_ref))
    assert f"{inspected['Os']}/{inspected['Architecture']}" == busybox_image.built.platforms[0]
    assert inspected["Labels"]["org.opencontainers.image.title"] == "shipflow-busybox-fixture"
    tags = run(umoci_bin, "ls", "--layout", str(busybox_image.layout_path)).split()
    assert busybox_image.built.tag in tags


def test_busybox_image_ran_its_run_steps(busybox_image: PublishedImage, crane_bin: str) -> None:
    config = json.loads(run(crane_bin, "config", "--insecure", busybox_image.digest_ref))
    history = " ".join(entry.get("created_by", "") for entry in config["history"])
    assert "--install" in history
    assert config["config"]["Cmd"] == ["/bin/sh"]
    # The RUN produced real files: the busybox applet links and the release file.
    files = subprocess.run(
        [crane_bin, "export", "--insecure", busybox_image.digest_ref, "-"], capture_output=True, check=True
    ).stdout
    assert b"etc/shipflow/release" in files
    assert b"bin/sh" in files


def test_multiarch_index_has_two_platforms_everywhere(
    multiarch_index: PublishedImage, crane_bin: str, skopeo_bin: str
) -> None:
    index_bytes = multiarch_index.built.manifest_bytes
    index = json.loads(index_bytes)
    assert index["mediaType"] == OCI_INDEX
    platforms = sorted(f"{m['platform']['os']}/{m['platform']['architecture']}" for m in index["manifests"])
    assert platforms == ["linux/amd64", "linux/arm64"]
    assert run(crane_bin, "digest", "--insecure", multiarch_index.ref).strip() == multiarch_index.digest
    remote = subprocess.run(
        [crane_bin, "manifest", "--insecure", multiarch_index.ref], capture_output=True, check=True
    ).stdout
    assert remote == index_bytes
    # Each platform's image really is there, with its own architecture and file.
    for child in index["manifests"]:
        arch = child["platform"]["architecture"]
        child_ref = f"{multiarch_index.registry.host}/{multiarch_index.repo}@{child['digest']}"
        config = json.loads(run(crane_bin, "config", "--insecure", child_ref))
        assert config["architecture"] == arch
        inspected = json.loads(
            run(skopeo_bin, "inspect", "--override-arch", arch, f"{multiarch_index.layout_ref}")
        )
        assert inspected["Architecture"] == arch  # skopeo picked the child from the layout index


def test_builder_caches_and_pushes_to_another_registry(
    image_builder: ImageBuilder, busybox_built: BuiltImage, registry2: Registry, crane_bin: str
) -> None:
    again = image_builder.build("busybox", *_busybox_inputs())
    assert again is busybox_built
    published = image_builder.push(busybox_built, registry2, "copies/busybox", "v1")
    assert run(crane_bin, "digest", "--insecure", published.ref).strip() == busybox_built.digest


def _busybox_inputs() -> tuple[str, dict[str, ContextFile]]:
    return BUSYBOX_DOCKERFILE, busybox_context()


def test_builder_is_reproducible_and_cleans_up(tmp_path: Path) -> None:
    dockerfile = "FROM scratch\nCOPY hello.txt /hello.txt\n"
    files = {"hello.txt": b"hello\n"}
    digests = []
    workdirs = []
    for attempt in ("a", "b"):
        builder = ImageBuilder(tmp_path / attempt, peer_binary("buildah"), peer_binary("skopeo"))
        digests.append(builder.build("hello", dockerfile, files).digest)
        assert builder.storage_root.is_dir()
        builder.close()
        workdirs.append(builder.workdir)
    assert digests[0] == digests[1], "--timestamp 0 builds of the same inputs must match"
    for workdir in workdirs:
        assert not workdir.exists()
        assert str(workdir) not in Path("/proc/self/mounts").read_text()


def test_context_files_cannot_escape_the_build_context(tmp_path: Path) -> None:
    builder = ImageBuilder(tmp_path / "b", peer_binary("buildah"), peer_binary("skopeo"))
    try:
        with pytest.raises(ValueError, match="escapes"):
            builder.build("bad", "FROM scratch\n", {"../outside": b"x"})
    finally:
        builder.close()


# -- peers --------------------------------------------------------------------------------


def test_missing_peer_fails_instead_of_skipping() -> None:
    with pytest.raises(pytest.fail.Exception, match="not installed"):
        peer_binary("shipflow-no-such-peer")


def test_cosign_runs(cosign_bin: str) -> None:
    assert "v2.4.1" in run(cosign_bin, "version")


def test_referrers_registry_lists_referrers(
    referrers_registry: Registry, busybox_built: BuiltImage, image_builder: ImageBuilder
) -> None:
    subject = image_builder.push(busybox_built, referrers_registry, "smoke/referrers")
    base = f"{referrers_registry.url}/v2/smoke/referrers"
    empty = b"{}"
    upload = httpx.post(f"{base}/blobs/uploads/?digest={sha256(empty)}", content=empty)
    if upload.status_code == 202:  # no monolithic POST: finish with PUT on the upload location
        location = httpx.URL(referrers_registry.url).join(upload.headers["Location"])
        upload = httpx.put(location.copy_merge_params({"digest": sha256(empty)}), content=empty)
    assert upload.status_code == 201, upload.text

    subject_descriptor = {
        "mediaType": OCI_MANIFEST,
        "digest": subject.digest,
        "size": len(busybox_built.manifest_bytes),
    }
    artifact = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.shipflow.smoke+json",
            "config": {"mediaType": OCI_EMPTY, "digest": sha256(empty), "size": 2},
            "layers": [{"mediaType": OCI_EMPTY, "digest": sha256(empty), "size": 2}],
            "subject": subject_descriptor,
            "annotations": {"org.shipflow.smoke": "yes"},
        },
        separators=(",", ":"),
    ).encode()
    put = httpx.put(
        f"{base}/manifests/{sha256(artifact)}", content=artifact, headers={"Content-Type": OCI_MANIFEST}
    )
    assert put.status_code == 201, put.text
    assert put.headers.get("OCI-Subject") == subject.digest

    listing = httpx.get(f"{base}/referrers/{subject.digest}")
    assert listing.status_code == 200
    assert listing.headers["Content-Type"].startswith(OCI_INDEX)
    index = listing.json()
    assert index["mediaType"] == OCI_INDEX
    [referrer] = index["manifests"]
    assert referrer["digest"] == sha256(artifact)
    assert referrer["artifactType"] == "application/vnd.shipflow.smoke+json"
    assert referrer["annotations"] == {"org.shipflow.smoke": "yes"}

    filtered = httpx.get(f"{base}/referrers/{subject.digest}", params={"artifactType": "application/other"})
    assert filtered.json()["manifests"] == []


def test_cosign_signature_travels_with_skopeo_registries_d(
    busybox_built: BuiltImage,
    image_builder: ImageBuilder,
    registry: Registry,
    registry2: Registry,
    cosign_bin: str,
    skopeo_bin: str,
    crane_bin: str,
    tmp_path: Path,
) -> None:
    source = image_builder.push(busybox_built, registry, "smoke/signed")
    env = {**os.environ, "COSIGN_PASSWORD": "smoke-test-password"}
    subprocess.run(
        [cosign_bin, "generate-key-pair", "--output-key-prefix", str(tmp_path / "cosign")],
        env=env,
        capture_output=True,
        check=True,
    )
    run(
        cosign_bin,
        "sign",
        "--yes",
        "--key",
        str(tmp_path / "cosign.key"),
        "--tlog-upload=false",
        "--allow-http-registry",
        "--allow-insecure-registry",
        source.digest_ref,
        env=env,
    )
    sig_tag = "sha256-" + source.digest.split(":", 1)[1] + ".sig"
    assert sig_tag in run(crane_bin, "ls", "--insecure", f"{registry.host}/smoke/signed").split()

    registries_d = write_sigstore_registries_d(tmp_path / "registries.d", registry.host, registry2.host)
    run(
        skopeo_bin,
        "--registries.d",
        str(registries_d),
        "copy",
        "--quiet",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        f"docker://{source.digest_ref}",
        f"docker://{registry2.host}/smoke/signed-copy:latest",
    )
    assert sig_tag in run(crane_bin, "ls", "--insecure", f"{registry2.host}/smoke/signed-copy").split()
    run(
        cosign_bin,
        "verify",
        "--key",
        str(tmp_path / "cosign.pub"),
        "--insecure-ignore-tlog=true",
        "--allow-http-registry",
        "--allow-insecure-registry",
        f"{registry2.host}/smoke/signed-copy@{source.digest}",
    )
