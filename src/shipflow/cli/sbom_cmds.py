"""``shipflow sbom``: catalog an image or a directory and write SPDX or CycloneDX JSON.

The SBOM goes to ``-o FILE`` (written atomically) or stdout; a summary table goes to stderr so
stdout stays a clean document.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import click
from rich.table import Table

from shipflow.cli.common import RegistryOptions, open_ref, registry_options, resolve_ref
from shipflow.cli.output import RichProgress, stderr
from shipflow.errors import InfrastructureError
from shipflow.sbom import Inventory, Limits, SbomFormat, catalog_directory, catalog_image, render
from shipflow.sbom.image import DEFAULT_PLATFORM

__all__ = ["COMMANDS"]

_FORMAT_CHOICES = [f.value for f in SbomFormat] + ["spdx", "cyclonedx"]


def is_directory_target(target: str) -> bool:
    """An existing directory, or anything spelled as a path (``/…``, ``./…``, ``../…``), is a
    directory; ``oci:…`` and registry references are images (``oci:PATH`` for a layout)."""
    if target.startswith("oci:"):
        return False
    return Path(target).is_dir() or target.startswith(("/", "./", "../", "~"))


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file + rename: never a half-written SBOM."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise InfrastructureError(
            f"cannot write {path}: {exc}", hint="check the path and permissions"
        ) from exc


def summary_table(inventory: Inventory) -> Table:
    counts = Counter(p.type for p in inventory.packages)
    distro = inventory.distro
    title = f"{inventory.subject}" + (
        f"  ({distro.pretty_name or distro.id + ' ' + distro.version_id})" if distro else ""
    )
    table = Table(title=title, title_justify="left")
    table.add_column("type")
    table.add_column("packages", justify="right")
    for kind in sorted(counts):
        table.add_row(kind, str(counts[kind]))
    table.add_row("total", str(len(inventory.packages)), style="bold")
    return table


@click.command("sbom")
@click.argument("target", metavar="IMAGE|DIR")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the SBOM here (default: stdout).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMAT_CHOICES),
    default=SbomFormat.SPDX_JSON.value,
    show_default=True,
    help="SPDX 2.3 JSON or CycloneDX 1.6 JSON.",
)
@click.option(
    "--platform",
    default=None,
    metavar="OS/ARCH[/VARIANT]",
    help=f"Image of a multi-platform index to catalog [default: {DEFAULT_PLATFORM}].",
)
@click.option(
    "--max-size",
    type=click.IntRange(min=1),
    default=Limits().max_total_bytes // 1024**2,
    show_default=True,
    metavar="MIB",
    help="Refuse images whose layers decompress to more than this (decompression bombs).",
)
@registry_options
def sbom_cmd(
    target: str, output: Path | None, fmt: str, platform: str | None, max_size: int, registry: RegistryOptions
) -> None:
    """Write an SBOM of an image (any store reference) or a directory.

    Images are read layer by layer without unpacking: installed-package databases (apk, dpkg,
    npm node_modules, Python dist-info/egg-info) and the OS release. Directories are also
    searched for lock files (package-lock.json, requirements*.txt, poetry.lock, uv.lock).
    """
    sbom_format = SbomFormat.parse(fmt)
    if is_directory_target(target):
        inventory = catalog_directory(Path(target).expanduser())
    else:
        parsed, store = open_ref(target, registry)
        descriptor = resolve_ref(store, parsed)
        progress = RichProgress()
        try:
            inventory = catalog_image(
                store,
                str(descriptor.digest),
                platform=platform,
                limits=Limits(max_total_bytes=max_size * 1024**2),
                observer=progress,
            )
        finally:
            progress.finish()
    document = render(inventory, sbom_format)
    if output is None:
        sys.stdout.write(document)
        sys.stdout.flush()
    else:
        write_atomically(output, document)
    stderr.print(summary_table(inventory))
    if output is not None:
        stderr.print(f"wrote {sbom_format.value} SBOM to {output}", highlight=False, markup=False)


COMMANDS: list[click.Command] = [sbom_cmd]
