"""Sentinel secrets: every secret of the specification's table, set to a sentinel value, is
searched for in everything the commands that use it leave behind, at ``-vv``, on a success and
a failure path. Each command runs as a user runs it: a new ``shipflow`` process (a secret
registered for redaction in one run cannot hide a leak in the next).

Secrets and the commands that use them:

* the signing key's password (``COSIGN_PASSWORD``): ``sign``, ``attest``, ``approve``,
  ``promote`` (the record is signed), ``rollback`` and ``canary`` (their records);
* the password inside ``STAGING_DATABASE_URL``: ``promote`` with the ``migration`` gate on a real
  PostgreSQL (success: the dry run passes and its evidence, with the database's identity, goes
  into the signed record; failure: a wrong sentinel password is refused by the server);
* the token in the path of ``ROLLBACK_WEBHOOK``: ``canary`` passing and rolling back (the
  payloads a real HTTP server received), ``rollback``;
* the registry password read with ``--password-stdin``: ``sign`` against a registry with
  htpasswd auth (success; and failure with a wrong sentinel password).

Places searched: stdout, stderr, ``$GITHUB_STEP_SUMMARY``, ``$GITHUB_OUTPUT``, every webhook
request received (path excepted: it is the secret's home), and every byte the registry holds
for the repository afterwards — each tag's manifest, every blob it names, and the payload of
every DSSE envelope decoded (records, attestations, approvals, history entries). Each value is
searched as is and percent-encoded. The searches are counted (``tally.sentinel_run``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from fixtures.faults import Fault, FaultProxyFactory
from fixtures.postgres import MIGRATOR_PASSWORD, TargetFactory
from fixtures.registry import AUTH_PASSWORD, AUTH_USER, Registry
from reliability import tally
from reliability.conftest import WEBHOOK_TOKEN
from reliability.world import FAST_REGISTRY, TRACEBACK, Endpoints, World
from shipflow.signing import encrypt_private_key

KEY_PASSWORD = "Sentinel-KeyPw/4c1e:Q"  # sentinels
WRONG_KEY_PASSWORD = "Sentinel-WrongKeyPw-3b7"
WRONG_DB_PASSWORD = "Sentinel-WrongDbPw/88:z"
WRONG_REGISTRY_PASSWORD = "Sentinel-WrongRegPw-51d"
SECRETS = (
    KEY_PASSWORD,
    WRONG_KEY_PASSWORD,
    MIGRATOR_PASSWORD,
    WRONG_DB_PASSWORD,
    WEBHOOK_TOKEN,
    AUTH_PASSWORD,
    WRONG_REGISTRY_PASSWORD,
)
FORMS = tuple(sorted({form for s in SECRETS for form in (s, quote(s, safe=""))}))
SHIPFLOW = [sys.executable, "-m", "shipflow.cli.main"]


@dataclass
class Outcome:
    returncode: int
    texts: dict[str, str]  # place -> what was found there


def _environment(tmp: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("SHIPFLOW_", "GITHUB_", "ROLLBACK_", "CANARY_", "COSIGN_", "REGISTRY_", "STAGING_")
        )
    }
    env.update(FAST_REGISTRY)
    env.update(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
            "GITHUB_OUTPUT": str(tmp / "outputs.txt"),
            "SHIPFLOW_DB": str(tmp / "advisories.db"),
            "COSIGN_PASSWORD": KEY_PASSWORD,
        }
    )
    env.update(extra)
    return env


def shipflow(world: World, label: str, *args: str, stdin: str | None = None, **extra: str) -> Outcome:
    """``shipflow -vv ARGS`` as a new process in ``world``; what it wrote, by place."""
    tmp = world.root / "runs" / label
    tmp.mkdir(parents=True)
    done = subprocess.run(
        [*SHIPFLOW, "-vv", *args],
        cwd=world.root,
        env=_environment(
            tmp, {"ROLLBACK_WEBHOOK": world.endpoints.webhook_url, **extra} if world.endpoints else extra
        ),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    texts = {"stdout": done.stdout, "stderr": done.stderr}
    for name in ("summary.md", "outputs.txt"):
        path = tmp / name
        texts[f"GITHUB_{'STEP_SUMMARY' if name == 'summary.md' else 'OUTPUT'}"] = (
            path.read_text(errors="replace") if path.exists() else ""
        )
    assert not TRACEBACK.search(done.stderr), done.stderr
    return Outcome(done.returncode, texts)


def registry_bytes(world: World) -> str:
    """Everything the registry holds for the repository, DSSE payloads decoded."""
    pieces: list[str] = []
    auth = (AUTH_USER, AUTH_PASSWORD) if world.registry.username else None
    base = f"{world.registry.url}/v2/{world.repo}"
    accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
    with httpx.Client(timeout=30, auth=auth) as client:
        listed = client.get(f"{base}/tags/list")
        tags = [] if listed.status_code == 404 else listed.json().get("tags") or []
        seen: set[str] = set()

        def manifest(ref: str) -> None:
            got = client.get(f"{base}/manifests/{ref}", headers={"Accept": accept})
            assert got.status_code == 200, (ref, got.status_code)
            pieces.append(got.text)
            doc = got.json()
            for child in doc.get("manifests") or []:
                manifest(child["digest"])
            for blob in [doc.get("config"), *(doc.get("layers") or [])]:
                if not blob or blob["digest"] in seen:
                    continue
                seen.add(blob["digest"])
                data = client.get(f"{base}/blobs/{blob['digest']}").content
                pieces.append(data.decode("utf-8", "replace"))
                pieces.extend(_decoded_payloads(data))

        for tag in tags:
            manifest(tag)
    return "\n".join(pieces)


def _decoded_payloads(data: bytes) -> list[str]:
    try:
        doc = json.loads(data)
    except ValueError:
        return []
    found: list[str] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("payload", "signature", "sig") and isinstance(value, str):
                    with contextlib.suppress(ValueError):
                        found.append(base64.b64decode(value, validate=False).decode("utf-8", "replace"))
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


def check(
    world: World, command: str, path: str, outcome: Outcome, endpoints: Endpoints | None = None
) -> None:
    """No sentinel in any place; counted."""
    places = dict(outcome.texts)
    places["registry (manifests, blobs, DSSE payloads)"] = registry_bytes(world)
    if endpoints is not None:
        places["webhook payloads"] = "\n".join(
            w.body.decode("utf-8", "replace") + json.dumps(w.headers) for w in endpoints.receiver.received
        )
    checked: dict[str, int] = {}
    leaks: list[dict[str, str]] = []
    for place, text in places.items():
        for form in FORMS:
            if form in text:
                leaks.append({"command": command, "path": path, "place": place, "sentinel": form})
        checked[place] = len(FORMS)
    tally.sentinel_run(command, path, checked, leaks)
    assert not leaks, f"{command} ({path}): sentinels found: {leaks}:\n" + "\n".join(
        f"--- {place}:\n{text[:4000]}" for place, text in places.items()
    )


def _sentinel_keys(world: World) -> dict[str, Path]:
    """The world's CI and lead-2 keys, encrypted with the sentinel password."""
    paths: dict[str, Path] = {}
    for name in ("ci", "lead-2"):
        path = world.root / "keys" / f"{name}-sentinel.key"
        path.write_bytes(encrypt_private_key(world.made.keys[name], KEY_PASSWORD.encode()))
        paths[name] = path
    return paths


