"""What a scan or SBOM argument names, decided in one place, and its inventory.

``shipflow sbom TARGET`` and ``shipflow scan TARGET`` take the same kinds of argument, and a
promotion gate that re-scans a digest uses the same code. :func:`detect_target` decides:

* ``oci:PATH[:TAG|@DIGEST]`` is an image in an OCI layout, always;
* an existing directory is a source tree (lock files, installed packages);
* an existing file is an SBOM document (SPDX or CycloneDX JSON) — only where one is accepted;
* anything spelled as a path (``/…``, ``./…``, ``../…``, ``~…``), or named like a document
  (``sbom.json``), that does not exist is an error that says so (not a complaint about a
  repository name);
* everything else is an image reference (a registry), validated as one.

:func:`inventory_of` turns a directory or image target into an
:class:`~shipflow.sbom.model.Inventory`; SBOM files are read by ``scan`` (``scan.sbom_input``),
which knows which purl types it matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, assert_never

from shipflow.errors import UsageError
from shipflow.oci.reference import Reference, parse_reference

if TYPE_CHECKING:
    from shipflow.oci.registry.config import RegistryConfig
    from shipflow.oci.store import ProgressObserver
    from shipflow.sbom.layers import Limits
    from shipflow.sbom.model import Inventory

__all__ = ["Target", "TargetKind", "detect_target", "inventory_of"]


class TargetKind(StrEnum):
    DIRECTORY = "directory"
    SBOM_FILE = "sbom-file"
    IMAGE = "image"


@dataclass(frozen=True)
class Target:
    """A decided argument: its kind, and the path or the parsed reference."""

    kind: TargetKind
    text: str
    path: Path | None = None
    reference: Reference | None = None

    def __str__(self) -> str:
        return self.text


_PATH_PREFIXES = ("/", "./", "../", "~")
# A bare name with one of these suffixes ("sbom.json") is a file the user meant, not an image
# on Docker Hub (an image name carries no document suffix, and usually a tag or digest).
_DOCUMENT_SUFFIXES = (".json", ".yaml", ".yml", ".xml", ".spdx", ".cdx", ".txt", ".lock", ".tar", ".gz")
_ANSWERS = "an image reference, a directory or an SBOM file"


def _names_a_document(text: str) -> bool:
    return ":" not in text and "@" not in text and text.lower().endswith(_DOCUMENT_SUFFIXES)


def detect_target(text: str, *, sbom_files: bool = True) -> Target:
    """Decide what ``text`` names (see the module docstring). UsageError (exit 2) with a hint
    when it is a missing path, a file where none is accepted, or a malformed reference."""
    if not text.strip():
        raise UsageError("the target is empty", hint=f"give {_ANSWERS}")
    if text.startswith("oci:"):
        return Target(TargetKind.IMAGE, text, reference=parse_reference(text))
    try:
        path = Path(text).expanduser()
    except (RuntimeError, ValueError):  # ~nosuchuser, or a NUL byte: no home to expand to
        path = Path(text)
    try:
        is_dir, exists = path.is_dir(), path.exists()
    except OSError as exc:  # ENAMETOOLONG, EACCES on a parent directory
        if not text.startswith(_PATH_PREFIXES):
            return Target(TargetKind.IMAGE, text, reference=parse_reference(text))
        raise UsageError(f"{text}: {exc.strerror or exc}", hint=f"give {_ANSWERS}") from exc
    if is_dir:
        return Target(TargetKind.DIRECTORY, text, path=path)
    if exists:
        if not sbom_files:
            raise UsageError(
                f"{text} is a file, not an image or a directory",
                hint="give an image reference (registry or oci:PATH) or a source directory",
            )
        if not path.is_file():
            raise UsageError(
                f"{text} is not a regular file", hint="give an SBOM file (SPDX or CycloneDX JSON)"
            )
        return Target(TargetKind.SBOM_FILE, text, path=path)
    if text.startswith(_PATH_PREFIXES) or _names_a_document(text):
        raise UsageError(
            f"{text}: no such file or directory",
            hint="check the path; an image in a layout is written oci:PATH[:TAG]",
        )
    return Target(TargetKind.IMAGE, text, reference=parse_reference(text))


def inventory_of(
    target: Target,
    *,
    registry: RegistryConfig | None = None,
    platform: str | None = None,
    limits: Limits | None = None,
    observer: ProgressObserver | None = None,
) -> Inventory:
    """The packages in a directory or image target. An image is pinned to its digest first
    (the inventory's subject names the digest). SBOM files are refused here: read them with
    ``shipflow.scan.read_sbom``."""
    if target.kind is TargetKind.DIRECTORY:
        from shipflow.sbom.catalog import catalog_directory

        assert target.path is not None
        return catalog_directory(target.path)
    if target.kind is TargetKind.IMAGE:
        from shipflow.oci.open import open_image
        from shipflow.sbom.image import catalog_image

        assert target.reference is not None
        image = open_image(target.reference, registry)
        return catalog_image(
            image.store, str(image.digest), platform=platform, limits=limits, observer=observer
        )
    if target.kind is TargetKind.SBOM_FILE:
        raise UsageError(
            f"{target.text} is already an SBOM", hint="give an image reference or a source directory"
        )
    assert_never(target.kind)
