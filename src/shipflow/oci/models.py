"""Wire models for OCI/Docker manifests, indexes and image configs.

Parsing is for *reading*: a manifest we did not create is always kept and passed on as its
original bytes (:class:`ManifestBytes`); the parsed model is only a view of them. Models keep
unknown fields (``extra``) so that a view never loses information.

The models are frozen dataclasses validated by hand rather than pydantic models: importing
pydantic and building the model classes cost ≈ 0.2 s of every CLI start (benchmarks/RESULTS.md).
Validation is strict — JSON types exactly (no "2" for 2, no true for 1), required fields present
and not null, digests valid, sizes ≥ 0 — and both construction paths (keywords, or
:meth:`_Wire.from_json` / :meth:`_Wire.from_dict` with camelCase wire names) check the same way.
A failure is a :class:`WireError` naming the field's path (``config.digest: …``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self

from shipflow import jsonload
from shipflow.errors import DigestError, ManifestError
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest


class WireError(ValueError):
    """A document (or constructor keywords) does not have the model's shape."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem

    def within(self, prefix: str) -> WireError:
        """The same error seen from the enclosing document (``layers[0]`` + ``digest``)."""
        if not self.path:
            return WireError(prefix, self.problem)
        separator = "" if self.path.startswith("[") else "."
        return WireError(f"{prefix}{separator}{self.path}", self.problem)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# -- field checkers: return the (normalised) value or raise WireError("", problem) ------------


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise WireError("", f"must be a string, not {_kind(value)}")
    return value


def _int(value: Any) -> int:
    if type(value) is not int:  # bool is an int subclass, and is not a number here
        raise WireError("", f"must be an integer, not {_kind(value)}")
    return value


def _size(value: Any) -> int:
    if _int(value) < 0:
        raise WireError("", f"must be ≥ 0, not {value}")
    return int(value)


def _digest(value: Any) -> Digest:
    if isinstance(value, Digest):
        return value
    try:
        return Digest.parse(_str(value))
    except DigestError as exc:
        # A WireError, so a bad digest *inside a manifest* becomes a ManifestError rather than
        # escaping as the user's usage error.
        raise WireError("", exc.message) from exc


def _str_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise WireError("", f"must be a list, not {_kind(value)}")
    for n, item in enumerate(value):
        if not isinstance(item, str):
            raise WireError(f"[{n}]", f"must be a string, not {_kind(item)}")
    return value


def _str_dict(value: Any) -> dict[str, str]:
    for key, item in _object(value).items():
        if not isinstance(item, str):
            raise WireError(key, f"must be a string, not {_kind(item)}")
    return value  # type: ignore[no-any-return]  # checked above


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError("", f"must be an object, not {_kind(value)}")
    return value


