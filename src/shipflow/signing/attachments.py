"""cosign's attachment images: where signatures (``.sig``) and attestations (``.att``) live.

For an image ``repo@sha256:HEX`` cosign keeps an OCI image under the tag ``sha256-HEX.sig``
(attestations: ``.att``) in the same repository. Each layer is one signature: the layer blob
is the signed payload, the layer annotations carry the rest. The config is what
go-containerregistry writes for an empty image with those layers appended (cosign's
``empty.Signatures()`` + ``mutate.Append``); verifiers never read it, but we write the same
shape so our images look like cosign's. A new signature is a new manifest with one more layer;
the previous layers (and their blobs) are kept exactly.

Writes go blob → config → manifest-with-tag, so a reader never sees a manifest whose blobs are
missing. The read-modify-write of the tag is not atomic across concurrent signers (cosign's is
not either); the last writer wins.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipflow.errors import BlobNotFound, DigestError, IntegrityError, ManifestError, ManifestNotFound
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.models import ManifestBytes
from shipflow.oci.store import Store

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
PREDICATE_TYPE_ANNOTATION = "predicateType"

SIGNATURE_SUFFIX = "sig"
ATTESTATION_SUFFIX = "att"

# A signature payload is a few hundred bytes; an attestation can carry a whole SBOM.
MAX_LAYER_BYTES = 64 * 1024 * 1024
# cosign refuses attachment images with more layers than this (pkg/oci/mutate maxLayers).
MAX_LAYERS = 1000
# The largest predicate an attestation layer can carry: the DSSE envelope holds the statement
# base64-encoded (4/3), plus the statement's and the envelope's own JSON (kept under 64 KiB).
MAX_PREDICATE_BYTES = MAX_LAYER_BYTES // 4 * 3 - 64 * 1024

_ZERO_TIME = "0001-01-01T00:00:00Z"


def attachment_tag(digest: Digest, suffix: str) -> str:
    """``sha256-<hex>.<suffix>``: cosign's tag for the attachments of ``digest``."""
    return f"{digest.tag_form}.{suffix}"


def signature_tag(digest: Digest) -> str:
    return attachment_tag(digest, SIGNATURE_SUFFIX)


def attestation_tag(digest: Digest) -> str:
    return attachment_tag(digest, ATTESTATION_SUFFIX)


@dataclass(frozen=True)
class AttachedLayer:
    """One layer of an attachment image, as its descriptor says (blob not yet read)."""

    index: int
    media_type: str
    digest: Digest
    size: int
    annotations: dict[str, str]
    descriptor: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class AttachmentImage:
    manifest: ManifestBytes
    layers: list[AttachedLayer]


def read_attachments(store: Store, tag: str) -> AttachmentImage | None:
    """The attachment image under ``tag``, or None if there is none.

    Layer descriptors that cannot be parsed raise :class:`ManifestError`: the image is broken
    as a whole, not one signature in it.
    """
    try:
        manifest = store.get_manifest(tag)
    except ManifestNotFound:
        return None
    if manifest.media_type not in mt.IMAGE_MANIFESTS:
        raise ManifestError(
            f"{tag} is a {manifest.media_type}, not an image manifest",
            hint="the attachment tag was overwritten by something that is not a cosign signature image",
        )
    try:
        doc = json.loads(manifest.data)
    except ValueError as exc:
        raise ManifestError(f"{tag}: manifest is not JSON") from exc
    raw_layers = doc.get("layers") if isinstance(doc, dict) else None
    if not isinstance(raw_layers, list):
        raise ManifestError(f"{tag}: manifest has no layers list")
    if len(raw_layers) > MAX_LAYERS:
        raise ManifestError(f"{tag}: {len(raw_layers)} layers, more than the {MAX_LAYERS} cosign allows")
    layers = []
    for index, raw in enumerate(raw_layers):
        if not isinstance(raw, dict):
            raise ManifestError(f"{tag}: layer {index} is not an object")
        try:
            digest = Digest.parse(str(raw.get("digest", "")))
        except DigestError as exc:
            raise ManifestError(f"{tag}: layer {index} has a malformed digest") from exc
        annotations = raw.get("annotations") or {}
        size = raw.get("size")
        if not isinstance(annotations, dict) or not isinstance(size, int) or size < 0:
            raise ManifestError(f"{tag}: layer {index} has malformed annotations or size")
        layers.append(
            AttachedLayer(
                index=index,
                media_type=str(raw.get("mediaType", "")),
                digest=digest,
                size=size,
                annotations={str(k): str(v) for k, v in annotations.items()},
                descriptor=raw,
            )
        )
    return AttachmentImage(manifest, layers)


