"""``shipflow build``: build a Dockerfile once into a store, with labels and SLSA provenance.

Exit codes: 0 built or reused, 1 the build failed (a RUN step, a missing file), 2 usage
(bad flags, no revision, a malformed Dockerfile), 3 infrastructure (no builder, registry, disk).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from shipflow.cli.common import RegistryOptions, json_option, key_option, password_source, registry_options
from shipflow.cli.output import github_output, note, print_json, stdout, step_summary
from shipflow.cli.pipeline import config_option
from shipflow.errors import UsageError
from shipflow.events import Event, EventBus


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {item!r} is not NAME=VALUE", hint=f"e.g. {flag} VERSION=1.2.0")
        result[key] = value
    return result


def _render(event: Event) -> None:
    """Progress on stderr: every event, and the builder's own lines only with -v."""
    if event.kind == "build.output":
        logging.getLogger("shipflow.build.output").info("%s", event.message)
        return
    note(f"build: {event.message}")


def _summary(result: Any) -> str:
    rows = [
        ("image", f"`{result.image}`"),
        ("digest", f"`{result.digest}`"),
        ("reused", "yes: built earlier from the same inputs" if result.reused else "no: built now"),
        ("revision", f"`{result.source.revision}`"),
        ("version", f"`{result.version}`"),
        ("fingerprint", f"`{result.fingerprint}`"),
    ]
    if result.builder:
        rows.append(("builder", f"{result.builder} {result.builder_version}"))
    for base in result.base_images:
        rows.append(("base image", f"`{base.ref}` `{base.digest}`"))
    body = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return f"### shipflow build\n\n| | |\n|---|---|\n{body}"