MIGRATION_GATES = """\
gates:
  migration: {database_url: "${STAGING_DATABASE_URL}",
              command: [psql, -X, -q, -v, ON_ERROR_STOP=1, -c, "ALTER TABLE customers ADD COLUMN note2 text"]}
"""


def test_key_password_database_password_and_webhook_token(
    tmp_path: Path,
    registry: Registry,
    fault_proxy: FaultProxyFactory,
    endpoints: Endpoints,
    pg_target: TargetFactory,
) -> None:
    world = World(tmp_path, registry, fault_proxy, "sentinels/pipeline", endpoints)
    try:
        config = world.made.config_path.read_text()
        config = config.replace(
            "staging:    {from: dev,     promoted_by: [developer], gates: [signature]}",
            "staging:    {from: dev,     promoted_by: [developer], gates: [signature, migration]}",
        )
        assert "gates: [signature, migration]" in config
        world.made.config_path.write_text(config + MIGRATION_GATES)
        keys = _sentinel_keys(world)
        ci, lead2 = str(keys["ci"]), str(keys["lead-2"])
        target = pg_target()
        good_db, bad_db = target.url(), target.url(password=WRONG_DB_PASSWORD)
        assert MIGRATOR_PASSWORD in good_db or quote(MIGRATOR_PASSWORD, safe="") in good_db
        d, e = world.image("d", signed=False), world.image("e", signed=False)
        ref = f"{world.name}@{d}"

        # sign / attest: success, then failures (a wrong key password; an unknown digest).
        run = shipflow(world, "sign-ok", "sign", ref, "--key", ci)
        assert run.returncode == 0, run.texts
        check(world, "sign", "success", run)
        run = shipflow(world, "sign-badpw", "sign", ref, "--key", ci, COSIGN_PASSWORD=WRONG_KEY_PASSWORD)
        assert run.returncode == 2, run.texts
        check(world, "sign", "failure: wrong key password", run)
        missing = f"{world.name}@sha256:{'0' * 64}"
        run = shipflow(world, "sign-missing", "sign", missing, "--key", ci)
        assert run.returncode in (1, 3), run.texts
        check(world, "sign", "failure: no such image", run)
        predicate = str(world.predicate)
        attest = ["attest", ref, "--predicate", predicate, "--type", "slsaprovenance1", "--key", ci]
        run = shipflow(world, "attest-ok", *attest)
        assert run.returncode == 0, run.texts
        check(world, "attest", "success", run)
        run = shipflow(world, "attest-missing", "attest", missing, *attest[2:])
        assert run.returncode in (1, 3), run.texts
        check(world, "attest", "failure: no such image", run)

        # approve: success; failure (a digest the registry does not have).
        run = shipflow(
            world, "approve-ok", "approve", "--digest", str(d), "--env", "production", "--actor", "lead-2",
            "--key", lead2,
        )  # fmt: skip
        assert run.returncode == 0, run.texts
        check(world, "approve", "success", run)
        run = shipflow(
            world, "approve-missing", "approve", "--digest", f"sha256:{'0' * 64}", "--env", "production",
            "--actor", "lead-2", "--key", lead2,
        )  # fmt: skip
        assert run.returncode in (1, 3), run.texts
        check(world, "approve", "failure: no such image", run)

        # promote with the migration gate: the dry run passes (evidence in the signed record);
        # then a wrong database password is refused by PostgreSQL.
        shipflow(world, "sign-e", "sign", f"{world.name}@{e}", "--key", ci)
        world.place(d, "dev")
        world.place(e, "dev")
        promote = ["promote", "--from", "dev", "--to", "staging", "--actor", "dev-1", "--key", ci]
        run = shipflow(world, "promote-ok", *promote, "--digest", str(d), STAGING_DATABASE_URL=good_db)
        assert run.returncode == 0, run.texts
        assert world.record_of(d, "staging", source="dev") is not None
        check(world, "promote", "success (migration gate on PostgreSQL)", run)
        run = shipflow(world, "promote-baddb", *promote, "--digest", str(e), STAGING_DATABASE_URL=bad_db)
        assert run.returncode in (1, 3), run.texts
        assert world.state(with_history=False).env("staging") == str(d)
        check(world, "promote", "failure: wrong database password", run)

        # rollback: staging goes back to d from e? e was refused; roll back to d (nothing to do),
        # then a rollback to a digest staging never held (refused).
        run = shipflow(
            world, "rollback-ok", "rollback", "--env", "staging", "--to", str(d), "--actor", "lead-1"
        )
        assert run.returncode == 0, run.texts
        check(world, "rollback", "success (nothing to move)", run, endpoints)
        run = shipflow(
            world, "rollback-refused", "rollback", "--env", "staging", "--to", str(e), "--actor", "lead-1"
        )
        assert run.returncode in (1, 2), run.texts
        check(world, "rollback", "failure: never held there", run, endpoints)

        # canary: passes (webhook "passed"), then a sick candidate is rolled back (webhook).
        world.store.tag(d, "canary")
        world.entry("canary", d)
        run = shipflow(world, "canary-ok", "canary", "--digest", str(e), "--actor", "lead-1")
        assert run.returncode == 0, run.texts
        endpoints.receiver.arrived.wait(10)
        check(world, "canary", "success (webhook: passed)", run, endpoints)
        f = world.image("f")
        endpoints.health.set_scenario(Fault("status", None, "", status=503, times=3))
        run = shipflow(world, "canary-fail", "canary", "--digest", str(f), "--actor", "lead-1")
        endpoints.health.clear()
        assert run.returncode == 1, run.texts
        assert [w.json()["verdict"] for w in endpoints.receiver.received][-1] == "rolled-back"
        assert all(w.path.endswith(WEBHOOK_TOKEN) for w in endpoints.receiver.received)
        check(world, "canary", "failure: rolled back (webhook: rolled-back)", run, endpoints)
    finally:
        world.close()


