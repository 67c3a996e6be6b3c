"""Building images once: builder backends (buildah, docker buildx), build-once reuse, SLSA provenance.

The public API (what ``shipflow build`` and ``shipflow release`` use)::

    result = build_image(BuildSettings(context=Path("."), image="oci:./store", tags=("1.2.0",)))
    result.digest, result.reused, result.image          # sha256:…, False, oci:./store@sha256:…
    predicate = provenance_for(result)                  # SLSA v1 provenance (JSON bytes)
    attest_provenance(store, result, key)               # signed, attached as cosign does

``build_image`` reuses the digest when the store already holds an image built from the same
inputs (:class:`BuildInputs`: revision, Dockerfile, context digest, build arguments, platform,
target, extra labels), unless ``rebuild=True``. See :mod:`shipflow.build.core`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipflow._lazy import lazy_names

if TYPE_CHECKING:
    from shipflow.build._builders import (
        Builder,
        BuilderChoice,
        BuilderOptions,
        BuilderOutput,
        BuildRequest,
        builder_for,
        host_platform,
    )
    from shipflow.build._context import ContextDigest, IgnoreMatcher, digest_context
    from shipflow.build._inputs import FINGERPRINT_LABEL, BuildInputs, fingerprint_tag
    from shipflow.build.core import (
        OCI_CREATED,
        OCI_REVISION,
        OCI_SOURCE,
        OCI_VERSION,
        BaseImageDigest,
        BuildResult,
        BuildSettings,
        build_image,
        read_labels,
    )
    from shipflow.build.errors import BuilderUnavailable, BuildFailed
    from shipflow.build.provenance import (
        BUILD_TYPE,
        SLSA_PROVENANCE_V1,
        attest_provenance,
        provenance_for,
        provenance_predicate,
    )
    from shipflow.build.source import SourceInfo, discover_source

__all__ = [
    "BUILD_TYPE",
    "FINGERPRINT_LABEL",
    "OCI_CREATED",
    "OCI_REVISION",
    "OCI_SOURCE",
    "OCI_VERSION",
    "SLSA_PROVENANCE_V1",
    "BaseImageDigest",
    "BuildFailed",
    "BuildInputs",
    "BuildRequest",
    "BuildResult",
    "BuildSettings",
    "Builder",
    "BuilderChoice",
    "BuilderOptions",
    "BuilderOutput",
    "BuilderUnavailable",
    "ContextDigest",
    "IgnoreMatcher",
    "SourceInfo",
    "attest_provenance",
    "build_image",
    "builder_for",
    "digest_context",
    "discover_source",
    "fingerprint_tag",
    "host_platform",
    "provenance_for",
    "provenance_predicate",
    "read_labels",
]

# Names are imported on first use (PEP 562), so importing one submodule (or the package for
# one name) does not import the rest.
_MODULE_OF = {
    "BuildRequest": "shipflow.build._builders",
    "Builder": "shipflow.build._builders",
    "BuilderChoice": "shipflow.build._builders",
    "BuilderOptions": "shipflow.build._builders",
    "BuilderOutput": "shipflow.build._builders",
    "builder_for": "shipflow.build._builders",
    "host_platform": "shipflow.build._builders",
    "ContextDigest": "shipflow.build._context",
    "IgnoreMatcher": "shipflow.build._context",
    "digest_context": "shipflow.build._context",
    "BaseImageDigest": "shipflow.build.core",
    "BuildResult": "shipflow.build.core",
    "BuildSettings": "shipflow.build.core",
    "OCI_CREATED": "shipflow.build.core",
    "OCI_REVISION": "shipflow.build.core",
    "OCI_SOURCE": "shipflow.build.core",
    "OCI_VERSION": "shipflow.build.core",
    "build_image": "shipflow.build.core",
    "read_labels": "shipflow.build.core",
    "BuildFailed": "shipflow.build.errors",
    "BuilderUnavailable": "shipflow.build.errors",
    "BuildInputs": "shipflow.build._inputs",
    "FINGERPRINT_LABEL": "shipflow.build._inputs",
    "fingerprint_tag": "shipflow.build._inputs",
    "BUILD_TYPE": "shipflow.build.provenance",
    "SLSA_PROVENANCE_V1": "shipflow.build.provenance",
    "attest_provenance": "shipflow.build.provenance",
    "provenance_for": "shipflow.build.provenance",
    "provenance_predicate": "shipflow.build.provenance",
    "SourceInfo": "shipflow.build.source",
    "discover_source": "shipflow.build.source",
}

__getattr__, __dir__ = lazy_names(__name__, _MODULE_OF)
