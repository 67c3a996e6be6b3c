"""The scan workflow as one library call: decide the target, inventory it, match, report.

``shipflow scan`` is a thin caller of :func:`scan_target`; a promotion gate that must
"re-scan this digest now" calls :func:`scan_image` (or the gate in :mod:`shipflow.scan.gate`)
without going near the CLI::

    target = detect_target("oci:./store:dev")                 # or a directory, an SBOM file
    options = ScanOptions(ignore=discover_ignore_rules(target))
    with AdvisoryDB.open(db_path) as db:                      # closing() also works
        report = scan_target(target, db, options)
    verdict = SeverityGate(Severity.HIGH).check(ReportSubject(report))

The advisory DB is opened by the caller and only needed by the shipflow engine: trivy and
grype (``engine=``) bring their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, assert_never

from shipflow.errors import UsageError
from shipflow.sbom.target import Target, TargetKind
from shipflow.scan.ignore import IgnoreRules, load_ignore_file
from shipflow.scan.matcher import ScanOptions, scan_inventory
from shipflow.scan.model import ScanReport

if TYPE_CHECKING:
    from shipflow.oci.digest import Digest
    from shipflow.oci.registry.config import RegistryConfig
    from shipflow.oci.store import ProgressObserver, Store
    from shipflow.scan.db import AdvisoryDB

__all__ = [
    "DEFAULT_IGNORE_FILES",
    "Engine",
    "discover_ignore_files",
    "discover_ignore_rules",
    "scan_image",
    "scan_target",
]

# Looked for in the working directory and, for a directory target, in the target itself.
DEFAULT_IGNORE_FILES = (".shipflowignore.yaml", ".trivyignore", ".trivyignore.yaml")


class Engine(StrEnum):
    """Who matches: shipflow itself (offline DB), or trivy/grype run as programs."""

    SHIPFLOW = "shipflow"
    TRIVY = "trivy"
    GRYPE = "grype"


def discover_ignore_files(target: Target | None, cwd: Path | None = None) -> list[Path]:
    """The default ignore files that exist: in ``cwd`` (default: the working directory) and,
    for a directory target, in that directory; each once."""
    bases = [cwd or Path.cwd()]
    if target is not None and target.kind is TargetKind.DIRECTORY and target.path is not None:
        bases.append(target.path)
    found: list[Path] = []
    for base in bases:
        for name in DEFAULT_IGNORE_FILES:
            candidate = (base / name).resolve()
            if candidate.is_file() and candidate not in found:
                found.append(candidate)
    return found


def discover_ignore_rules(
    target: Target | None, explicit: Sequence[Path] = (), cwd: Path | None = None
) -> IgnoreRules:
    """Ignore rules from ``explicit`` files, or else from the default files found."""
    paths: Iterable[Path] = explicit or discover_ignore_files(target, cwd)
    return IgnoreRules([entry for path in paths for entry in load_ignore_file(path)])


def scan_image(
    store: Store,
    digest: Digest,
    db: AdvisoryDB,
    options: ScanOptions,
    *,
    platform: str | None = None,
    observer: ProgressObserver | None = None,
) -> ScanReport:
    """Scan the image ``digest`` in ``store`` from its layers, now, with the current DB."""
    from shipflow.sbom.image import catalog_image

    inventory = catalog_image(store, str(digest), platform=platform, observer=observer)
    return scan_inventory(inventory, db, options)


def scan_target(
    target: Target,
    db: AdvisoryDB | None,
    options: ScanOptions,
    *,
    engine: Engine = Engine.SHIPFLOW,
    registry: RegistryConfig | None = None,
    platform: str | None = None,
    observer: ProgressObserver | None = None,
) -> ScanReport:
    """Scan a directory, an SBOM file or an image (pinned to its digest before it is read).

    ``db`` is required for the shipflow engine; notes about skipped SBOM entries go into the
    report's notes.
    """
    if engine is Engine.SHIPFLOW:
        if db is None:
            raise UsageError("scanning needs an advisory database", hint="import one with shipflow db import")
        return _scan_with_shipflow(
            target, db, options, registry=registry, platform=platform, observer=observer
        )
    if engine is Engine.TRIVY or engine is Engine.GRYPE:
        from shipflow.scan._engines import run_engine

        return run_engine(engine.value, target.text, options)
    assert_never(engine)


def _scan_with_shipflow(
    target: Target,
    db: AdvisoryDB,
    options: ScanOptions,
    *,
    registry: RegistryConfig | None,
    platform: str | None,
    observer: ProgressObserver | None,
) -> ScanReport:
    if target.kind is TargetKind.SBOM_FILE:
        from shipflow.scan._sbom_input import read_sbom

        assert target.path is not None
        result = read_sbom(target.path)
        report = scan_inventory(result.inventory, db, options)
        if result.skipped:
            report.notes.append(
                f"{result.skipped} package(s) in {target.path} have purl types shipflow does not match;"
                " skipped"
            )
        return report
    if target.kind is TargetKind.DIRECTORY or target.kind is TargetKind.IMAGE:
        from shipflow.sbom.target import inventory_of

        inventory = inventory_of(target, registry=registry, platform=platform, observer=observer)
        return scan_inventory(inventory, db, options)
    assert_never(target.kind)
