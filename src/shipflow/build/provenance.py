"""SLSA v1 provenance for a build, and attaching it as a signed attestation.

:func:`provenance_for` writes the predicate of an in-toto statement of type
``https://slsa.dev/provenance/v1`` (slsa.dev/spec/v1.0/provenance) for a
:class:`~shipflow.build.core.BuildResult`::

    buildDefinition:
      buildType: urn:shipflow:buildtype:container-image:v1    (documented in the README)
      externalParameters: the source (repository, revision, path in it), the Dockerfile's
                          path, build arguments, platform, target, extra labels
      internalParameters: the builder's name and version, SOURCE_DATE_EPOCH, the build-inputs
                          fingerprint
      resolvedDependencies: the source at its commit, the Dockerfile and the context by
                          digest, and every base image by digest (none for FROM scratch)
    runDetails:
      builder.id: the CI workflow (GitHub: server/owner/repo/.github/workflows/…@ref) or
                  urn:shipflow:builder:local:<builder>
      metadata: invocationId (the CI run), startedOn, finishedOn

:func:`attest_provenance` signs it (DSSE, in-toto Statement v1) and attaches it to the image as
cosign does (``sha256-<hex>.att``): ``shipflow verify-attestation --type slsaprovenance1`` and
``cosign verify-attestation --type slsaprovenance1`` both accept it.

Build arguments are recorded as given: never pass a secret as a build argument (the image
history and the provenance would both keep it); use the builder's secret mounts instead.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shipflow import __version__
from shipflow.build.core import BuildResult
from shipflow.errors import UsageError

if TYPE_CHECKING:  # signing (cryptography) is imported only when a provenance is signed
    from shipflow.oci.store import Store
    from shipflow.signing.keys import Signer
    from shipflow.signing.sign import AttestResult

__all__ = ["BUILD_TYPE", "SLSA_PROVENANCE_V1", "attest_provenance", "provenance_for"]

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"  # cosign's --type slsaprovenance1
BUILD_TYPE = "urn:shipflow:buildtype:container-image:v1"


def _source_uri(result: BuildResult) -> str | None:
    if not result.source.repository:
        return None
    return f"git+{result.source.repository}@{result.source.revision}"


def provenance_predicate(result: BuildResult) -> dict[str, Any]:
    """The SLSA v1 predicate of ``result`` as a dict (see :func:`provenance_for`)."""
    if result.reused:
        raise UsageError(
            f"{result.digest} was not built now but reused from an earlier build of the same inputs; "
            "its provenance was written by that build",
            hint="check it with `shipflow verify-attestation --type slsaprovenance1`, or build "
            "again with --rebuild to write a new one",
        )
    source: dict[str, Any] = {"revision": result.source.revision}
    if result.source.repository:
        source["repository"] = result.source.repository
    if result.source.path:
        source["path"] = result.source.path
    if result.source.dirty:
        source["dirty"] = True
    external: dict[str, Any] = {
        "source": source,
        "dockerfile": result.dockerfile_path,
        "buildArgs": dict(result.inputs.build_args),
        "platform": result.inputs.platform,
    }
    if result.inputs.target:
        external["target"] = result.inputs.target
    if result.inputs.labels:
        external["labels"] = dict(result.inputs.labels)

    dependencies: list[dict[str, Any]] = []
    source_dep: dict[str, Any] = {"digest": {"gitCommit": result.source.revision}}
    uri = _source_uri(result)
    if uri:
        source_dep["uri"] = uri
    else:
        source_dep["name"] = "source"
    dependencies.append(source_dep)
    dependencies.append(
        {"name": result.dockerfile_path, "digest": _digest_set(result.inputs.dockerfile_digest)}
    )
    dependencies.append(
        {
            "name": "build-context",
            "digest": _digest_set(result.context.digest),
            "annotations": {"files": result.context.files, "bytes": result.context.bytes},
        }
    )
    for base in result.base_images:
        dependencies.append(
            {
                "uri": base.ref,
                "digest": {base.digest.algorithm: base.digest.hex},
                "annotations": {"role": "base-image"},
            }
        )

    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": {
                "builder": result.builder,
                "builderVersion": result.builder_version,
                "sourceDateEpoch": result.source_date_epoch,
                "buildInputsFingerprint": result.fingerprint,
            },
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {
                "id": result.builder_id,
                "version": {"shipflow": __version__, str(result.builder): str(result.builder_version)},
            },
            "metadata": {
                "invocationId": result.invocation_id,
                "startedOn": result.started_on,
                "finishedOn": result.finished_on,
            },
        },
    }


def _digest_set(digest: str) -> dict[str, str]:
    algorithm, _, hexdigest = digest.partition(":")
    return {algorithm: hexdigest}


def provenance_for(result: BuildResult) -> bytes:
    """The SLSA v1 provenance predicate of a fresh build, as compact JSON bytes.

    Raises UsageError for a reused result: that image's provenance was written when it was built.
    """
    return json.dumps(provenance_predicate(result), sort_keys=True, separators=(",", ":")).encode("utf-8")


def attest_provenance(
    store: Store, result: BuildResult, key: Signer, *, subject_name: str | None = None
) -> AttestResult:
    """Sign the provenance of ``result`` and attach it to the image in ``store``."""
    from shipflow.signing.dsse import STATEMENT_V1
    from shipflow.signing.sign import attest

    return attest(
        store,
        result.digest,
        key,
        predicate_type=SLSA_PROVENANCE_V1,
        predicate=provenance_for(result),
        subject_name=subject_name,
        statement_type=STATEMENT_V1,
    )