class LayerUnavailable(Exception):
    """A layer blob is missing, too big or does not match its digest (``reason`` says which)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_layer(store: Store, layer: AttachedLayer) -> bytes:
    """The layer's blob, verified against its digest by the store."""
    if layer.size > MAX_LAYER_BYTES:
        raise LayerUnavailable(f"layer is {layer.size} bytes, over the {MAX_LAYER_BYTES} byte limit")
    parts: list[bytes] = []
    total = 0
    try:
        with store.open_blob(layer.digest) as chunks:
            for chunk in chunks:
                total += len(chunk)
                if total > MAX_LAYER_BYTES:
                    raise LayerUnavailable(f"layer blob exceeds {MAX_LAYER_BYTES} bytes")
                parts.append(chunk)
    except BlobNotFound as exc:
        raise LayerUnavailable(f"layer blob {layer.digest.short} is missing") from exc
    except IntegrityError as exc:
        raise LayerUnavailable(
            f"layer blob does not match its digest {layer.digest.short} (tampered?)"
        ) from exc
    data = b"".join(parts)
    if not layer.digest.matches(data):  # the Store contract checks this; a cheap second look
        raise LayerUnavailable(f"layer blob does not match its digest {layer.digest.short} (tampered?)")
    return data


def _config_bytes(diff_ids: list[str]) -> bytes:
    # go-containerregistry's ConfigFile for an empty image after mutate.Append: field order
    # architecture, created, history, os, rootfs, config; one empty history entry per layer.
    return json.dumps(
        {
            "architecture": "",
            "created": _ZERO_TIME,
            "history": [{"created": _ZERO_TIME} for _ in diff_ids],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "config": {},
        },
        separators=(",", ":"),
    ).encode()


def _descriptor(media_type: str, data: bytes, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    desc: dict[str, Any] = {"mediaType": media_type, "size": len(data), "digest": str(Digest.of(data))}
    if annotations:
        desc["annotations"] = dict(sorted(annotations.items()))
    return desc


def build_attachment_manifest(layers: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    """(config bytes, manifest bytes) of an attachment image with these layer descriptors.

    Deterministic: the same layers always give the same digest.
    """
    config = _config_bytes([str(layer["digest"]) for layer in layers])
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": _descriptor(mt.OCI_CONFIG, config),
            "layers": layers,
        },
        separators=(",", ":"),
    ).encode()
    return config, manifest


def _put_blob(store: Store, data: bytes) -> Digest:
    # No has_blob() first: registries check existence inside put_blob already, and a
    # signature's payload and config are new blobs almost always.
    digest = Digest.of(data)
    store.put_blob(digest, len(data), [data])
    return digest


@dataclass(frozen=True)
class AppendResult:
    tag: str
    manifest_digest: Digest
    layer_digest: Digest
    added: bool  # False when an equivalent layer was already there


def append_layer(
    store: Store,
    tag: str,
    *,
    media_type: str,
    blob: bytes,
    annotations: Mapping[str, str],
    is_duplicate: Callable[[AttachedLayer], bool],
) -> AppendResult:
    """Add one layer to the attachment image under ``tag`` (creating it), unless a layer for
    which ``is_duplicate`` is true is already there.

    Read, merge and write are one step where the store can lock (an OCI layout: two processes
    signing one image at once both keep their layer). A registry has no lock or conditional
    write: two writers at the same moment can still replace each other's image (cosign has the
    same limit); ``docs/reliability.md`` says so."""
    exclusive = getattr(store, "exclusive", None)  # LayoutStore; registries have no lock
    with exclusive() if exclusive is not None else contextlib.nullcontext():
        return _append_layer(store, tag, media_type, blob, annotations, is_duplicate)


def _append_layer(
    store: Store,
    tag: str,
    media_type: str,
    blob: bytes,
    annotations: Mapping[str, str],
    is_duplicate: Callable[[AttachedLayer], bool],
) -> AppendResult:
    existing = read_attachments(store, tag)
    layer_digest = Digest.of(blob)
    if existing is not None:
        for layer in existing.layers:
            if is_duplicate(layer):
                return AppendResult(tag, existing.manifest.digest, layer.digest, added=False)
        if len(existing.layers) >= MAX_LAYERS:
            raise ManifestError(
                f"{tag} already holds {len(existing.layers)} layers, cosign's maximum",
                hint="remove old signatures (delete the tag and re-sign) before adding more",
            )
    layers = [layer.descriptor for layer in existing.layers] if existing else []
    layers.append(_descriptor(media_type, blob, annotations))
    config, manifest = build_attachment_manifest(layers)
    _put_blob(store, blob)
    _put_blob(store, config)
    manifest_digest = store.put_manifest(ManifestBytes.create(manifest, mt.OCI_MANIFEST), tag=tag)
    return AppendResult(tag, manifest_digest, layer_digest, added=True)
