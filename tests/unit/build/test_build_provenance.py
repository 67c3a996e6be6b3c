"""SLSA v1 provenance from a build result, and where the source URL comes from."""

from __future__ import annotations

import json

import pytest

from shipflow.build._context import ContextDigest
from shipflow.build._inputs import FINGERPRINT_LABEL, BuildInputs
from shipflow.build.core import BaseImageDigest, BuildResult, image_labels
from shipflow.build.provenance import BUILD_TYPE, SLSA_PROVENANCE_V1, provenance_for, provenance_predicate
from shipflow.build.source import SourceInfo, clean_repository_url
from shipflow.errors import UsageError
from shipflow.oci.digest import Digest
from shipflow.oci.reference import parse_reference
from shipflow.signing.dsse import PREDICATE_TYPES

REV = "4ee586770b5cd46b7623978e87bdf5ed606df6fd"
DIGEST = Digest.parse("sha256:" + "d" * 64)


def result(*, reused: bool = False, bases: tuple[BaseImageDigest, ...] = ()) -> BuildResult:
    inputs = BuildInputs.create(
        revision=REV,
        dockerfile="Dockerfile",
        dockerfile_digest="sha256:" + "1" * 64,
        context_digest="sha256:" + "2" * 64,
        build_args={"VERSION": "1.2.0"},
        platform="linux/amd64",
    )
    source = SourceInfo(REV, 1768467600, "https://github.com/immoflowme/app", "1.2.0", False, "")
    return BuildResult(
        image=parse_reference("ghcr.io/immoflowme/app").by_digest(DIGEST),
        digest=DIGEST,
        reused=reused,
        inputs=inputs,
        source=source,
        context=ContextDigest("sha256:" + "2" * 64, 9, 1988753, ".dockerignore"),
        labels=image_labels(source, 1768467600, inputs.fingerprint, {}),
        tags=(),
        source_date_epoch=1768467600,
        builder=None if reused else "buildah",
        builder_version=None if reused else "1.28.2",
        builder_id="https://github.com/immoflowme/app/.github/workflows/build-and-sign.yml@refs/heads/main",
        invocation_id="https://github.com/immoflowme/app/actions/runs/1/attempts/1",
        base_images=bases,
        started_on="2026-12-01T03:11:13Z",
        finished_on="2026-12-01T03:11:19Z",
    )


def test_predicate_has_the_slsa_v1_shape() -> None:
    predicate = json.loads(provenance_for(result()))
    assert SLSA_PROVENANCE_V1 == "https://slsa.dev/provenance/v1" == PREDICATE_TYPES["slsaprovenance1"]
    definition, run = predicate["buildDefinition"], predicate["runDetails"]
    assert set(predicate) == {"buildDefinition", "runDetails"}
    assert definition["buildType"] == BUILD_TYPE
    assert definition["externalParameters"]["source"] == {
        "revision": REV,
        "repository": "https://github.com/immoflowme/app",
    }
    assert definition["externalParameters"]["buildArgs"] == {"VERSION": "1.2.0"}
    assert definition["externalParameters"]["platform"] == "linux/amd64"
    assert definition["internalParameters"]["sourceDateEpoch"] == 1768467600
    deps = definition["resolvedDependencies"]
    assert deps[0] == {"uri": f"git+https://github.com/immoflowme/app@{REV}", "digest": {"gitCommit": REV}}
    assert deps[1] == {"name": "Dockerfile", "digest": {"sha256": "1" * 64}}
    assert deps[2]["name"] == "build-context" and deps[2]["digest"] == {"sha256": "2" * 64}
    assert len(deps) == 3  # FROM scratch: no base image
    assert run["builder"]["id"].endswith("build-and-sign.yml@refs/heads/main")
    assert run["metadata"] == {
        "invocationId": "https://github.com/immoflowme/app/actions/runs/1/attempts/1",
        "startedOn": "2026-12-01T03:11:13Z",
        "finishedOn": "2026-12-01T03:11:19Z",
    }


def test_base_images_are_resolved_dependencies() -> None:
    base = BaseImageDigest("oci:/srv/store:base", Digest.parse("sha256:" + "e" * 64))
    deps = provenance_predicate(result(bases=(base,)))["buildDefinition"]["resolvedDependencies"]
    assert deps[-1] == {
        "uri": "oci:/srv/store:base",
        "digest": {"sha256": "e" * 64},
        "annotations": {"role": "base-image"},
    }


def test_reused_build_has_no_new_provenance() -> None:
    with pytest.raises(UsageError, match="reused") as caught:
        provenance_for(result(reused=True))
    assert "slsaprovenance1" in (caught.value.hint or "")


def test_labels_carry_oci_annotations_and_the_fingerprint() -> None:
    built = result()
    assert built.labels == {
        "org.opencontainers.image.revision": REV,
        "org.opencontainers.image.created": "2026-01-15T09:00:00Z",
        "org.opencontainers.image.version": "1.2.0",
        "org.opencontainers.image.source": "https://github.com/immoflowme/app",
        FINGERPRINT_LABEL: built.fingerprint,
    }
    # the user's labels cannot override what shipflow records
    forged = image_labels(built.source, 0, built.fingerprint, {FINGERPRINT_LABEL: "x", "team": "a"})
    assert forged[FINGERPRINT_LABEL] == built.fingerprint and forged["team"] == "a"


@pytest.mark.parametrize(
    ("remote", "url"),
    [
        ("https://github.com/org/app.git", "https://github.com/org/app"),
        ("https://user:ghp_secret@github.com/org/app.git", "https://github.com/org/app"),
        ("git@github.com:org/app.git", "https://github.com/org/app"),
        ("ssh://git@gitlab.example.com:2222/group/app.git", "https://gitlab.example.com/group/app"),
        ("http://127.0.0.1:3000/org/app", "http://127.0.0.1:3000/org/app"),
        ("/srv/git/app.git", None),
        ("file:///srv/git/app.git", None),
        ("", None),
    ],
)
def test_repository_urls_lose_credentials(remote: str, url: str | None) -> None:
    assert clean_repository_url(remote) == url
