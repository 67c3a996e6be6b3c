"""Image references: ``registry[:port]/path[:tag][@digest]`` and ``oci:PATH[:TAG|@DIGEST]``.

The registry grammar follows the distribution reference grammar (docker's): the first path
component is a registry host only if it contains ``.`` or ``:`` or is ``localhost``;
otherwise the image lives on Docker Hub (``docker.io``) and a single-component name gets the
``library/`` prefix. ``oci:`` references name an on-disk OCI image layout (skopeo's form).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal

from shipflow.errors import DigestError, InvalidReference
from shipflow.oci.digest import Digest

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$"
)
_MAX_NAME = 255

Transport = Literal["registry", "layout"]


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed image reference.

    For ``transport == "layout"`` ``registry`` is empty and ``repository`` is the layout's
    directory path.
    """

    transport: Transport
    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def is_layout(self) -> bool:
        return self.transport == "layout"

    @property
    def identifier(self) -> str:
        """What to ask the store for: the digest if known, else the tag (``latest`` by default)."""
        if self.digest is not None:
            return str(self.digest)
        return self.tag or "latest"

    @property
    def name(self) -> str:
        """The repository without tag or digest (``registry/repo`` or ``oci:PATH``)."""
        if self.is_layout:
            return f"oci:{self.repository}"
        return f"{self.registry}/{self.repository}"

    def with_digest(self, digest: Digest) -> Reference:
        return replace(self, digest=digest)

    def with_tag(self, tag: str | None) -> Reference:
        if tag is not None:
            validate_tag(tag)
        return replace(self, tag=tag)

    def by_digest(self, digest: Digest) -> Reference:
        """This repository, pinned to ``digest`` and without a tag."""
        return replace(self, tag=None, digest=digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def validate_tag(tag: str) -> str:
    if not _TAG.match(tag):
        raise InvalidReference(
            f"invalid tag {tag!r}: a tag is 1-128 characters of letters, digits, '_', '.', '-' "
            "and may not start with '.' or '-'",
            hint="pick a tag like v1.2.3, staging or sha256-abc.sig",
        )
    return tag


def _split_digest(text: str, original: str) -> tuple[str, Digest | None]:
    if "@" not in text:
        return text, None
    rest, _, digest_text = text.rpartition("@")
    try:
        return rest, Digest.parse(digest_text)
    except DigestError as exc:
        raise InvalidReference(
            f"invalid reference {original!r}: {exc.message}",
            hint="a digest looks like @sha256:<64 lowercase hex characters>",
        ) from exc


def parse_reference(text: str) -> Reference:
    """Parse a registry or ``oci:`` layout reference; raise :class:`InvalidReference` if malformed."""
    original = text
    text = text.strip()
    if not text:
        raise InvalidReference("empty image reference", hint="give an image like ghcr.io/org/app:tag")
    if text.startswith("docker://"):
        text = text[len("docker://") :]
    if text.startswith("oci:"):
        return _parse_layout(text[len("oci:") :], original)
    return _parse_registry(text, original)


def _parse_layout(text: str, original: str) -> Reference:
    rest, digest = _split_digest(text, original)
    # skopeo's convention: the path ends at the first ':'; what follows is the tag.
    path, sep, tag = rest.partition(":")
    if not path:
        raise InvalidReference(
            f"invalid layout reference {original!r}: no directory given",
            hint="write oci:PATH[:TAG] or oci:PATH@sha256:…, e.g. oci:./store:dev",
        )
    if sep and not tag:
        raise InvalidReference(
            f"invalid layout reference {original!r}: empty tag after ':'",
            hint="drop the trailing ':' or give a tag, e.g. oci:./store:dev",
        )
    if sep:
        validate_tag(tag)
    return Reference("layout", "", path, tag or None, digest)


def _check_port(registry: str, original: str) -> None:
    """A port, if the host has one, is 1-65535: ``localhost:99999`` is a typo, not a registry
    to retry."""
    _, bracket, after = registry.rpartition("]")
    host_part = after if bracket else registry
    _, colon, port = host_part.rpartition(":")
    if colon and not 1 <= int(port) <= 65535:
        raise InvalidReference(
            f"invalid registry port {port} in {original!r}: a port is 1-65535",
            hint="check the registry address, e.g. localhost:5000",
        )


def _parse_registry(text: str, original: str) -> Reference:
    rest, digest = _split_digest(text, original)
    # A tag follows the last ':' that comes after the last '/', so registry ports survive.
    tag: str | None = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not tag:
            raise InvalidReference(
                f"invalid reference {original!r}: empty tag after ':'",
                hint="drop the trailing ':' or give a tag",
            )
        validate_tag(tag)
    if not rest:
        raise InvalidReference(
            f"invalid reference {original!r}: no repository name", hint="e.g. ghcr.io/org/app"
        )

    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        registry, path = first, remainder
        if not _HOST.match(registry):
            raise InvalidReference(
                f"invalid registry host {registry!r} in {original!r}",
                hint="a registry looks like ghcr.io, localhost:5000 or 127.0.0.1:5000",
            )
        _check_port(registry, original)
        if registry == "index.docker.io":
            registry = DOCKER_HUB
    else:
        registry, path = DOCKER_HUB, rest

    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not path:
        raise InvalidReference(
            f"invalid reference {original!r}: no repository name", hint="e.g. ghcr.io/org/app"
        )
    for component in path.split("/"):
        if not _COMPONENT.match(component):
            raise InvalidReference(
                f"invalid repository name {path!r} in {original!r}: component {component!r} must be "
                "lowercase letters and digits, separated by '.', '_', '__' or '-'",
                hint="repository names are lowercase, e.g. ghcr.io/my-org/my-app",
            )
    if len(registry) + 1 + len(path) > _MAX_NAME:
        raise InvalidReference(
            f"invalid reference {original!r}: the name is longer than {_MAX_NAME} characters",
            hint="use a shorter repository path",
        )
    return Reference("registry", registry, path, tag, digest)
