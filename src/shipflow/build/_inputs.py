"""The build inputs and their fingerprint: what "the same build" means for build-once.

Two builds with the same fingerprint were asked to turn the same source revision, the same
Dockerfile, the same context files, the same build arguments, target stage, platform and extra
labels into an image. ``shipflow build`` records the fingerprint in the image (the label
:data:`FINGERPRINT_LABEL`) and points the tag ``build-<fingerprint hex>`` at it, so the next
build of the same inputs finds the image with one tag lookup and reuses it instead of building
again.

Left out on purpose: the version label, the repository URL and the creation time. They are
derived from the revision (or the CI run), and a push to ``main`` followed by a ``v1.2.0`` tag
on the same commit must reuse the image, not build a second one under another version. The
base images' digests are left out too: a revision is built once, and its provenance names the
base digests that went in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FINGERPRINT_LABEL", "FINGERPRINT_TAG_PREFIX", "BuildInputs", "fingerprint_tag"]

FINGERPRINT_LABEL = "dev.shipflow.build.fingerprint"
FINGERPRINT_TAG_PREFIX = "build-"
_SCHEMA = "shipflow-build-inputs/v1"


@dataclass(frozen=True)
class BuildInputs:
    """Everything that decides what a build produces (see the module docstring)."""

    revision: str
    dockerfile: str  # the Dockerfile's path relative to the context ("Dockerfile")
    dockerfile_digest: str  # sha256:<hex> of its bytes
    context_digest: str  # :func:`shipflow.build._context.digest_context`
    build_args: tuple[tuple[str, str], ...]
    platform: str
    target: str | None = None
    labels: tuple[tuple[str, str], ...] = ()  # the user's extra labels

    @classmethod
    def create(
        cls,
        *,
        revision: str,
        dockerfile: str,
        dockerfile_digest: str,
        context_digest: str,
        build_args: Mapping[str, str],
        platform: str,
        target: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> BuildInputs:
        return cls(
            revision=revision,
            dockerfile=dockerfile,
            dockerfile_digest=dockerfile_digest,
            context_digest=context_digest,
            build_args=tuple(sorted(build_args.items())),
            platform=platform,
            target=target,
            labels=tuple(sorted((labels or {}).items())),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": _SCHEMA,
            "revision": self.revision,
            "dockerfile": self.dockerfile,
            "dockerfileDigest": self.dockerfile_digest,
            "contextDigest": self.context_digest,
            "buildArgs": dict(self.build_args),
            "platform": self.platform,
            "target": self.target,
            "labels": dict(self.labels),
        }

    @property
    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the canonical JSON of :meth:`to_json`."""
        canonical = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


def fingerprint_tag(fingerprint: str) -> str:
    """The tag that names the image built from these inputs: ``build-<hex>`` (70 characters)."""
    return FINGERPRINT_TAG_PREFIX + fingerprint.removeprefix("sha256:")
