"""``shipflow keygen | sign | verify | attest | verify-attestation``: cosign-compatible signing.

Secrets: the signing key comes from ``--key`` or ``COSIGN_PRIVATE_KEY`` (PEM text or a path),
its password from ``COSIGN_PASSWORD``, or a hidden prompt when stdin is a terminal. Neither is
ever printed or logged. Exit codes: 0 ok, 1 verification failed, 2 usage (bad key, wrong
password, bad arguments), 3 infrastructure (registry, disk).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from shipflow.cli.common import (
    RegistryOptions,
    json_option,
    key_option,
    open_image_arg,
    password_source,
    registry_options,
)
from shipflow.cli.output import note, print_json, stdout
from shipflow.cli.pipeline import config_option
from shipflow.errors import ConfigError, UsageError
from shipflow.fsutil import atomic_write, read_capped
from shipflow.gate import GateContext
from shipflow.oci.reference import Reference
from shipflow.signing import dsse
from shipflow.signing.attachments import MAX_PREDICATE_BYTES
from shipflow.signing.gate import SignatureGate
from shipflow.signing.keys import (
    ENV_PASSWORD,
    encrypt_private_key,
    generate_private_key,
    private_key_from_settings,
)
from shipflow.signing.payload import docker_reference
from shipflow.signing.policy import trusted_keys_from_paths
from shipflow.signing.sign import attest, sign
from shipflow.signing.verify import Report, verification_failure, verify_attestations_report


def _parse_annotations(values: tuple[str, ...]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"annotation {item!r} is not KEY=VALUE", hint="e.g. -a env=production")
        result[key] = value
    return result


# --- keygen ------------------------------------------------------------------------------------


@click.command("keygen")
@click.option(
    "--output-key-prefix",
    default="cosign",
    show_default=True,
    help="Write PREFIX.key (encrypted private key) and PREFIX.pub.",
)
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
def keygen_cmd(output_key_prefix: str, force: bool) -> None:
    """Create an ECDSA P-256 key pair in cosign's format (loads in `cosign sign --key`).

    The password comes from COSIGN_PASSWORD, or a prompt on a terminal.
    """
    key_path, pub_path = Path(f"{output_key_prefix}.key"), Path(f"{output_key_prefix}.pub")
    for path in (key_path, pub_path):
        if path.exists() and not force:
            raise UsageError(f"{path} already exists", hint="pass --force to overwrite, or another prefix")
    prompt = password_source(confirm=True)
    if ENV_PASSWORD in os.environ:
        password = os.environ[ENV_PASSWORD].encode()
    elif prompt is not None:
        password = prompt()
    else:
        raise ConfigError(
            "no password for the new key", hint=f"set {ENV_PASSWORD} (may be empty) or run in a terminal"
        )
    key = generate_private_key()
    atomic_write(key_path, encrypt_private_key(key, password), mode=0o600, what="private key")
    atomic_write(pub_path, key.verifier.pem, mode=0o644, what="public key")
    note(f"Private key written to {key_path}")
    note(f"Public key written to {pub_path}")
    stdout.print(key.verifier.key_id, highlight=False)


# --- sign --------------------------------------------------------------------------------------


@click.command("sign")
@click.argument("image")
@key_option
@click.option(
    "-a", "--annotation", "annotations", multiple=True, metavar="KEY=VALUE", help="Signed annotation."
)
@click.option(
    "--identity",
    default=None,
    metavar="REPO",
    help="docker-reference to claim (default: the image's repository, like cosign).",
)
@json_option
@registry_options
def sign_cmd(
    image: str,
    key: str | None,
    annotations: tuple[str, ...],
    identity: str | None,
    as_json: bool,
    registry: RegistryOptions,
) -> None:
    """Sign IMAGE (by digest; a tag is resolved once) and store the signature under sha256-<hex>.sig."""
    extra = _parse_annotations(annotations)
    signer = private_key_from_settings(key, password_source())
    opened = open_image_arg(image, registry)
    ref, store, digest = opened.reference, opened.store, opened.digest
    result = sign(store, digest, signer, reference=identity or docker_reference(ref), annotations=extra)
    pinned = opened.pinned
    if as_json:
        print_json(
            {
                "image": str(pinned),
                "digest": str(digest),
                "tag": result.tag,
                "signatureImage": str(result.manifest_digest),
                "keyId": result.key_id,
                "added": result.added,
                "payload": json.loads(result.payload),
            }
        )
        return
    state = "signed" if result.added else "already signed with this key (nothing added)"
    stdout.print(f"{pinned}: {state}; signature in {result.tag}", highlight=False, markup=False)


# --- verify ------------------------------------------------------------------------------------


def _key_paths(keys: tuple[str, ...]) -> list[str]:
    if not keys:
        raise UsageError("no --key given", hint="pass --key cosign.pub (or a directory of trusted keys)")
    return list(keys)  # paths or env://NAME: a Path would fold "env://" into "env:/"


def _verified_header(kind: str, pinned: Reference) -> None:
    note(f"\nVerification for {pinned} --")
    note(f"The following checks were performed on each of these {kind}s:")


def _require_verified(report: Report, what: str, pinned: Reference) -> None:
    """Raise the verification failure unless ``report`` is ok; else warn about the broken
    attestations next to the valid ones (a failure lists them anyway) and start the summary."""
    if not report.ok:
        raise verification_failure(report, what)
    for rejection in report.rejected:
        note(f"warning: ignored {report.kind} {rejection}")
    _verified_header(report.kind, pinned)


@click.command("verify")
@click.argument("image")
@click.option(
    "--key",
    "keys",
    multiple=True,
    metavar="PUB",
    help="Trusted public key file, env://NAME (PEM in variable NAME) or a directory of keys (repeatable).",
)
@click.option("--require-all", is_flag=True, help="Every --key must have signed (default: any one).")
@click.option(
    "-a", "--annotation", "annotations", multiple=True, metavar="KEY=VALUE", help="Required annotation."
)
@click.option(
    "--check-reference", is_flag=True, help="Require the docker-reference claim to name IMAGE's repo."
)
@click.option(
    "--promoted-to",
    metavar="ENV",
    help="Also require a verified promotion record for every stage up to ENV (from shipflow.yaml).",
)
@config_option
@json_option
@registry_options
def verify_cmd(
    image: str,
    keys: tuple[str, ...],
    require_all: bool,
    annotations: tuple[str, ...],
    check_reference: bool,
    promoted_to: str | None,
    config_path: Path | None,
    as_json: bool,
    registry: RegistryOptions,
) -> None:
    """Verify IMAGE's cosign signatures against trusted keys; print the verified payloads (--json:
    as a JSON array).

    --promoted-to ENV also checks the chain of signed promotion records (e.g. dev → staging →
    canary → production) against the keys shipflow.yaml trusts for records; without --key, the
    signature is checked with its trusted keys too. With --json the output is then an object:
    {"signatures": [...], "promotions": [...]}.
    """
    config = None
    if promoted_to is not None:
        from shipflow.release.config import find_config, load_config

        config = load_config(find_config(config_path))
        config.environment(promoted_to)
        if not keys:
            keys = tuple(str(p) for p in config.trusted_keys)
    policy = trusted_keys_from_paths(_key_paths(keys), require_all=require_all)
    required = _parse_annotations(annotations)
    opened = open_image_arg(image, registry, must_exist=False)
    reference = docker_reference(opened.reference) if check_reference else None
    gate = SignatureGate(policy, annotations=required or None, reference=reference)
    evidence = gate.check(GateContext(opened.store, opened.digest, opened.reference))
    for rejected in evidence.details["rejected"]:
        note(f"warning: ignored signature {rejected}")
    _verified_header("signature", opened.pinned)
    if required:
        note("  - The specified annotations were verified.")
    if reference:
        note("  - The docker-reference claim was verified.")
    note("  - The cosign claims were validated")
    note("  - The signatures were verified against the specified public key")
    payloads = [json.loads(sig["payload"]) for sig in evidence.details["signatures"]]
    if config is not None and promoted_to is not None:
        from shipflow.release.gates import trusted_policy
        from shipflow.release.records import verify_chain

        steps = [(config.environment(env).source, env) for env in config.chain_to(promoted_to)]
        links = verify_chain(opened.store, opened.digest, steps, trusted_policy(config.record_keys))
        stages = " → ".join(["build", *(link.environment for link in links)])
        note(f"  - Promotion records verified for {stages}:")
        for link in links:
            data = link.to_json()
            stage = f"{link.source or 'build'} → {link.environment}"
            note(f"      {stage}: by {data['actor']} at {data['promotedAt']}")
        if as_json:
            print_json({"signatures": payloads, "promotions": [link.to_json() for link in links]})
            return
    if as_json:
        print_json(payloads)
        return
    for sig in evidence.details["signatures"]:
        sys.stdout.write(sig["payload"] + "\n")


# --- attest ------------------------------------------------------------------------------------


@click.command("attest")
@click.argument("image")
@click.option("--predicate", "predicate_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--type",
    "type_name",
    default="custom",
    show_default=True,
    help="spdxjson|cyclonedx|slsaprovenance1|vuln|openvex|… or a predicate type URI.",
)
@key_option
@click.option(
    "--statement",
    "statement_type",
    type=click.Choice(["v0.1", "v1"]),
    default="v0.1",
    show_default=True,
    help="in-toto Statement version (cosign 2 writes v0.1).",
)
@json_option
@registry_options
def attest_cmd(
    image: str,
    predicate_path: Path,
    type_name: str,
    key: str | None,
    statement_type: str,
    as_json: bool,
    registry: RegistryOptions,
) -> None:
    """Sign an in-toto attestation (DSSE) about IMAGE and store it under sha256-<hex>.att."""
    predicate_type = dsse.predicate_type_uri(type_name)
    predicate = read_capped(predicate_path, MAX_PREDICATE_BYTES, what="predicate")
    signer = private_key_from_settings(key, password_source())
    opened = open_image_arg(image, registry)
    ref, store, digest = opened.reference, opened.store, opened.digest
    result = attest(
        store,
        digest,
        signer,
        predicate_type=predicate_type,
        predicate=predicate,
        subject_name=docker_reference(ref),
        statement_type=dsse.STATEMENT_V01 if statement_type == "v0.1" else dsse.STATEMENT_V1,
    )
    pinned = ref.by_digest(digest)
    if as_json:
        print_json(
            {
                "image": str(pinned),
                "digest": str(digest),
                "tag": result.tag,
                "predicateType": predicate_type,
                "keyId": result.key_id,
                "added": result.added,
            }
        )
        return
    stdout.print(f"{pinned}: attested {predicate_type}; in {result.tag}", highlight=False, markup=False)


@click.command("verify-attestation")
@click.argument("image")
@click.option(
    "--key",
    "keys",
    multiple=True,
    metavar="PUB",
    help="Trusted public key file, env://NAME or a directory of keys (repeatable).",
)
@click.option("--require-all", is_flag=True, help="Every --key must have signed (default: any one).")
@click.option("--type", "type_name", default=None, help="Only attestations of this predicate type.")
@json_option
@registry_options
def verify_attestation_cmd(
    image: str,
    keys: tuple[str, ...],
    require_all: bool,
    type_name: str | None,
    as_json: bool,
    registry: RegistryOptions,
) -> None:
    """Verify IMAGE's attestations (DSSE over PAE, payload type, subject) and print the predicates
    (--json: the verified statements as a JSON array)."""
    policy = trusted_keys_from_paths(_key_paths(keys), require_all=require_all)
    predicate_type = dsse.predicate_type_uri(type_name) if type_name else None
    opened = open_image_arg(image, registry, must_exist=False)
    report = verify_attestations_report(opened.store, opened.digest, policy, predicate_type=predicate_type)
    what = "attestation" if predicate_type is None else f"{predicate_type} attestation"
    _require_verified(report, what, opened.pinned)
    note("  - The envelope signatures were verified against the specified public key")
    note("  - The payload type and the statement subject digest were validated")
    if as_json:
        print_json([att.statement_json() for att in report.verified])
        return
    for att in report.verified:
        sys.stdout.write(json.dumps(att.predicate, indent=2) + "\n")


COMMANDS: list[click.Command] = [keygen_cmd, sign_cmd, verify_cmd, attest_cmd, verify_attestation_cmd]