def _object_list(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise WireError("", f"must be a list, not {_kind(value)}")
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            raise WireError(f"[{n}]", f"must be an object, not {_kind(item)}")
    return value


def _model(cls: type[_Wire]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        return value if isinstance(value, cls) else cls.from_dict(value)

    return check


def _model_list(cls: type[_Wire]) -> Callable[[Any], Any]:
    def check(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise WireError("", f"must be a list, not {_kind(value)}")
        items = []
        for n, item in enumerate(value):
            try:
                items.append(item if isinstance(item, cls) else cls.from_dict(item))
            except WireError as exc:
                raise exc.within(f"[{n}]") from exc
        return items

    return check


def _wire(name: str, check: Callable[[Any], Any], *, required: bool = False) -> dict[str, Any]:
    """A model field's metadata: its JSON name, its checker, whether it must be present (not null)."""
    return {"wire": name, "check": check, "required": required}


class _Wire:
    """Shared behaviour of the wire models (subclasses are frozen, keyword-only dataclasses)."""

    __slots__ = ()
    extra: dict[str, Any]
    _WIRE_FIELDS: ClassVar[dict[type, tuple[tuple[str, str, Callable[[Any], Any], bool], ...]]] = {}

    @classmethod
    def _wire_fields(cls) -> tuple[tuple[str, str, Callable[[Any], Any], bool], ...]:
        """(attribute, JSON name, checker, required) of each modelled field, in order."""
        cached = _Wire._WIRE_FIELDS.get(cls)
        if cached is None:
            cached = tuple(
                (f.name, f.metadata["wire"], f.metadata["check"], f.metadata["required"])
                for f in fields(cls)  # type: ignore[arg-type]  # subclasses are dataclasses
                if "wire" in f.metadata
            )
            _Wire._WIRE_FIELDS[cls] = cached
        return cached

    def __post_init__(self) -> None:
        for name, wire, check, required in self._wire_fields():
            value = getattr(self, name)
            if value is None:
                if required:
                    raise WireError(wire, "field required")
                continue
            try:
                checked = check(value)
            except WireError as exc:
                raise exc.within(wire) from exc
            if checked is not value:
                object.__setattr__(self, name, checked)
        if not isinstance(self.extra, dict):
            raise WireError("", f"extra fields must be a dict, not {_kind(self.extra)}")

    @classmethod
    def from_dict(cls, doc: Any) -> Self:
        """Validate a decoded JSON object (camelCase names); unknown fields go to ``extra``."""
        obj = _object(doc)
        kwargs: dict[str, Any] = {}
        known = set()
        for name, wire, _check, _required in cls._wire_fields():
            kwargs[name] = obj.get(wire)
            known.add(wire)
        kwargs["extra"] = {key: value for key, value in obj.items() if key not in known}
        return cls(**kwargs)

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        """Parse and validate a JSON document (raises :class:`WireError`)."""
        try:
            doc = jsonload.loads(data)
        except jsonload.TooDeep as exc:
            raise WireError("", str(exc)) from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise WireError("", f"not valid JSON: {exc}") from exc
        return cls.from_dict(doc)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (camelCase names, no nulls, unknown fields kept)."""
        doc: dict[str, Any] = {}
        for name, wire, _check, _required in self._wire_fields():
            value = getattr(self, name)
            if value is not None:
                doc[wire] = _to_json_value(value)
        for key, value in self.extra.items():
            if value is not None and key not in doc:
                doc[key] = value
        return doc

    def to_json_bytes(self) -> bytes:
        """Serialise a model *we* create (compact, no nulls)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()

    def __hash__(self) -> int:
        return hash((type(self), self.to_json_bytes()))


def _to_json_value(value: Any) -> Any:
    if isinstance(value, _Wire):
        return value.to_dict()
    if isinstance(value, Digest):
        return str(value)
    if isinstance(value, list):
        return [_to_json_value(item) for item in value]
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class Platform(_Wire):
    architecture: str = field(metadata=_wire("architecture", _str, required=True))
    os: str = field(metadata=_wire("os", _str, required=True))
    os_version: str | None = field(default=None, metadata=_wire("os.version", _str))
    os_features: list[str] | None = field(default=None, metadata=_wire("os.features", _str_list))
    variant: str | None = field(default=None, metadata=_wire("variant", _str))
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        if self.variant:
            text += f"/{self.variant}"
        return text

    __hash__ = _Wire.__hash__


@dataclass(frozen=True, kw_only=True, slots=True)
class Descriptor(_Wire):
    media_type: str = field(metadata=_wire("mediaType", _str, required=True))
    digest: Digest = field(metadata=_wire("digest", _digest, required=True))
    size: int = field(metadata=_wire("size", _size, required=True))
    urls: list[str] | None = field(default=None, metadata=_wire("urls", _str_list))
    annotations: dict[str, str] | None = field(default=None, metadata=_wire("annotations", _str_dict))
    platform: Platform | None = field(default=None, metadata=_wire("platform", _model(Platform)))
    artifact_type: str | None = field(default=None, metadata=_wire("artifactType", _str))
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    __hash__ = _Wire.__hash__


@dataclass(frozen=True, kw_only=True, slots=True)
class Manifest(_Wire):
    """An image manifest (OCI or Docker schema 2)."""

    schema_version: int = field(metadata=_wire("schemaVersion", _int, required=True))
    media_type: str | None = field(default=None, metadata=_wire("mediaType", _str))
    artifact_type: str | None = field(default=None, metadata=_wire("artifactType", _str))
    config: Descriptor = field(metadata=_wire("config", _model(Descriptor), required=True))
    layers: list[Descriptor] = field(metadata=_wire("layers", _model_list(Descriptor), required=True))
    subject: Descriptor | None = field(default=None, metadata=_wire("subject", _model(Descriptor)))
    annotations: dict[str, str] | None = field(default=None, metadata=_wire("annotations", _str_dict))
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    __hash__ = _Wire.__hash__


@dataclass(frozen=True, kw_only=True, slots=True)
class Index(_Wire):
    """An image index (OCI) or manifest list (Docker)."""

    schema_version: int = field(metadata=_wire("schemaVersion", _int, required=True))
    media_type: str | None = field(default=None, metadata=_wire("mediaType", _str))
    artifact_type: str | None = field(default=None, metadata=_wire("artifactType", _str))
    manifests: list[Descriptor] = field(metadata=_wire("manifests", _model_list(Descriptor), required=True))
    subject: Descriptor | None = field(default=None, metadata=_wire("subject", _model(Descriptor)))
    annotations: dict[str, str] | None = field(default=None, metadata=_wire("annotations", _str_dict))
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    __hash__ = _Wire.__hash__


@dataclass(frozen=True, kw_only=True, slots=True)
class ImageConfig(_Wire):
    """The parts of an image config shipflow reads (the rest is kept in ``extra``)."""

    architecture: str | None = field(default=None, metadata=_wire("architecture", _str))
    os: str | None = field(default=None, metadata=_wire("os", _str))
    created: str | None = field(default=None, metadata=_wire("created", _str))
    config: dict[str, Any] | None = field(default=None, metadata=_wire("config", _object))
    rootfs: dict[str, Any] | None = field(default=None, metadata=_wire("rootfs", _object))
    history: list[dict[str, Any]] | None = field(default=None, metadata=_wire("history", _object_list))
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    __hash__ = _Wire.__hash__


def detect_media_type(data: bytes, declared: str | None = None) -> str:
    """The manifest's media type: the declared one, else its ``mediaType``, else by shape.

    umoci and some older tools omit ``mediaType`` in the body; the shape then decides.
    """
    try:
        doc = jsonload.loads(data)
    except jsonload.TooDeep as exc:
        raise ManifestError(
            f"manifest is {exc}",
            hint="no real manifest or index nests that deep: check what the registry or layout served",
        ) from exc
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
                return Index.from_json(self.data)
            return Manifest.from_json(self.data)
        except WireError as exc:
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