def test_registry_password_from_stdin(
    tmp_path: Path, auth_registry: Registry, fault_proxy: FaultProxyFactory, endpoints: Endpoints
) -> None:
    world = World(
        tmp_path,
        auth_registry,
        fault_proxy,
        "sentinels/auth",
        endpoints,
        upstream_credentials=(AUTH_USER, AUTH_PASSWORD),
    )
    try:
        d = world.image("d", signed=False)
        key = str(_sentinel_keys(world)["ci"])
        login = ["--username", AUTH_USER, "--password-stdin"]
        run = shipflow(
            world, "sign-ok", "sign", f"{world.name}@{d}", "--key", key, *login, stdin=AUTH_PASSWORD + "\n"
        )
        assert run.returncode == 0, run.texts
        check(world, "sign", "success (registry password from stdin)", run)
        run = shipflow(
            world,
            "sign-badpw",
            "sign",
            f"{world.name}@{d}",
            "--key",
            key,
            *login,
            stdin=WRONG_REGISTRY_PASSWORD + "\n",
        )
        assert run.returncode == 3, run.texts
        check(world, "sign", "failure: wrong registry password from stdin", run)
    finally:
        world.close()


@pytest.fixture(autouse=True)
def _no_ci_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "SHIPFLOW_", "ROLLBACK_", "COSIGN_", "REGISTRY_", "STAGING_")):
            monkeypatch.delenv(name)
