"""The cosign "simple signing" payload: what a container image signature says.

cosign (sigstore/sigstore ``payload.Cosign``) marshals it with Go's ``encoding/json``: compact,
map keys sorted, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, non-ASCII kept as UTF-8::

    {"critical":{"identity":{"docker-reference":"REPO"},
                 "image":{"docker-manifest-digest":"sha256:HEX"},
                 "type":"cosign container image signature"},
     "optional":null}

``optional`` holds ``-a key=value`` annotations (``null`` without any). Verification works on
the payload *bytes* as stored; :func:`parse_payload` only reads them, nothing is re-serialised.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipflow.errors import VerificationError
from shipflow.oci.digest import Digest
from shipflow.oci.reference import DOCKER_HUB, Reference
from shipflow.signing.jsondoc import load_object

COSIGN_SIGNATURE_TYPE = "cosign container image signature"

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(value: Any) -> bytes:
    """``value`` encoded as Go's ``json.Marshal`` writes maps (sorted keys, HTML-safe escapes)."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char, escape in _GO_ESCAPES.items():
        text = text.replace(char, escape)
    return text.encode("utf-8")


def docker_reference(ref: Reference) -> str:
    """The ``docker-reference`` cosign writes for an image: its repository as go-containerregistry
    names it (Docker Hub is ``index.docker.io``); for an OCI layout, the layout name."""
    if ref.is_layout:
        return ref.name
    registry = "index.docker.io" if ref.registry == DOCKER_HUB else ref.registry
    return f"{registry}/{ref.repository}"


def build_payload(digest: Digest, reference: str, annotations: Mapping[str, str] | None = None) -> bytes:
    """The payload bytes exactly as ``cosign sign`` writes them."""
    return go_json(
        {
            "critical": {
                "identity": {"docker-reference": reference},
                "image": {"docker-manifest-digest": str(digest)},
                "type": COSIGN_SIGNATURE_TYPE,
            },
            "optional": dict(annotations) if annotations else None,
        }
    )


class PayloadError(VerificationError):
    """The payload bytes are not a simple-signing payload (message says what is wrong)."""


@dataclass(frozen=True)
class SimpleSigningPayload:
    """A read-only view of payload bytes."""

    docker_reference: str
    manifest_digest: str
    type: str
    optional: dict[str, Any] | None


def parse_payload(data: bytes) -> SimpleSigningPayload:
    doc = load_object(data, "payload", PayloadError)
    critical = doc.get("critical")
    if not isinstance(critical, dict):
        raise PayloadError("payload has no 'critical' object")
    identity = critical.get("identity")
    image = critical.get("image")
    reference = identity.get("docker-reference") if isinstance(identity, dict) else None
    manifest_digest = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    kind = critical.get("type")
    optional = doc.get("optional")
    if not isinstance(manifest_digest, str):
        raise PayloadError("payload has no critical.image.docker-manifest-digest")
    if not isinstance(kind, str):
        raise PayloadError("payload has no critical.type")
    if optional is not None and not isinstance(optional, dict):
        raise PayloadError("payload 'optional' is not an object")
    return SimpleSigningPayload(
        reference if isinstance(reference, str) else "", manifest_digest, kind, optional
    )
