"""``shipflow verify-image`` (and ``shipflow release``): the specification's build-and-sign.yml
and tools/verify-image.sh as commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from shipflow.cli.common import RegistryOptions, json_option, key_option, open_image_arg, registry_options
from shipflow.cli.output import print_json, stdout, step_summary
from shipflow.cli.pipeline import config_option, evidence_markdown, evidence_table
from shipflow.errors import GateFailed, UsageError

if TYPE_CHECKING:
    from shipflow.events import Event
    from shipflow.gate import Evidence
    from shipflow.release.release import ReleaseResult

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


def release_actor(explicit: str | None, environ: dict[str, str]) -> str:
    """Who promotes a fresh build into the entry environment: in GitHub Actions the workflow
    itself (``github-actions[bot]``, the spec's "CI (automatisch)"), elsewhere --actor or
    $GITHUB_ACTOR."""
    if environ.get("GITHUB_ACTIONS") == "true":
        if explicit and explicit != "github-actions[bot]":
            raise UsageError(
                f"--actor {explicit}: in GitHub Actions the release is promoted by github-actions[bot]",
                hint="drop --actor",
            )
        return "github-actions[bot]"
    from shipflow.release.promote import resolve_actor

    return resolve_actor(explicit, environ)


@click.command("release")
@click.argument(
    "context", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path), required=False
)
@click.option("-f", "--file", "dockerfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--build-arg", "build_args", multiple=True, metavar="NAME=VALUE", help="Build argument; repeatable."
)
@click.option(
    "--version", "version", default=None, help="The version (tag and label; default: git tag or revision)."
)
@click.option(
    "--revision", default=None, metavar="COMMIT", help="Source commit (default: git HEAD of CONTEXT)."
)
@click.option("--rebuild", is_flag=True, help="Build even if an image of the same inputs exists.")
@click.option("--builder", "builder_name", type=click.Choice(["auto", "buildah", "buildx"]), default="auto")
@click.option("--build-timeout", type=click.FloatRange(min=1), default=3600.0, show_default=True)
@click.option(
    "--actor", metavar="LOGIN", help="Who promotes into dev (default: github-actions[bot] in Actions)."
)
@click.option("--db", "db_path", type=click.Path(path_type=Path, dir_okay=False), help="Advisory database.")
@click.option(
    "--fail-on",
    default=None,
    help="Severities that fail (default: gates.vulnerabilities, else CRITICAL,HIGH).",
)
@click.option(
    "--sbom-output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("sbom.spdx.json"),
    show_default=True,
)
@click.option(
    "--sarif",
    "sarif_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("shipflow-scan.sarif"),
    show_default=True,
    help="Where the scan goes as SARIF (GitHub code scanning).",
)
@key_option
@config_option
@json_option
@registry_options
def release_cmd(
    context: Path,
    dockerfile: Path | None,
    build_args: tuple[str, ...],
    version: str | None,
    revision: str | None,
    rebuild: bool,
    builder_name: str,
    build_timeout: float,
    actor: str | None,
    db_path: Path | None,
    fail_on: str | None,
    sbom_output: Path,
    sarif_path: Path,
    key: str | None,
    config_path: Path | None,
    as_json: bool,
    registry: RegistryOptions,
) -> None:
    """The specification's build-and-sign.yml as one command:

    build (once) → push → sign → SBOM (SPDX JSON) → SBOM attestation → scan with the gate →
    vulnerability attestation → SLSA provenance → tag :dev (the "CI: build → dev" promotion,
    with its gates, signed record and history entry).

    A failure at any step leaves nothing tagged :dev and names the step. A second release of
    the same revision builds nothing. Outputs image_digest, image_tag, sbom_path and sarif_path
    ($GITHUB_OUTPUT in Actions; stdout, or --json, elsewhere) and a step summary.
    """
    import os

    from shipflow.build import BuilderChoice, BuilderOptions, BuildSettings
    from shipflow.cli.build_cmds import _pairs
    from shipflow.cli.output import github_output
    from shipflow.cli.pipeline import open_pipeline, progress_listener, record_signer
    from shipflow.events import EventBus
    from shipflow.release.release import ReleaseFailed, ReleaseSettings, release
    from shipflow.scan.gate import parse_fail_on
    from shipflow.scan.matcher import ScanOptions
    from shipflow.scan.run import discover_ignore_rules

    environ = dict(os.environ)
    pipeline = open_pipeline(config_path, registry)
    vulnerabilities = pipeline.config.vulnerabilities
    levels = parse_fail_on(fail_on or (list(vulnerabilities.fail_on) if vulnerabilities else "CRITICAL,HIGH"))
    ignore_files = vulnerabilities.ignore_files if vulnerabilities else ()
    signer = record_signer(key, required=True)
    assert signer is not None
    settings = ReleaseSettings(
        build=BuildSettings(
            context=context,
            image=pipeline.config.image,
            dockerfile=dockerfile,
            tags=(version,) if version else (),
            build_args=_pairs(build_args, "--build-arg"),
            builder=BuilderChoice(builder_name),
            builder_options=BuilderOptions.from_env(),
            revision=revision,
            version=version,
            rebuild=rebuild,
            registry=registry.config(pipeline.config.image) if not pipeline.image.is_layout else None,
            timeout=build_timeout,
        ),
        pipeline=pipeline,
        signer=signer,
        actor=release_actor(actor, environ),
        sbom_path=sbom_output,
        sarif_path=sarif_path,
        db_path=db_path or (vulnerabilities.db if vulnerabilities else None),
        fail_on=levels,
        scan_options=ScanOptions(
            ignore=discover_ignore_rules(None, ignore_files, cwd=pipeline.config.root),
            ignore_unfixed=vulnerabilities.ignore_unfixed if vulnerabilities else False,
        ),
        environ=environ,
    )
    bus = EventBus()
    bus.subscribe(_release_listener(as_json))
    bus.subscribe(progress_listener(as_json))
    try:
        result = release(settings, events=bus)
    except ReleaseFailed as exc:
        step_summary(_release_summary(exc.result, failed=exc.step))
        raise
    outputs = {
        "image_digest": result.digest,
        "image_tag": result.image_tag,
        "sbom_path": result.sbom_path,
        "sarif_path": result.sarif_path or "",
    }
    for name, value in outputs.items():
        github_output(name, value)
    step_summary(_release_summary(result, failed=None))
    if as_json:
        print_json(result.to_json())
        return
    for name, value in outputs.items():
        stdout.print(f"{name}={value}", markup=False, highlight=False)


def _release_listener(as_json: bool) -> Callable[[Event], None]:
    from shipflow.cli.build_cmds import _render
    from shipflow.cli.output import note

    def listener(event: Event) -> None:
        if event.kind.startswith("build."):
            _render(event)
        elif event.kind in ("release.step.done", "release.step.failed"):
            mark = "✓" if event.kind.endswith("done") else "✗"
            note(f"{mark} {event.message}")

    return listener


def _release_summary(result: ReleaseResult, *, failed: str | None) -> str:
    verdict = f"failed at step {failed}" if failed else "released"
    rows = ["| step | result | seconds | detail |", "|---|---|---:|---|"]
    for step in result.steps:
        detail = step.detail.replace("|", "\\|")
        rows.append(f"| {step.name} | {step.status} | {step.seconds:.2f} | {detail} |")
    head = f"### shipflow release: {verdict}\n\n"
    if result.digest:
        head += f"`{result.image}`\n\n"
    return head + "\n".join(rows)


COMMANDS: list[click.Command] = [verify_image_cmd, release_cmd]
