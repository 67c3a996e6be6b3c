"""What a Dockerfile builds from: its stages and the external base images they name.

Parsed with ``dockerfile-parse`` (line continuations, comments, the escape directive, ``ARG``
substitution in ``FROM``). A ``FROM`` naming an earlier stage (``FROM builder``) is not a base
image; ``FROM scratch`` is none either. Every other ``FROM`` is an external base image whose
digest goes into the provenance.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass

from shipflow.errors import UsageError
from shipflow.oci.reference import parse_reference

__all__ = ["BaseImage", "DockerfileInfo", "parse_dockerfile"]

_STAGE_NAME = re.compile(r"(?i)\s+AS\s+([A-Za-z0-9][A-Za-z0-9_.-]*)\s*$")


@dataclass(frozen=True)
class BaseImage:
    """An external image a stage starts from, as written after ``ARG`` substitution."""

    ref: str
    stage: int  # the stage's index (0 = the first FROM)

    @property
    def is_layout(self) -> bool:
        return self.ref.startswith("oci:")


@dataclass(frozen=True)
class DockerfileInfo:
    stages: tuple[str | None, ...]  # each stage's name (AS …), None where unnamed
    bases: tuple[BaseImage, ...]  # external base images, in order (duplicates kept once)
    args: tuple[str, ...]  # names of every ARG declared (global and per stage)


def parse_dockerfile(content: str, build_args: Mapping[str, str]) -> DockerfileInfo:
    """Stages, external base images and declared ARGs of ``content``."""
    from dockerfile_parse import DockerfileParser  # imported when a build runs, not at CLI start

    parser = DockerfileParser(
        fileobj=io.BytesIO(content.encode("utf-8")), build_args=dict(build_args), env_replace=True
    )
    try:
        structure = parser.structure
        parents = parser.parent_images
    except Exception as exc:  # the parser raises plain exceptions on odd input
        raise UsageError(f"cannot parse the Dockerfile: {exc}", hint="check its FROM lines") from exc

    froms = [entry for entry in structure if entry["instruction"] == "FROM"]
    if not froms:
        raise UsageError(
            "the Dockerfile has no FROM instruction", hint="start it with FROM (or FROM scratch)"
        )
    if len(froms) != len(parents):  # pragma: no cover - the parser keeps them aligned
        raise UsageError("cannot match the Dockerfile's FROM lines", hint="check its FROM lines")

    stages: list[str | None] = []
    bases: list[BaseImage] = []
    seen: set[str] = set()
    for index, (entry, parent) in enumerate(zip(froms, parents, strict=True)):
        name_match = _STAGE_NAME.search(entry["value"])
        earlier = {s.lower() for s in stages if s}
        if not parent.strip():
            raise UsageError(
                f"FROM line {index + 1} names no image (an undefined build argument?)",
                hint="declare the argument with a default (ARG NAME=value) or pass --build-arg NAME=value",
            )
        if parent.lower() != "scratch" and parent.lower() not in earlier and not parent.isdigit():
            if "$" in parent:
                raise UsageError(
                    f"FROM {parent} uses a build argument that has no value",
                    hint="declare it with a default (ARG NAME=value) or pass --build-arg NAME=value",
                )
            try:
                parse_reference(parent)
            except UsageError as exc:
                raise UsageError(
                    f"FROM {parent}: {exc} (an undefined build argument?)",
                    hint="give the argument a default (ARG NAME=value) or pass --build-arg NAME=value",
                ) from exc
            if parent not in seen:
                seen.add(parent)
                bases.append(BaseImage(parent, index))
        stages.append(name_match.group(1) if name_match else None)
    args = tuple(
        entry["value"].split("=", 1)[0].strip() for entry in structure if entry["instruction"] == "ARG"
    )
    return DockerfileInfo(tuple(stages), tuple(bases), args)
