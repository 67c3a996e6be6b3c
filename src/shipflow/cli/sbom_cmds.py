"""``shipflow sbom``: catalog an image or a directory and write SPDX or CycloneDX JSON.

The SBOM goes to ``-o FILE`` (written atomically) or stdout; a summary table goes to stderr so
stdout stays a clean document (drawn by rich on a terminal; plain aligned lines to a pipe or a
log, which spares rich's 50-100 ms import where nobody sees a box drawn).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click

from shipflow.cli.common import RegistryOptions, registry_options
from shipflow.cli.output import RichProgress, stderr
from shipflow.fsutil import atomic_write
from shipflow.sbom import Inventory, Limits, SbomFormat, render
from shipflow.sbom.image import DEFAULT_PLATFORM
from shipflow.sbom.target import TargetKind, detect_target, inventory_of

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["COMMANDS"]

_FORMAT_CHOICES = [f.value for f in SbomFormat] + ["spdx", "cyclonedx"]


def _summary_title(inventory: Inventory) -> str:
    distro = inventory.distro
    return f"{inventory.subject}" + (
        f"  ({distro.pretty_name or distro.id + ' ' + distro.version_id})" if distro else ""
    )


def summary_lines(inventory: Inventory) -> list[str]:
    """The summary as plain lines: the subject, then packages per type and the total."""
    counts = Counter(p.type for p in inventory.packages)
    rows = [(kind, str(counts[kind])) for kind in sorted(counts)] + [("total", str(len(inventory.packages)))]
    left = max(len(kind) for kind, _ in [("type", ""), *rows])
    right = max(len(count) for _, count in [("", "packages"), *rows])
    return [
        _summary_title(inventory),
        *(f"{kind:<{left}}  {count:>{right}}" for kind, count in [("type", "packages"), *rows]),
    ]


def summary_table(inventory: Inventory) -> Table:
    from rich.table import Table

    counts = Counter(p.type for p in inventory.packages)
    table = Table(title=_summary_title(inventory), title_justify="left")
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
    rpm, npm node_modules, Python dist-info/egg-info), Go executables, Java archives, the OS
    release, and the lock files of a project copied in (without their dev dependencies).
    Directories are read the same way, with lock files' dev dependencies listed and marked.
    Lock files: package-lock.json, yarn.lock, pnpm-lock.yaml, requirements*.txt, poetry.lock,
    uv.lock, Pipfile.lock, pylock.toml, go.mod (+ go.sum), Cargo.lock, composer.lock,
    Gemfile.lock. Recognised files that cannot be read are listed as "not read" (stderr and
    the SBOM's annotations).
    """
    sbom_format = SbomFormat.parse(fmt)
    target_kind = detect_target(target, sbom_files=False)
    registry_config = (
        registry.config(target_kind.reference)
        if target_kind.kind is TargetKind.IMAGE and target_kind.reference is not None
        else None
    )
    progress = RichProgress()
    try:
        inventory = inventory_of(
            target_kind,
            registry=registry_config,
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
        atomic_write(output, document, what="SBOM")
    if stderr.writes_plain():
        for line in summary_lines(inventory):
            stderr.write_plain(line)
    else:
        stderr.print(summary_table(inventory))
    for item in inventory.sorted_not_read():
        where = item.location.path + (f" (layer {item.location.layer})" if item.location.layer else "")
        stderr.print(f"not read: {where} [{item.cataloger}]: {item.reason}", highlight=False, markup=False)
    if output is not None:
        stderr.print(f"wrote {sbom_format.value} SBOM to {output}", highlight=False, markup=False)


COMMANDS: list[click.Command] = [sbom_cmd]
