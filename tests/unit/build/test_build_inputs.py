"""Build inputs: what makes two builds "the same" for build-once, and the Dockerfile parser."""

from __future__ import annotations

import dataclasses

import pytest

from shipflow.build._dockerfile import parse_dockerfile
from shipflow.build._inputs import BuildInputs, fingerprint_tag
from shipflow.errors import UsageError
from shipflow.oci.reference import validate_tag

BASE = {
    "revision": "a" * 40,
    "dockerfile": "Dockerfile",
    "dockerfile_digest": "sha256:" + "1" * 64,
    "context_digest": "sha256:" + "2" * 64,
    "build_args": {"VERSION": "1.0", "MODE": "ok"},
    "platform": "linux/amd64",
}


def test_fingerprint_is_stable_and_order_free() -> None:
    one = BuildInputs.create(**BASE)
    two = BuildInputs.create(**{**BASE, "build_args": {"MODE": "ok", "VERSION": "1.0"}})
    assert one.fingerprint == two.fingerprint
    assert one.fingerprint.startswith("sha256:") and len(one.fingerprint) == 71


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("revision", "b" * 40),
        ("dockerfile", "Containerfile"),
        ("dockerfile_digest", "sha256:" + "3" * 64),
        ("context_digest", "sha256:" + "4" * 64),
        ("build_args", {"VERSION": "1.1", "MODE": "ok"}),
        ("build_args", {"VERSION": "1.0"}),
        ("platform", "linux/arm64"),
        ("target", "runtime"),
        ("labels", {"team": "billing"}),
    ],
)
def test_every_input_changes_the_fingerprint(field: str, value: object) -> None:
    base = BuildInputs.create(**BASE)
    changed = BuildInputs.create(**{**BASE, field: value})  # type: ignore[arg-type]
    assert changed.fingerprint != base.fingerprint


def test_fingerprint_covers_every_field() -> None:
    """A new field must be part of the fingerprint (to_json), or build-once would reuse wrongly."""
    names = {f.name for f in dataclasses.fields(BuildInputs)}
    keys = set(BuildInputs.create(**BASE).to_json()) - {"schema"}
    camel = {
        "dockerfile_digest": "dockerfileDigest",
        "context_digest": "contextDigest",
        "build_args": "buildArgs",
    }
    assert {camel.get(n, n) for n in names} == keys


def test_fingerprint_tag_is_a_valid_tag() -> None:
    fingerprint = BuildInputs.create(**BASE).fingerprint
    tag = fingerprint_tag(fingerprint)
    assert tag == "build-" + fingerprint.removeprefix("sha256:")
    assert validate_tag(tag) == tag


def test_dockerfile_stages_and_bases() -> None:
    info = parse_dockerfile(
        "ARG BASE=node:20-alpine\n"
        "# comment\n"
        "FROM ${BASE} AS builder\n"
        "RUN echo \\\n  continued\n"
        "FROM builder AS test\n"
        "FROM scratch\n"
        "COPY --from=builder /a /a\n"
        "FROM oci:/srv/store:base\n"
        "FROM --platform=linux/arm64 node:20-alpine\n",
        {},
    )
    assert info.stages == ("builder", "test", None, None, None)
    assert [(b.ref, b.stage) for b in info.bases] == [("node:20-alpine", 0), ("oci:/srv/store:base", 3)]
    assert info.bases[1].is_layout and not info.bases[0].is_layout
    assert info.args == ("BASE",)


def test_build_args_reach_from_lines() -> None:
    info = parse_dockerfile("ARG BASE=a:1\nFROM $BASE\n", {"BASE": "b:2"})
    assert [b.ref for b in info.bases] == ["b:2"]


def test_from_scratch_has_no_base() -> None:
    assert parse_dockerfile("FROM scratch\nCOPY x /x\n", {}).bases == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("RUN echo\n", "no FROM"),
        ("FROM $NOPE\n", "names no image"),
        ("ARG B\nFROM x:$B\n", "undefined build argument"),
    ],
)
def test_bad_dockerfiles_are_usage_errors(content: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_dockerfile(content, {})
