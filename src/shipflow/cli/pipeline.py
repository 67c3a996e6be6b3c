"""What every pipeline command shares: ``--config``, opening the pipeline, the signing key,
digest arguments, and rendering gate evidence (terminal lines, tables, step summaries)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from shipflow.cli.common import RegistryOptions
from shipflow.errors import UsageError

if TYPE_CHECKING:
    from shipflow.events import Event
    from shipflow.gate import Evidence
    from shipflow.oci.digest import Digest
    from shipflow.release.promote import Pipeline
    from shipflow.signing.keys import PrivateKey

F = TypeVar("F", bound=Callable[..., Any])

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The pipeline file (default: $SHIPFLOW_CONFIG, else ./shipflow.yaml).",
)


def open_pipeline(config_path: Path | None, registry: RegistryOptions) -> Pipeline:
    """Find and validate shipflow.yaml and open the store its ``image`` names."""
    from shipflow.oci.reference import parse_reference
    from shipflow.release.config import find_config, load_config
    from shipflow.release.promote import Pipeline

    config = load_config(find_config(config_path))
    ref = parse_reference(config.image)
    registry_config = None if ref.is_layout else registry.config(ref)
    return Pipeline.open(config, registry_config)


def parse_digest_arg(text: str, pipeline: Pipeline | None = None) -> Digest:
    """``sha256:…``, or ``REPO@sha256:…`` (the repository must be the pipeline's)."""
    from shipflow.oci.digest import Digest

    if "@" in text:
        from shipflow.oci.reference import parse_reference

        ref = parse_reference(text)
        if ref.digest is None:
            raise UsageError(f"{text} has no digest", hint="pass --digest sha256:…")
        if pipeline is not None and ref.name != pipeline.image.name:
            raise UsageError(
                f"{text} is not in the pipeline's repository {pipeline.image.name}",
                hint="promotion moves digests within the repository shipflow.yaml names",
            )
        return ref.digest
    return Digest.parse(text.strip())


def record_signer(key: str | None, *, required: bool) -> PrivateKey | None:
    """The key that signs records and approvals: ``--key`` or ``COSIGN_PRIVATE_KEY``."""
    from shipflow.cli.common import password_source
    from shipflow.signing.keys import ENV_PRIVATE_KEY, private_key_from_settings

    if key is None and not os.environ.get(ENV_PRIVATE_KEY) and not required:
        return None
    return private_key_from_settings(key, password_source())


# --- rendering ------------------------------------------------------------------------------

_MARK = {"passed": "✓", "failed": "✗", "skipped": "-"}


def gate_line(evidence: Evidence) -> str:
    mark = _MARK.get(evidence.status.value, "?")
    return f"  {mark} {evidence.gate:<16} {evidence.duration_seconds:6.2f} s  {evidence.summary}"


def progress_listener(as_json: bool) -> Callable[[Event], None]:
    """Events as plain lines on stderr (also when not a terminal; never on stdout)."""
    from shipflow.cli.output import note
    from shipflow.gate import Evidence

    def listener(event: Event) -> None:
        if event.kind in ("gate.passed", "gate.failed", "gate.skipped"):
            note(gate_line(Evidence.from_json(event.data["evidence"])))
        elif event.kind in (
            "promote.started",
            "promote.retagged",
            "promote.deploying",
            "promote.deployed",
            "promote.restored",
            "promote.recorded",
            "promote.unchanged",
        ):
            note(event.message)
        elif event.kind == "gate.planned" and not as_json:
            pass

    return listener


def evidence_table(evidence: list[Evidence], title: str) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    table.add_column("gate")
    table.add_column("result")
    table.add_column("seconds", justify="right")
    table.add_column("evidence")
    for item in evidence:
        table.add_row(
            Text(item.gate),
            Text(item.status.value),
            f"{item.duration_seconds:.2f}",
            Text(item.summary),
        )
    return table


def evidence_markdown(evidence: list[Evidence]) -> str:
    rows = ["| gate | result | seconds | evidence |", "|---|---|---:|---|"]
    for item in evidence:
        summary = item.summary.replace("|", "\\|").replace("\n", " ")
        rows.append(
            f"| {item.gate} | {_MARK.get(item.status.value, '')} {item.status.value} | "
            f"{item.duration_seconds:.2f} | {summary} |"
        )
    return "\n".join(rows)
