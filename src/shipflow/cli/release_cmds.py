"""``shipflow verify-image`` (and ``shipflow release``): the specification's build-and-sign.yml
and tools/verify-image.sh as commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from shipflow.cli.common import RegistryOptions, json_option, open_image_arg, registry_options
from shipflow.cli.output import print_json, stdout, step_summary
from shipflow.cli.pipeline import config_option, evidence_markdown, evidence_table
from shipflow.errors import GateFailed, UsageError

if TYPE_CHECKING:
    from shipflow.gate import Evidence

__all__ = ["COMMANDS"]


@click.command("verify-image")
@click.argument("image", metavar="IMAGE@DIGEST")
@click.option(
    "--key", "keys", multiple=True, metavar="PUB", help="Trusted public key (default: shipflow.yaml's)."
)
@click.option(
    "--promoted-to", metavar="ENV", help="Also demand a promotion record for every stage up to ENV."
)
@click.option("--fail-on", default="CRITICAL,HIGH", show_default=True, help="Severities that fail the scan.")
@click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False), help="Advisory database.")
@click.option("--ignore-file", "ignore_files", multiple=True, type=click.Path(path_type=Path, dir_okay=False))
@config_option
@json_option
@registry_options
def verify_image_cmd(
    image: str,
    keys: tuple[str, ...],
    promoted_to: str | None,
    fail_on: str,
    db_path: Path | None,
    ignore_files: tuple[Path, ...],
    config_path: Path | None,
    as_json: bool,
    registry: RegistryOptions,
) -> None:
    """Check an image before it is deployed: its cosign signature, a CRITICAL/HIGH scan now, and
    (with --promoted-to) a verified promotion record for every stage up to that environment.

    Every check runs and is reported; exit 0 when all pass, 1 when any fails. Keys default to
    keys.trusted of shipflow.yaml (found here, or --config).
    """
    from shipflow.gate import GateContext
    from shipflow.release.config import find_config, load_config
    from shipflow.release.gates import trusted_policy
    from shipflow.release.verify_image import VerifyImageSettings, verify_image
    from shipflow.scan.gate import parse_fail_on
    from shipflow.signing.policy import trusted_keys_from_paths

    config = None
    if promoted_to is not None or not keys or config_path is not None:
        config = load_config(find_config(config_path))
    if keys:
        policy = trusted_keys_from_paths([Path(k) for k in keys])
    elif config is not None:
        policy = trusted_policy(config.trusted_keys)
    else:  # pragma: no cover - find_config raised already
        raise UsageError("no trusted key", hint="pass --key cosign.pub")
    opened = open_image_arg(image, registry)
    settings = VerifyImageSettings(
        signature_policy=policy,
        fail_on=parse_fail_on(fail_on),
        db_path=db_path,
        ignore_files=ignore_files,
        promoted_to=promoted_to,
        config=config,
        record_policy=trusted_policy(config.record_keys) if config is not None else None,
    )
    ctx = GateContext(opened.store, opened.digest, opened.reference)
    title = f"verify-image {opened.pinned}"
    try:
        evidence = verify_image(ctx, settings)
    except GateFailed as exc:
        if exc.evidence is not None:
            _report(title, list(exc.evidence.children), "failed", as_json)
        raise
    _report(title, list(evidence.children), "passed", as_json)


def _report(title: str, evidence: list[Evidence], verdict: str, as_json: bool) -> None:
    step_summary(f"### {title}: {verdict}\n\n" + evidence_markdown(evidence))
    if as_json:
        print_json({"verdict": verdict, "checks": [e.to_json() for e in evidence]})
        return
    stdout.print(evidence_table(evidence, f"{title}: {verdict}"))


COMMANDS: list[click.Command] = [verify_image_cmd]
