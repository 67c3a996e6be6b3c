"""OCI plumbing commands: ``inspect``, ``digest``, ``tags``, ``copy``, ``tag``.

Each works on any store reference (a registry or ``oci:PATH``). Read commands take
``--json``; results go to stdout, progress and notes to stderr.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from shipflow.cli.common import (
    RegistryOptions,
    human_bytes,
    json_option,
    not_found_hint,
    open_ref,
    parse_ref,
    registry_options,
    resolve_ref,
)
from shipflow.cli.output import RichProgress, github_output, note, print_json, stdout
from shipflow.errors import UsageError
from shipflow.oci.inspect import DEFAULT_TAG_LIMIT, ImageSummary, summarize
from shipflow.oci.reference import Reference, validate_tag

if TYPE_CHECKING:  # copy and tag import it when run: inspect, digest and tags do not need it
    from shipflow.oci.copy import CopyResult

__all__ = ["COMMANDS"]


def _say(text: str) -> None:
    stdout.print(text, markup=False, highlight=False)


@click.command("inspect")
@click.argument("ref", metavar="REF")
@click.option("--raw", is_flag=True, help="Print the manifest's exact bytes and nothing else.")
@click.option("--no-tags", is_flag=True, help="Do not look up which tags point at the digest.")
@click.option(
    "--tag-limit",
    type=click.IntRange(min=0),
    default=DEFAULT_TAG_LIMIT,
    show_default=True,
    help="Resolve at most this many tags when looking for those that point at the digest.",
)
@registry_options
@json_option
def inspect_cmd(
    ref: str, raw: bool, no_tags: bool, tag_limit: int, registry: RegistryOptions, as_json: bool
) -> None:
    """Show an image's digest, media type, size, platforms, layers, config and tags.

    REF is a registry reference (ghcr.io/org/app:tag, 127.0.0.1:5000/app@sha256:…) or an
    OCI layout (oci:./store:dev).
    """
    parsed, store = open_ref(ref, registry)
    with not_found_hint(parsed):
        if raw:
            manifest = store.get_manifest(parsed.identifier)
            sys.stdout.buffer.write(manifest.data)
            sys.stdout.buffer.flush()
            return
        summary = summarize(store, parsed.identifier, with_tags=not no_tags, tag_limit=tag_limit)
    if as_json:
        print_json({"reference": str(parsed), **summary.to_json()})
        return
    _print_summary(str(parsed), summary, tags_looked_up=not no_tags)


def _print_summary(reference: str, s: ImageSummary, *, tags_looked_up: bool) -> None:
    rows: list[tuple[str, str]] = [
        ("digest", str(s.digest)),
        ("media type", f"{s.media_type} ({s.kind})"),
        ("size", f"{s.size} B"),
    ]
    if s.artifact_type:
        rows.append(("artifact type", s.artifact_type))
    if s.subject:
        rows.append(("subject", str(s.subject)))
    if s.layers is not None:
        rows.append(("layers", f"{s.layers} ({human_bytes(s.layer_bytes)})"))
    if s.os or s.architecture:
        platform = f"{s.os or '?'}/{s.architecture or '?'}" + (f"/{s.variant}" if s.variant else "")
        rows.append(("platform", platform))
    if s.created:
        rows.append(("created", s.created))
    if tags_looked_up:
        tags = ", ".join(s.tags) if s.tags else "(none)"
        if not s.tags_complete:
            tags += f"  (checked {s.tags_checked} of {s.tags_total} tags; raise --tag-limit for all)"
        rows.append(("tags", tags))
    _say(reference)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        _say(f"  {label:<{width}}  {value}")
    if s.platforms:
        _say(f"  platforms ({len(s.platforms)}):")
        for p in s.platforms:
            layers = (
                f"{p.layers} layers, {human_bytes(p.layer_bytes)}" if p.layers is not None else p.media_type
            )
            _say(f"    {p.platform or '(no platform)':<16} {p.digest}  {layers}")
    for warning in s.warnings:
        note(f"warning: {warning}")


@click.command("digest")
@click.argument("ref", metavar="REF")
@registry_options
@json_option
def digest_cmd(ref: str, registry: RegistryOptions, as_json: bool) -> None:
    """Print the digest REF resolves to (and nothing else)."""
    parsed, store = open_ref(ref, registry)
    descriptor = resolve_ref(store, parsed)
    if as_json:
        print_json(
            {
                "reference": str(parsed),
                "digest": str(descriptor.digest),
                "mediaType": descriptor.media_type,
                "size": descriptor.size,
            }
        )
        return
    click.echo(str(descriptor.digest))


@click.command("tags")
@click.argument("repo", metavar="REPO")
@registry_options
@json_option
def tags_cmd(repo: str, registry: RegistryOptions, as_json: bool) -> None:
    """List the tags of a repository (REPO without tag or digest), sorted."""
    parsed = parse_ref(repo)
    if parsed.tag is not None or parsed.digest is not None:
        raise UsageError(
            f"`shipflow tags` takes a repository, not an image: {repo!r}",
            hint=f"drop the tag/digest: shipflow tags {parsed.name}",
        )
    _, store = open_ref(parsed, registry)
    tags = store.list_tags()
    if as_json:
        print_json({"repository": parsed.name, "tags": tags})
        return
    for tag in tags:
        click.echo(tag)


@click.command("copy")
@click.argument("src", metavar="SRC")
@click.argument("dst", metavar="DST")
@click.option(
    "--with-attachments",
    is_flag=True,
    help="Also copy what hangs on the digest: cosign .sig/.att/.sbom tags and OCI referrers.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Blobs transferred in parallel.",
)
@registry_options
@json_option
def copy_cmd(
    src: str, dst: str, with_attachments: bool, jobs: int, registry: RegistryOptions, as_json: bool
) -> None:
    """Copy an image (or a multi-platform index) from SRC to DST, digests preserved.

    DST takes a tag (DST:TAG); without one it gets SRC's tag, or no tag at all when SRC
    names a digest. Blobs DST already has are skipped; on the same registry they are mounted
    (no bytes move). The DST tag is written last, only once everything else is in place.
    """
    src_ref, dst_ref = parse_ref(src), parse_ref(dst)
    if dst_ref.digest is not None:
        raise UsageError(
            f"the destination {dst!r} names a digest",
            hint="give DST as REPO or REPO:TAG; the digest is always the source's",
        )
    dst_tag = _destination_tag(src_ref, dst_ref)
    config = None if src_ref.is_layout and dst_ref.is_layout else registry.config(src_ref, dst_ref)
    _, src_store = open_ref(src_ref, registry, config=config)
    # Read the source before opening the destination, so a missing source leaves no empty layout.
    with not_found_hint(src_ref):
        root = src_store.get_manifest(src_ref.identifier)
    _, dst_store = open_ref(dst_ref, registry, create=True, config=config)

    from shipflow.oci.copy import copy_manifest

    progress = RichProgress()
    try:
        result = copy_manifest(
            src_store,
            root,
            dst_store,
            dst_tag,
            with_attachments=with_attachments,
            observer=progress,
            max_workers=jobs,
        )
    finally:
        progress.finish()
    destination = dst_ref.by_digest(result.digest) if dst_tag is None else dst_ref.with_tag(dst_tag)
    github_output("digest", str(result.digest))
    if as_json:
        print_json(_copy_json(src_ref, destination, result))
        return
    _say(f"copied {src_ref} -> {destination}")
    _say(f"  digest       {result.digest}")
    _say(
        f"  blobs        {result.blobs_copied} copied ({human_bytes(result.bytes_copied)}), "
        f"{result.blobs_mounted} mounted, {result.blobs_skipped} already there"
    )
    _say(f"  manifests    {result.manifests}")
    if with_attachments:
        _say(f"  attachments  {len(result.attachments) or '(none found)'}")
        for attachment in result.attachments:
            _say(f"    {attachment}")


def _destination_tag(src: Reference, dst: Reference) -> str | None:
    if dst.tag is not None:
        return dst.tag
    if src.digest is not None:
        return None  # by digest in, by digest out: do not invent a tag
    return src.tag or "latest"


def _copy_json(src: Reference, destination: Reference, result: CopyResult) -> dict[str, object]:
    return {
        "source": str(src),
        "destination": str(destination),
        "digest": str(result.digest),
        "mediaType": result.media_type,
        "size": result.size,
        "manifests": result.manifests,
        "blobs": {
            "copied": result.blobs_copied,
            "mounted": result.blobs_mounted,
            "skipped": result.blobs_skipped,
        },
        "bytesCopied": result.bytes_copied,
        "attachments": result.attachments,
    }


@click.command("tag")
@click.argument("ref", metavar="REF@DIGEST")
@click.argument("tags", metavar="TAG...", nargs=-1, required=True)
@registry_options
@json_option
def tag_cmd(ref: str, tags: tuple[str, ...], registry: RegistryOptions, as_json: bool) -> None:
    """Point one or more TAGs at REF@DIGEST: one manifest write each, no blob moves.

    REF:TAG is accepted too: it is resolved once, and the digest found is what gets tagged.
    """
    for tag in tags:
        validate_tag(tag)
    parsed, store = open_ref(ref, registry)
    if parsed.digest is None and parsed.tag is None:
        raise UsageError(
            f"{ref!r} names no image",
            hint=f"give a digest (shipflow tag {parsed.name}@sha256:… TAG) or a tag to resolve",
        )
    descriptor = resolve_ref(store, parsed)
    digest = descriptor.digest
    if parsed.digest is None and not as_json:
        note(f"resolved {parsed} to {digest}")
    from shipflow.oci.copy import retag

    for tag in tags:
        retag(store, digest, tag)
    if as_json:
        print_json(
            {"repository": parsed.name, "digest": str(digest), "tags": list(tags), "resolvedFrom": parsed.tag}
        )
        return
    for tag in tags:
        _say(f"tagged {parsed.name}:{tag} -> {digest}")


COMMANDS: list[click.Command] = [inspect_cmd, digest_cmd, tags_cmd, copy_cmd, tag_cmd]