@click.command("build")
@click.argument(
    "context", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path), required=False
)
@click.option(
    "--image",
    "image",
    envvar="SHIPFLOW_IMAGE",
    default=None,
    metavar="REPO",
    help="Store to build into, without tag: oci:./store or ghcr.io/org/app (default: $SHIPFLOW_IMAGE, "
    "else the image of shipflow.yaml).",
)
@config_option
@click.option(
    "-t", "--tag", "tags", multiple=True, metavar="TAG", help="Also point TAG at the image; repeatable."
)
@click.option(
    "-f",
    "--file",
    "dockerfile",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The Dockerfile (default CONTEXT/Dockerfile).",
)
@click.option(
    "--build-arg", "build_args", multiple=True, metavar="NAME=VALUE", help="Build argument; repeatable."
)
@click.option("--label", "labels", multiple=True, metavar="NAME=VALUE", help="Extra image label; repeatable.")
@click.option(
    "--platform", default=None, metavar="OS/ARCH", help="Target platform (default: this machine's)."
)
@click.option("--target", default=None, metavar="STAGE", help="Build this stage of a multi-stage Dockerfile.")
@click.option(
    "--builder",
    "builder_name",
    type=click.Choice(["auto", "buildah", "buildx"]),
    default="auto",
    show_default=True,
    help="buildah (daemonless) or docker buildx; auto: buildah where installed, else buildx.",
)
@click.option(
    "--revision", default=None, metavar="COMMIT", help="Source commit (default: git HEAD of CONTEXT)."
)
@click.option(
    "--source",
    "repository",
    default=None,
    metavar="URL",
    help="Source repository URL (default: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY, else git remote origin).",
)
@click.option(
    "--version",
    "version",
    default=None,
    help="The version label (default: the git tag at HEAD without its v, else the short revision).",
)
@click.option(
    "--timestamp",
    "source_date_epoch",
    type=int,
    default=None,
    metavar="EPOCH",
    help="Created time and file times, in seconds (default: $SOURCE_DATE_EPOCH, else the commit time).",
)
@click.option(
    "--rebuild",
    is_flag=True,
    help="Build even if the store holds an image built from the same inputs (build-once is the default).",
)
@click.option(
    "--provenance",
    "provenance_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the SLSA v1 provenance predicate (JSON) to this file.",
)
@click.option("--attest", is_flag=True, help="Sign the provenance and attach it to the image (needs --key).")
@key_option
@click.option(
    "--isolation", default=None, help="buildah --isolation (default chroot; env BUILDAH_ISOLATION)."
)
@click.option(
    "--storage-driver", default=None, help="buildah --storage-driver (default vfs; env STORAGE_DRIVER)."
)
@click.option(
    "--buildah-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep buildah's storage here, base images cached between builds (default: a private one per "
    "build, removed after; env SHIPFLOW_BUILDAH_ROOT).",
)
@click.option(
    "--build-timeout",
    "build_timeout",
    type=click.FloatRange(min=1),
    default=3600.0,
    show_default=True,
    help="Seconds the build may take; then the builder and its children are stopped.",
)
@registry_options
@json_option
def build_cmd(
    context: Path,
    image: str | None,
    config_path: Path | None,
    tags: tuple[str, ...],
    dockerfile: Path | None,
    build_args: tuple[str, ...],
    labels: tuple[str, ...],
    platform: str | None,
    target: str | None,
    builder_name: str,
    revision: str | None,
    repository: str | None,
    version: str | None,
    source_date_epoch: int | None,
    rebuild: bool,
    provenance_path: Path | None,
    attest: bool,
    key: str | None,
    isolation: str | None,
    storage_driver: str | None,
    buildah_root: Path | None,
    build_timeout: float,
    registry: RegistryOptions,
    as_json: bool,
) -> None:
    """Build CONTEXT's Dockerfile once into the store and print the image digest.

    When the store already holds an image built from the same inputs (source revision,
    Dockerfile, context files, build arguments, platform, target, extra labels), nothing is
    built: its digest is reused and the output says so (--rebuild builds anyway). Builds are
    reproducible: the same inputs give the same digest. The image carries the OCI labels
    org.opencontainers.image.revision, .source, .created and .version, and the build-inputs
    fingerprint (dev.shipflow.build.fingerprint); the tag build-<fingerprint> names it.

    buildah runs daemonless (--isolation chroot, vfs storage by default); docker buildx needs a
    Docker daemon and a builder that exports OCI layouts (docker buildx create --use).
    """
    from shipflow.build import BuilderChoice, BuilderOptions, BuildSettings, build_image, provenance_for
    from shipflow.fsutil import atomic_write

    if image is None:
        from shipflow.release.config import find_config, load_config

        image = load_config(find_config(config_path)).image
    if attest and key is None:
        import os

        if not os.environ.get("COSIGN_PRIVATE_KEY"):
            raise UsageError(
                "--attest needs a signing key", hint="add --key cosign.key or set COSIGN_PRIVATE_KEY"
            )
    bus = EventBus()
    bus.subscribe(_render)
    settings = BuildSettings(
        context=context,
        image=image,
        dockerfile=dockerfile,
        tags=tags,
        build_args=_pairs(build_args, "--build-arg"),
        labels=_pairs(labels, "--label"),
        platform=platform,
        target=target,
        builder=BuilderChoice(builder_name),
        builder_options=BuilderOptions.from_env(
            isolation=isolation, storage_driver=storage_driver, storage_root=buildah_root
        ),
        revision=revision,
        repository=repository,
        version=version,
        source_date_epoch=source_date_epoch,
        rebuild=rebuild,
        registry=registry.config(image),
        timeout=build_timeout,
    )
    result = build_image(settings, events=bus)

    attested = None
    if not result.reused and (provenance_path is not None or attest):
        predicate = provenance_for(result)
        if provenance_path is not None:
            atomic_write(provenance_path, predicate, what="provenance")
            note(f"build: provenance written to {provenance_path}")
        if attest:
            from shipflow.build import attest_provenance
            from shipflow.oci.open import open_store
            from shipflow.signing.keys import private_key_from_settings
            from shipflow.signing.payload import docker_reference

            signer = private_key_from_settings(key, password_source())
            store = open_store(result.image, config=settings.registry)
            attested = attest_provenance(store, result, signer, subject_name=docker_reference(result.image))
            note(f"build: signed SLSA provenance attached ({attested.tag})")
    elif result.reused and (provenance_path is not None or attest):
        note(
            "build: nothing was built, so no new provenance: the build that made this image wrote it "
            "(shipflow verify-attestation --type slsaprovenance1); --rebuild to build again"
        )

    github_output("digest", str(result.digest))
    github_output("image", str(result.image))
    github_output("reused", "true" if result.reused else "false")
    step_summary(_summary(result))
    if as_json:
        data = result.to_json()
        data["provenanceAttestation"] = attested.tag if attested is not None else None
        print_json(data)
        return
    verb = "reused" if result.reused else "built"
    stdout.print(f"{verb} {result.image}", highlight=False, markup=False)


COMMANDS = [build_cmd]
