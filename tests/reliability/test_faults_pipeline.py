"""Faults against every command that moves an environment or writes the ledger.

Each case sets one fault scenario on the proxy between shipflow and a real registry (or, for
the canary, on the proxy in front of its health endpoint or its rollback webhook), runs one
command through the real ``shipflow`` entry point, clears the faults and runs it again. After
each run, the invariants of issue 11 are checked against what the registry itself holds:

* the command completed with every digest right, or failed with its documented exit code and
  a clear message (an ``error:`` line and a ``hint:``, or the canary's verdict line), never a
  traceback;
* no environment tag moved unless its gates passed (the gate lines say so) and no other tag
  moved at all;
* no tag names an incomplete image: every tag's manifest is read back from the registry and
  every blob it names is fetched and hashed (:meth:`World.state`);
* no history entry lost or invented: the entries match the moves of the tags exactly;
* the re-run completes, and leaves exactly the state a run without faults leaves;
* nothing non-idempotent was retried (``FaultProxy.non_idempotent_retries``).

Faults injected are counted per scenario and command (``tally.faults``) and reported at the end
of the session with the fuzz counts (``tests/reliability/conftest.py``).

Matrix: ``SHIPFLOW_FAULT_MATRIX=full`` (or ``HYPOTHESIS_PROFILE=medium|long``) runs every
scenario against every command (78 runs, about 7 minutes); the default runs each scenario
against one command (``FAST`` below, 13 runs, every command at least twice), which keeps the
tier within its time budget. The defects the
full matrix found are pinned one fault each in ``test_fault_regressions.py``; the health
endpoint and the webhook are in ``test_faults_endpoints.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fixtures.faults import Fault, FaultProxyFactory
from fixtures.registry import Registry
from reliability import tally
from reliability.world import TRACEBACK, Endpoints, Run, State, World, error_line, run
from shipflow.oci.digest import Digest
from shipflow.release.approvals import collect_approvals
from shipflow.signing.attachments import read_attachments
from shipflow.signing.sign import attest as attest_image
from shipflow.signing.sign import sign as sign_image
from support.cli import InProcessCli

SLSA = "https://slsa.dev/provenance/v1"


# --- the commands ------------------------------------------------------------------------------


@dataclass
class Case:
    """One command in one world: what it needs, how it is run, what it must leave."""

    world: World
    digests: dict[str, Digest] = field(default_factory=dict)

    def d(self, name: str) -> str:
        return str(self.digests[name])


@dataclass(frozen=True)
class Command:
    name: str
    prepare: Callable[[Case], None]
    argv: Callable[[Case], list[str]]
    moves: str  # the tag whose write is "the move" (a regex on the manifest PUT path)
    target_tag: Callable[[Case], str]  # the tag the command may move
    allowed: Callable[[Case], set[str | None]]  # what that tag may name after any run
    done: Callable[[Case, State], None]  # the state of a completed run, exactly
    exits: frozenset[int] = frozenset({0, 3})


def _key(case: Case, name: str) -> str:
    return str(case.world.made.key_file(name))


# sign: an image already signed by lead-1 is signed by CI. Nothing of lead-1's may be lost.


def _sign_prepare(case: Case) -> None:
    case.digests["d"] = case.world.image("d", signed=False)
    sign_image(case.world.store, case.digests["d"], case.world.made.keys["lead-1"], reference=case.world.name)


def _sign_done(case: Case, state: State) -> None:
    layers = _layers(case, "sig")
    assert len(layers) == 2, f"expected lead-1's and CI's signature, found {len(layers)} layers"
    assert len(case.world.signatures(case.digests["d"])) == 1


def _layers(case: Case, suffix: str) -> list[Any]:
    found = read_attachments(case.world.store, f"{case.digests['d'].tag_form}.{suffix}")
    assert found is not None, f"no .{suffix} image"
    return found.layers


SIGN = Command(
    "sign",
    _sign_prepare,
    lambda c: ["sign", f"{c.world.name}@{c.d('d')}", "--key", _key(c, "ci")],
    moves=r"/manifests/sha256-[0-9a-f]{64}\.sig$",
    target_tag=lambda c: f"{c.digests['d'].tag_form}.sig",
    allowed=lambda c: {"*"},
    done=_sign_done,
)


# attest: an image with lead-1's attestation gets CI's. A failed run whose write landed leaves
# one more CI attestation (ECDSA signatures differ each time, as cosign's do): at most two.


def _attest_prepare(case: Case) -> None:
    case.digests["d"] = case.world.image("d")
    attest_image(
        case.world.store,
        case.digests["d"],
        case.world.made.keys["lead-1"],
        predicate_type=SLSA,
        predicate=b'{"builder": {"id": "lead"}}',
        subject_name=case.world.name,
    )


def _attest_done(case: Case, state: State) -> None:
    layers = _layers(case, "att")
    assert 2 <= len(layers) <= 3, f"expected lead-1's and CI's attestation, found {len(layers)} layers"
    from shipflow.signing.policy import trusted_keys
    from shipflow.signing.verify import verify_attestations

    verified = verify_attestations(
        case.world.store, case.digests["d"], trusted_keys([case.world.made.keys["ci"].verifier])
    )
    assert 1 <= len(verified) <= 2, f"{len(verified)} attestations by CI verify"


ATTEST = Command(
    "attest",
    _attest_prepare,
    lambda c: [
        "attest",
        f"{c.world.name}@{c.d('d')}",
        "--predicate",
        str(c.world.predicate),
        "--type",
        "slsaprovenance1",
        "--key",
        _key(c, "ci"),
    ],
    moves=r"/manifests/sha256-[0-9a-f]{64}\.att$",
    target_tag=lambda c: f"{c.digests['d'].tag_form}.att",
    allowed=lambda c: {"*"},
    done=_attest_done,
)


# promote: staging holds P, dev holds D; D goes dev -> staging.


def _promote_prepare(case: Case) -> None:
    world = case.world
    case.digests["p"] = world.image("p")
    case.digests["d"] = world.image("d")
    world.place(case.digests["p"], "dev", "staging")
    world.place(case.digests["d"], "dev")


def _promote_done(case: Case, state: State) -> None:
    p, d = case.d("p"), case.d("d")
    assert state.env("staging") == d
    assert state.entries("staging") == [(p, "promote", "ok"), (d, "promote", "ok")]
    newest = state.history["staging"][0]
    assert str(newest.previous) == p, f"the entry says staging held {newest.previous} before, not {p}"
    record = case.world.record_of(case.digests["d"], "staging", source="dev")
    assert record is not None and record.predicate["previous"] == p
    assert newest.record == record.ref.tag
    records = [t for t in state.facts if t.startswith(f"sf.rec.{case.digests['d'].hex[:16]}.staging.")]
    assert len(records) == 1, f"one promotion, one record: {records}"


PROMOTE = Command(
    "promote",
    _promote_prepare,
    lambda c: [
        "promote",
        "--digest",
        c.d("d"),
        "--from",
        "dev",
        "--to",
        "staging",
        "--actor",
        "dev-1",
        "--key",
        _key(c, "ci"),
    ],
    moves=r"/manifests/staging$",
    target_tag=lambda c: "staging",
    allowed=lambda c: {c.d("p"), c.d("d")},
    done=_promote_done,
)


# approve: lead-2 approves D for production.


def _approve_prepare(case: Case) -> None:
    case.digests["d"] = case.world.image("d")


def _approve_done(case: Case, state: State) -> None:
    config = case.world.direct.config
    tally_ = collect_approvals(
        case.world.store, case.digests["d"], "production", config.approvers, promoter="lead-1"
    )
    assert set(tally_.valid) == {"lead-2"}, tally_


APPROVE = Command(
    "approve",
    _approve_prepare,
    lambda c: [
        "approve",
        "--digest",
        c.d("d"),
        "--env",
        "production",
        "--actor",
        "lead-2",
        "--key",
        _key(c, "lead-2"),
    ],
    moves=r"/manifests/sf\.appr\.",
    target_tag=lambda c: "production",
    allowed=lambda c: {None},
    done=_approve_done,
)


# canary: :canary holds P (with its history entry); D is the candidate; the health endpoint
# answers healthy. The default deploy target (tag): the platform follows :canary.


def _canary_prepare(case: Case) -> None:
    world = case.world
    case.digests["p"] = world.image("p")
    case.digests["d"] = world.image("d")
    world.store.tag(case.digests["p"], "canary")
    world.entry("canary", case.digests["p"])


def _canary_done(case: Case, state: State) -> None:
    p, d = case.d("p"), case.d("d")
    assert state.env("canary") == d
    entries = state.entries("canary")
    assert entries[0] == (p, "promote", "ok") and entries[-1] == (d, "canary", "ok"), entries


CANARY = Command(
    "canary",
    _canary_prepare,
    lambda c: ["canary", "--digest", c.d("d"), "--actor", "lead-1"],
    moves=r"/manifests/canary$",
    target_tag=lambda c: "canary",
    allowed=lambda c: {c.d("p"), c.d("d")},
    done=_canary_done,
    exits=frozenset({0, 1, 3}),
)


# rollback: staging held P, then D; `rollback --env staging` puts P back.


def _rollback_prepare(case: Case) -> None:
    world = case.world
    case.digests["p"] = world.image("p")
    case.digests["d"] = world.image("d")
    world.store.tag(case.digests["p"], "staging")
    world.entry("staging", case.digests["p"])
    world.store.tag(case.digests["d"], "staging")
    world.entry("staging", case.digests["d"])


def _rollback_done(case: Case, state: State) -> None:
    p, d = case.d("p"), case.d("d")
    assert state.env("staging") == p
    assert state.entries("staging") == [(p, "promote", "ok"), (d, "promote", "ok"), (p, "rollback", "ok")]
    assert str(state.history["staging"][0].previous) == d


ROLLBACK = Command(
    "rollback",
    _rollback_prepare,
    lambda c: ["rollback", "--env", "staging", "--to", c.d("p"), "--actor", "lead-1"],
    moves=r"/manifests/staging$",
    target_tag=lambda c: "staging",
    allowed=lambda c: {c.d("p"), c.d("d")},
    done=_rollback_done,
)

COMMANDS = {c.name: c for c in (SIGN, ATTEST, PROMOTE, APPROVE, CANARY, ROLLBACK)}


# --- the scenarios -----------------------------------------------------------------------------

STALL = 5.0  # more than the 2 s read timeout of FAST_REGISTRY


@dataclass(frozen=True)
class Scenario:
    id: str
    faults: Callable[[Command], tuple[Fault, ...]]
    what: str


def _move(command: Command) -> str:
    return command.moves


SCENARIOS = [
    Scenario(
        "500-on-the-move",
        lambda c: (Fault("status", "PUT", _move(c), status=500),),
        "the write that moves the tag answers 500 once (not retried: the request may have been acted on)",
    ),
    Scenario(
        "500-after-the-move",
        lambda c: (Fault("status", "PUT", r"/manifests/(sf\.|sha256-)", status=500, times=None),),
        "every later write (records, history, attestation copies) answers 500",
    ),
    Scenario(
        "502-503-on-writes",
        lambda c: (
            Fault("status", "PUT", "/manifests/", status=502),
            Fault("status", "POST", "/blobs/uploads/", status=503),
        ),
        "a 502 on the first manifest write, a 503 on the first upload (both retryable)",
    ),
    Scenario(
        "429-retry-after",
        lambda c: (Fault("throttle", None, "/manifests/", retry_after=1, times=2),),
        "429 with Retry-After: 1 on the first two manifest requests",
    ),
    Scenario(
        "reset-on-upload",
        lambda c: (Fault("reset", "PUT", r"/blobs/uploads/"),),
        "the connection is reset in the middle of an upload's body",
    ),
    Scenario(
        "reset-after-the-move",
        lambda c: (Fault("reset", "PUT", _move(c)),),
        "the registry stores the move, then the connection is reset before the answer",
    ),
    Scenario(
        "truncate-reads",
        lambda c: (Fault("truncate", "GET", "/manifests/", times=2),),
        "the first two manifest reads end half-way",
    ),
    Scenario(
        "stall-read",
        lambda c: (Fault("stall", "GET", "/manifests/", stall_seconds=STALL),),
        "the first manifest read gets no answer (longer than the read timeout)",
    ),
    Scenario(
        "drip-reads",
        lambda c: (Fault("drip", "GET", "/manifests/", times=None, drip_interval=1.0),),
        "every manifest read drips one byte a second from the status line (the deadline cuts it)",
    ),
    Scenario(
        "wrong-bytes",
        lambda c: (Fault("corrupt", "GET", "/(manifests|blobs)/sha256", times=None),),
        "every manifest and blob read by digest has one byte inverted",
    ),
    Scenario(
        "html-everywhere",
        lambda c: (Fault("html", None, "", times=None),),
        "every request gets 200 text/html (a login page where the registry should be)",
    ),
    Scenario(
        "lying-digest",
        lambda c: (Fault("lie", None, "/manifests/", times=None),),
        "every manifest answer names a Docker-Content-Digest of other bytes",
    ),
    Scenario(
        "drop-every-3rd",
        lambda c: (Fault("drop", None, "", every=3),),
        "every third request is read and dropped without an answer",
    ),
]

# Each scenario against a few commands in the default run; every command meets reads, writes,
# the move and the writes after it. SHIPFLOW_FAULT_MATRIX=full runs them all.
FAST = {
    "500-on-the-move": ("approve",),
    "500-after-the-move": ("canary",),
    "502-503-on-writes": ("attest",),
    "429-retry-after": ("sign",),
    "reset-on-upload": ("promote",),
    "reset-after-the-move": ("canary",),
    "truncate-reads": ("rollback",),
    "stall-read": ("promote",),
    "drip-reads": ("sign",),
    "wrong-bytes": ("attest",),
    "html-everywhere": ("approve",),
    "lying-digest": ("rollback",),
    "drop-every-3rd": ("promote",),
}


def _full_matrix() -> bool:
    return os.environ.get("SHIPFLOW_FAULT_MATRIX") == "full" or os.environ.get("HYPOTHESIS_PROFILE") in (
        "medium",
        "long",
    )


def _cases() -> Iterator[Any]:
    for scenario in SCENARIOS:
        for name in COMMANDS:
            if _full_matrix() or name in FAST[scenario.id]:
                yield pytest.param(scenario, COMMANDS[name], id=f"{scenario.id}-{name}")


# --- the invariants ---------------------------------------------------------------------------


def check_message(command: Command, result: Run) -> None:
    """Completed, or failed with a documented exit code and a clear message."""
    assert not TRACEBACK.search(result.text), f"a traceback:\n{result.text}"
    assert result.returncode in command.exits, f"exit {result.returncode}:\n{result.text}"
    if result.returncode == 0:
        return
    if command.name in ("canary", "rollback"):
        # The verdict line on stdout says what happened and what is deployed.
        assert result.stdout.strip(), f"no verdict printed:\n{result.stderr}"
        assert "deployed:" in result.stdout, result.stdout
        return
    line = error_line(result.stderr)
    assert line is not None, f"exit {result.returncode} without an error line:\n{result.stderr}"
    assert len(line) > 20 and "hint: " in result.stderr, result.stderr


def check_state(command: Command, case: Case, before: State, after: State, result: Run) -> None:
    world = case.world
    target = command.target_tag(case)
    moved = {t for t in set(before.tags) | set(after.tags) if before.tags.get(t) != after.tags.get(t)}
    # Only the command's tag, and ledger facts and attachment images, may change.
    unexpected = {t for t in moved if t != target and not t.startswith(("sf.", "sha256-"))}
    assert not unexpected, f"{command.name} moved {unexpected}"
    allowed = command.allowed(case)
    if "*" not in allowed:
        assert after.env(target) in allowed, f"{target} names {after.env(target)}, not one of {allowed}"
    # No environment tag moved unless its gates passed.
    if command.name == "promote" and target in moved:
        assert "✓ signature" in result.stderr and "✗" not in result.stderr, result.stderr
    if command.name == "canary" and target in moved:
        assert after.env(target) == case.d("p") or "signature verified" in result.stderr, result.stderr
    # Facts are never rewritten: a fact tag that existed names the same manifest still.
    for tag in before.facts:
        assert after.tags.get(tag) == before.tags[tag], f"fact {tag} changed or vanished"
    # History: entries only ever appended; each new entry is a move that happened.
    for env, entries in after.history.items():
        old = before.history.get(env, [])
        assert [e.ref for e in entries[len(entries) - len(old) :]] == [e.ref for e in old], (
            f"{env}: an old entry vanished"
        )
    _check_new_entries(command, case, before, after, result)
    assert world.proxy.non_idempotent_retries() == [], world.proxy.non_idempotent_retries()


def _check_new_entries(command: Command, case: Case, before: State, after: State, result: Run) -> None:
    """Entries added by this run are exactly the moves it made (none invented); a move it made
    without its entry is allowed only if it said so (exit 3 naming the missing record)."""
    target = command.target_tag(case)
    if command.name not in ("promote", "canary", "rollback"):
        assert after.history == before.history
        return
    new = after.entries(target)[len(before.entries(target)) :]
    p, d = case.d("p"), case.d("d")
    if command.name == "promote":
        assert new in ([], [(d, "promote", "ok")]), new
        if after.env(target) == d and before.env(target) != d and not new:
            assert result.returncode == 3, result.text
            assert "not recorded" in result.text or "entry is missing" in result.text, result.text
        if new:
            assert after.env(target) == d
    elif command.name == "rollback":
        assert new in ([], [(p, "rollback", "ok")]), new
        if new:
            assert after.env(target) == p
        elif after.env(target) == p and before.env(target) != p:
            assert result.returncode == 3 and "history" in result.text, result.text
    else:  # canary
        allowed = (
            [],
            [(d, "canary", "ok")],
            [(d, "canary", "rolled-back"), (p, "auto-rollback", "ok")],
            [(d, "canary", "failed")],
            [(d, "canary", "failed"), (p, "auto-rollback", "incomplete")],
        )
        assert new in allowed, new
        if new == [(d, "canary", "ok")]:
            assert after.env(target) == d and result.returncode == 0
        if after.env(target) == d and before.env(target) != d and not new:
            assert result.returncode == 3 and "history" in result.text, result.text
        if after.env(target) == p and result.returncode == 0:
            raise AssertionError(f"canary exited 0 but :canary names P:\n{result.text}")


def record(scenario: str, command: str, result: Run, rerun: Run, injected: list[Any]) -> None:
    outcome = "completed" if result.returncode == 0 else f"exit {result.returncode}"
    tally.fault_case(
        scenario,
        command,
        outcome=outcome,
        faults=len(injected),
        kinds=sorted({str(r.fault) for r in injected}),
        rerun="completed" if rerun.returncode == 0 else f"exit {rerun.returncode}",
        message=(
            error_line(result.stderr) or result.stdout.strip().splitlines()[0] if result.returncode else ""
        ),
    )


# --- registry faults x commands -----------------------------------------------------------------


@pytest.mark.parametrize(("scenario", "command"), list(_cases()))
def test_registry_fault(
    scenario: Scenario,
    command: Command,
    tmp_path: Path,
    registry: Registry,
    fault_proxy: FaultProxyFactory,
    endpoints: Endpoints,
    shipflow: InProcessCli,
) -> None:
    world = World(tmp_path, registry, fault_proxy, f"faults/{scenario.id}/{command.name}", endpoints)
    case = Case(world)
    try:
        command.prepare(case)
        before = world.state()
        world.proxy.set_scenario(*scenario.faults(command))
        result = run(shipflow, world, command.argv(case))
        injected = world.proxy.injected
        assert injected, f"the scenario never hit {command.name}: it tests nothing"
        world.proxy.clear()
        check_message(command, result)
        after = world.state()
        check_state(command, case, before, after, result)

        world.proxy.reset_log()
        rerun = run(shipflow, world, command.argv(case))
        assert rerun.returncode == 0, f"the re-run did not complete:\n{rerun.text}"
        final = world.state()
        check_state(command, case, after, final, rerun)
        command.done(case, final)
        record(scenario.id, command.name, result, rerun, injected)
    finally:
        world.close()
