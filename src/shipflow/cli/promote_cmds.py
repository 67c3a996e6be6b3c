"""``shipflow promote | approve | status | history | where``: the specification's promote.yml.

Exit codes: 0 promoted (or already there; or the dry run passed), 1 refused (a path, a role, a
skipped stage, a gate), 2 configuration or usage, 3 infrastructure (registry, database, disk).
"""

from __future__ import annotations

from pathlib import Path

import click

from shipflow.cli.common import RegistryOptions, json_option, key_option, registry_options
from shipflow.cli.output import github_output, note, print_json, stdout, step_summary
from shipflow.cli.pipeline import (
    config_option,
    evidence_markdown,
    evidence_table,
    open_pipeline,
    parse_digest_arg,
    progress_listener,
    record_signer,
)
from shipflow.errors import PromotionRefused, UsageError

__all__ = ["COMMANDS"]


@click.command("promote")
@click.option("--digest", "digest_text", required=True, metavar="DIGEST", help="sha256:… (or REPO@sha256:…).")
@click.option("--from", "source", metavar="ENV", help="The source environment (default: the configured one).")
@click.option("--to", "target", required=True, metavar="ENV", help="The target environment.")
@click.option("--actor", metavar="LOGIN", help="Who promotes (default: $GITHUB_ACTOR).")
@click.option("--dry-run", is_flag=True, help="Run every check and gate; change nothing.")
@click.option("--keep-going", is_flag=True, help="Run every gate even after one failed.")
@key_option
@config_option
@json_option
@registry_options
def promote_cmd(
    digest_text: str,
    source: str | None,
    target: str,
    actor: str | None,
    dry_run: bool,
    keep_going: bool,
    key: str | None,
    config_path: Path | None,
    as_json: bool,
    registry: RegistryOptions,
) -> None:
    """Promote a digest into an environment: re-tag only, behind the environment's gates.

    Checks, in order: the path is allowed by shipflow.yaml; the actor holds a role the target
    accepts; the digest is in the source environment (or carries a verified promotion record
    into it); then the target's gates (signature always, then e.g. vulnerabilities, migration,
    smoke, contract, approvals). Then one manifest PUT of the digest's original bytes under the
    target tag, a signed promotion record (--key / COSIGN_PRIVATE_KEY) and a history entry.

    In GitHub Actions: a step summary of the gates and the outputs digest, environment, promoted.
    """
    from shipflow.events import EventBus
    from shipflow.release.promote import PromotionRequest, PromotionResult, promote, resolve_actor

    pipeline = open_pipeline(config_path, registry)
    digest = parse_digest_arg(digest_text, pipeline)
    request = PromotionRequest(
        digest=digest,
        source=source,
        target=target,
        actor=resolve_actor(actor),
        dry_run=dry_run,
        keep_going=keep_going,
    )
    signer = record_signer(key, required=not dry_run)
    bus = EventBus()
    bus.subscribe(progress_listener(as_json))
    github_output("digest", str(digest))
    github_output("environment", target)
    try:
        result: PromotionResult = promote(pipeline, request, signer=signer, events=bus)
    except PromotionRefused as exc:
        github_output("promoted", "false")
        refused = exc.result
        if isinstance(refused, PromotionResult):
            _report(refused, as_json)
        raise
    github_output("promoted", "true" if result.status in ("promoted", "already-promoted") else "false")
    _report(result, as_json)


def _report(result: object, as_json: bool) -> None:
    from shipflow.release.promote import PromotionResult

    assert isinstance(result, PromotionResult)
    title = f"{result.source or 'build'} → {result.target}: {result.status}"
    step_summary(
        f"### shipflow promote {result.source or 'build'} → {result.target}\n\n"
        f"`{result.image}@{result.digest}` by {result.actor}: **{result.status}**"
        + (f" — {result.reason}" if result.reason and result.status != "promoted" else "")
        + ("\n\n" + evidence_markdown(result.evidence) if result.evidence else "")
    )
    if as_json:
        print_json(result.to_json())
        return
    if result.evidence:
        stdout.print(evidence_table(result.evidence, title))
    if result.status == "promoted":
        stdout.print(
            f"{result.target} now holds {result.image}@{result.digest} "
            f"(was {result.previous or 'empty'}); record {result.record}",
            markup=False,
            highlight=False,
        )
    elif result.status in ("already-promoted", "dry-run"):
        stdout.print(result.reason or result.status, markup=False, highlight=False)
    for message in result.notes:
        note(f"note: {message}")


