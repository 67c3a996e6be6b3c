"""Image references: registry names (docker's grammar, Docker Hub normalisation) and oci: layouts."""

from __future__ import annotations

import pytest

from shipflow.errors import EXIT_USAGE, InvalidReference
from shipflow.oci.digest import Digest
from shipflow.oci.reference import Reference, parse_reference, validate_tag

HEX = "ab" * 32
DIGEST = f"sha256:{HEX}"


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag"),
    [
        ("nginx", "docker.io", "library/nginx", None),
        ("nginx:1.25-alpine", "docker.io", "library/nginx", "1.25-alpine"),
        ("docker.io/nginx", "docker.io", "library/nginx", None),
        ("index.docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest"),
        ("docker://ghcr.io/org/app:v1", "ghcr.io", "org/app", "v1"),
        ("someuser/app", "docker.io", "someuser/app", None),
        ("localhost/a", "localhost", "a", None),
        ("localhost:5000/a", "localhost:5000", "a", None),
        ("127.0.0.1:5000/a/b:t", "127.0.0.1:5000", "a/b", "t"),
        ("[::1]:5000/app:v1", "[::1]:5000", "app", "v1"),
        ("ghcr.io/my-org/my_app.x/sub__dir", "ghcr.io", "my-org/my_app.x/sub__dir", None),
        # a single component with ':' is a tag, not a port (docker does the same)
        ("localhost:5000", "docker.io", "library/localhost", "5000"),
    ],
)
def test_registry_references(text: str, registry: str, repository: str, tag: str | None) -> None:
    ref = parse_reference(text)
    assert (ref.transport, ref.registry, ref.repository, ref.tag, ref.digest) == (
        "registry",
        registry,
        repository,
        tag,
        None,
    )
    assert not ref.is_layout


def test_tag_and_digest_together() -> None:
    ref = parse_reference(f"127.0.0.1:5000/a/b:t@{DIGEST}")
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        "127.0.0.1:5000",
        "a/b",
        "t",
        Digest.parse(DIGEST),
    )
    assert str(ref) == f"127.0.0.1:5000/a/b:t@{DIGEST}"
    assert ref.identifier == DIGEST  # the digest wins over the tag
    assert ref.name == "127.0.0.1:5000/a/b"


def test_identifier_defaults_to_latest() -> None:
    assert parse_reference("nginx").identifier == "latest"
    assert parse_reference("nginx:stable").identifier == "stable"


def test_string_form_is_normalised() -> None:
    assert str(parse_reference("nginx")) == "docker.io/library/nginx"
    assert str(parse_reference(f"ghcr.io/org/app@{DIGEST}")) == f"ghcr.io/org/app@{DIGEST}"


@pytest.mark.parametrize(
    ("text", "path", "tag", "digest"),
    [
        ("oci:./x:tag", "./x", "tag", None),
        ("oci:store", "store", None, None),
        (f"oci:/abs/path@{DIGEST}", "/abs/path", None, DIGEST),
        (f"oci:rel/dir:v1@{DIGEST}", "rel/dir", "v1", DIGEST),
    ],
)
def test_layout_references(text: str, path: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert ref.is_layout
    assert (ref.registry, ref.repository, ref.tag) == ("", path, tag)
    assert ref.digest == (Digest.parse(digest) if digest else None)
    assert ref.name == f"oci:{path}"
    assert str(ref) == text


def test_by_digest_and_with_tag() -> None:
    ref = parse_reference("ghcr.io/org/app:v1")
    pinned = ref.by_digest(Digest.parse(DIGEST))
    assert str(pinned) == f"ghcr.io/org/app@{DIGEST}"
    assert str(ref.with_tag("v2")) == "ghcr.io/org/app:v2"
    with pytest.raises(InvalidReference, match="invalid tag"):
        ref.with_tag("bad tag")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty image reference"),
        ("   ", "empty image reference"),
        (
            "ghcr.io/Org/app",
            "invalid repository name 'Org/app' in 'ghcr.io/Org/app': component 'Org' must be lowercase",
        ),
        ("Nginx", "component 'Nginx' must be lowercase"),
        ("ghcr.io/a//b", "component '' must be lowercase"),
        ("nginx:-bad", "invalid tag '-bad': a tag is 1-128 characters"),
        ("nginx:" + "a" * 129, "invalid tag"),
        ("nginx:", "invalid reference 'nginx:': empty tag after ':'"),
        ("nginx@sha256:abc", "malformed sha256 digest 'sha256:abc': expected 64 lowercase hex characters"),
        (f"nginx@sha512:{HEX}", "malformed sha512 digest"),
        ("nginx@", "malformed digest '': expected ALGORITHM:HEX"),
        (f"nginx@md5:{HEX}", "unsupported digest algorithm 'md5'"),
        ("ghcr.io/", "no repository name"),
        ("my_registry:5000/app", "invalid registry host 'my_registry:5000'"),
        ("a" * 300, "longer than 255 characters"),
        ("oci:", "invalid layout reference 'oci:': no directory given"),
        ("oci::tag", "no directory given"),
        ("oci:dir:", "empty tag after ':'"),
        ("oci:dir:bad tag", "invalid tag 'bad tag'"),
        ("oci:dir@sha256:123", "malformed sha256 digest"),
    ],
)
def test_malformed_references_are_refused_precisely(text: str, message: str) -> None:
    with pytest.raises(InvalidReference) as info:
        parse_reference(text)
    assert message in info.value.message
    assert info.value.hint, "every refusal says what to do"
    assert info.value.exit_code == EXIT_USAGE


def test_validate_tag_limits() -> None:
    assert validate_tag("a" * 128) == "a" * 128
    assert validate_tag("sha256-" + "a" * 64 + ".sig")
    assert validate_tag("_underscore")
    for bad in ["", ".hidden", "a" * 129, "has/slash", "colon:tag"]:
        with pytest.raises(InvalidReference):
            validate_tag(bad)


def test_references_are_values() -> None:
    assert parse_reference("nginx") == parse_reference("docker.io/library/nginx")
    assert isinstance(parse_reference("nginx"), Reference)
