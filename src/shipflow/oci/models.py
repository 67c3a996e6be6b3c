"""Wire models for OCI/Docker manifests, indexes and image configs.

Parsing is for *reading*: a manifest we did not create is always kept and passed on as its
original bytes (:class:`ManifestBytes`); the parsed model is only a view of them. Models keep
unknown fields (``extra="allow"``) so that a view never loses information.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationError

from shipflow.errors import DigestError, ManifestError
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest


def _to_digest(value: Any) -> Digest:
    if isinstance(value, Digest):
        return value
    if not isinstance(value, str):
        raise ValueError("digest must be a string")
    try:
        return Digest.parse(value)
    except DigestError as exc:
        # A ValueError lets pydantic report it as a validation error (-> ManifestError), rather
        # than a bad digest *inside a manifest* escaping as the user's usage error.
        raise ValueError(exc.message) from exc


DigestField = Annotated[Digest, BeforeValidator(_to_digest), PlainSerializer(str, return_type=str)]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    def to_json_bytes(self) -> bytes:
        """Serialise a model *we* create (compact, no nulls)."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class Platform(_Wire):
    architecture: str
    os: str
    os_version: str | None = Field(default=None, alias="os.version")
    os_features: list[str] | None = Field(default=None, alias="os.features")
    variant: str | None = None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        if self.variant:
            text += f"/{self.variant}"
        return text


class Descriptor(_Wire):
    media_type: str = Field(alias="mediaType")
    digest: DigestField
    size: int = Field(ge=0)
    urls: list[str] | None = None
    annotations: dict[str, str] | None = None
    platform: Platform | None = None
    artifact_type: str | None = Field(default=None, alias="artifactType")


class Manifest(_Wire):
    """An image manifest (OCI or Docker schema 2)."""

    schema_version: int = Field(alias="schemaVersion")
    media_type: str | None = Field(default=None, alias="mediaType")
    artifact_type: str | None = Field(default=None, alias="artifactType")
    config: Descriptor
    layers: list[Descriptor]
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None


class Index(_Wire):
    """An image index (OCI) or manifest list (Docker)."""

    schema_version: int = Field(alias="schemaVersion")
    media_type: str | None = Field(default=None, alias="mediaType")
    artifact_type: str | None = Field(default=None, alias="artifactType")
    manifests: list[Descriptor]
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None


class ImageConfig(_Wire):
    """The parts of an image config shipflow reads (the rest is kept as extra fields)."""

    architecture: str | None = None
    os: str | None = None
    created: str | None = None
    config: dict[str, Any] | None = None
    rootfs: dict[str, Any] | None = None
    history: list[dict[str, Any]] | None = None


def detect_media_type(data: bytes, declared: str | None = None) -> str:
    """The manifest's media type: the declared one, else its ``mediaType``, else by shape.

    umoci and some older tools omit ``mediaType`` in the body; the shape then decides.
    """
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"manifest is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ManifestError("manifest is not a JSON object")
    body_type = doc.get("mediaType")
    if declared and declared in mt.MANIFESTS:
        return declared
    if isinstance(body_type, str) and body_type in mt.MANIFESTS:
        return body_type
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "config" in doc and "layers" in doc:
        return mt.OCI_MANIFEST
    raise ManifestError(
        f"unsupported manifest media type {declared or body_type!r}",
        hint="shipflow handles OCI and Docker schema 2 manifests and indexes",
    )


@dataclass(frozen=True, slots=True)
class ManifestBytes:
    """A manifest exactly as stored: its bytes, media type and (verified) digest."""

    data: bytes
    media_type: str
    digest: Digest

    @classmethod
    def create(cls, data: bytes, media_type: str | None = None) -> ManifestBytes:
        if len(data) > mt.MANIFEST_SIZE_LIMIT:
            raise ManifestError(
                f"manifest is {len(data)} bytes, over the {mt.MANIFEST_SIZE_LIMIT} byte limit",
            )
        return cls(data, detect_media_type(data, media_type), Digest.of(data))

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self, **extra: Any) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.data), **extra)

    def parse(self) -> Manifest | Index:
        try:
            if self.is_index:
                return Index.model_validate_json(self.data)
            return Manifest.model_validate_json(self.data)
        except ValidationError as exc:
            raise ManifestError(f"manifest {self.digest.short} is malformed: {exc}") from exc

    def as_manifest(self) -> Manifest:
        parsed = self.parse()
        if not isinstance(parsed, Manifest):
            raise ManifestError(f"{self.digest.short} is an index, not an image manifest")
        return parsed

    def as_index(self) -> Index:
        parsed = self.parse()
        if not isinstance(parsed, Index):
            raise ManifestError(f"{self.digest.short} is an image manifest, not an index")
        return parsed