@click.command("approve")
@click.option("--digest", "digest_text", required=True, metavar="DIGEST", help="sha256:… (or REPO@sha256:…).")
@click.option(
    "--env", "environment", required=True, metavar="ENV", help="The environment the approval is for."
)
@click.option("--actor", metavar="LOGIN", help="The approver (default: $GITHUB_ACTOR).")
@click.option("--comment", metavar="TEXT", help="A note kept in the signed approval.")
@key_option
@config_option
@json_option
@registry_options
def approve_cmd(
    digest_text: str,
    environment: str,
    actor: str | None,
    comment: str | None,
    key: str | None,
    config_path: Path | None,
    as_json: bool,
    registry: RegistryOptions,
) -> None:
    """Sign an approval of a digest for an environment with the approver's own key.

    The approvals gate counts it when the approver is listed under approvers: in shipflow.yaml
    with the public key that verifies it, and is not the one promoting.
    """
    from shipflow.release.approvals import approve
    from shipflow.release.promote import resolve_actor
    from shipflow.signing.keys import load_public_keys

    pipeline = open_pipeline(config_path, registry)
    config = pipeline.config
    config.environment(environment)
    approver = resolve_actor(actor)
    if approver not in config.approvers:
        raise PromotionRefused(
            f"{approver} is not a listed approver",
            hint="approvers are listed with their public keys under approvers: in shipflow.yaml: "
            + (", ".join(sorted(config.approvers)) or "none"),
        )
    signer = record_signer(key, required=True)
    assert signer is not None
    listed = {k.key_id for k in load_public_keys(config.approvers[approver])}
    if signer.verifier.key_id not in listed:
        raise UsageError(
            f"this key is not {approver}'s: its public half is not {config.approvers[approver].name}",
            hint=f"sign with the private key whose public key is listed for {approver}",
        )
    digest = parse_digest_arg(digest_text, pipeline)
    pipeline.store.resolve(str(digest))  # nothing is approved about an image that is not there
    ref = approve(
        pipeline.store,
        digest,
        environment,
        signer,
        approver=approver,
        subject_name=pipeline.name,
        comment=comment,
    )
    if as_json:
        print_json(
            {"digest": str(digest), "environment": environment, "approver": approver, "approval": ref.tag}
        )
        return
    stdout.print(f"{approver} approved {pipeline.pinned(digest)} for {environment} ({ref.tag})", markup=False)


@click.command("status")
@config_option
@json_option
@registry_options
def status_cmd(config_path: Path | None, as_json: bool, registry: RegistryOptions) -> None:
    """Per environment: the digest it holds, since when, by whom, and the gates it passed."""
    from rich.table import Table
    from rich.text import Text

    from shipflow.release.history import environment_status

    pipeline = open_pipeline(config_path, registry)
    statuses = environment_status(pipeline.store, pipeline.config.environments)
    if as_json:
        print_json({"image": pipeline.name, "environments": [s.to_json() for s in statuses]})
        return
    table = Table(title=pipeline.name, title_justify="left")
    for column in ("environment", "digest", "since", "by"):
        table.add_column(column, no_wrap=True)
    table.add_column("gates passed", overflow="fold")
    for status in statuses:
        data = status.to_json()
        digest = data["digest"][:19] if data["digest"] else "-"
        gates = ", ".join(data["gates"]) if data["recorded"] else "(no history entry)"
        table.add_row(
            Text(status.environment),
            Text(digest),
            Text(data["since"] or "-"),
            Text(data["by"] or "-"),
            Text(gates),
        )
    stdout.print(table)


@click.command("history")
@click.argument("environment")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Newest entries to show."
)
@config_option
@json_option
@registry_options
def history_cmd(
    environment: str, limit: int, config_path: Path | None, as_json: bool, registry: RegistryOptions
) -> None:
    """The digests ENVIRONMENT held, newest first: when, by whom, how it got there."""
    from rich.table import Table
    from rich.text import Text

    from shipflow.release.history import history

    pipeline = open_pipeline(config_path, registry)
    pipeline.config.environment(environment)
    problems: list[str] = []
    entries = history(pipeline.store, environment, limit=limit, problems=problems)
    for problem in problems:
        note(f"warning: {problem}")
    if as_json:
        print_json({"environment": environment, "entries": [e.to_json() for e in entries]})
        return
    table = Table(title=f"{pipeline.name} {environment}", title_justify="left")
    for column in ("at", "digest", "action", "actor", "from", "outcome"):
        table.add_column(column, no_wrap=True)
    for entry in entries:
        table.add_row(
            Text(entry.at),
            Text(str(entry.digest)[:19]),
            Text(entry.action),
            Text(entry.actor),
            Text(entry.source or "-"),
            Text(entry.outcome),
        )
    stdout.print(table)


@click.command("where")
@click.argument("digest_text", metavar="DIGEST")
@config_option
@json_option
@registry_options
def where_cmd(digest_text: str, config_path: Path | None, as_json: bool, registry: RegistryOptions) -> None:
    """The environments that hold DIGEST now, and those that held it before."""
    from shipflow.release.history import where

    pipeline = open_pipeline(config_path, registry)
    digest = parse_digest_arg(digest_text, pipeline)
    found = where(pipeline.store, digest, pipeline.config.environments)
    data = {
        "digest": found["digest"],
        "holds": found["holds"],
        "held": {env: [e.to_json() for e in entries] for env, entries in found["held"].items()},
    }
    if as_json:
        print_json(data)
        return
    if not found["holds"] and not found["held"]:
        stdout.print(f"{digest} has never been in an environment", markup=False)
        return
    for env in pipeline.config.environments:
        if env in found["holds"] or env in found["held"]:
            entries = found["held"].get(env, [])
            since = entries[0].at if entries else "?"
            state = "holds it now" if env in found["holds"] else "held it"
            stdout.print(f"{env:<12} {state} (last entered {since}, {len(entries)} time(s))", markup=False)


COMMANDS: list[click.Command] = [promote_cmd, approve_cmd, status_cmd, history_cmd, where_cmd]
