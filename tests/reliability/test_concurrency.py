"""Two ``shipflow`` processes at once on one registry repository or one OCI layout.

Each racer is a real process: it imports shipflow, says it is ready and waits for a shared
start file, then runs the command's real entry point (``shipflow.cli.main.main``), so the two
commands start within a millisecond of each other instead of an interpreter start-up apart.

Invariant (issue 11): every history entry survives, or the loser is refused clearly — each
racer exits 0, or exits with a documented code and an ``error:`` line (``canary``/``rollback``:
a verdict line); every racer that said it moved an environment has its history entry and its
record; no entry is invented (the entries are exactly the successful moves); the tag names
the digest of a successful move; nothing is torn (every tag's image complete, for the registry).

Rounds per race: 1 by default; ``SHIPFLOW_CONCURRENCY_ROUNDS=N`` for long runs. Each round is
counted (``tally.concurrency_round``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.faults import FaultProxyFactory
from fixtures.registry import Registry
from reliability import tally
from reliability.world import CI, FAST_REGISTRY, TRACEBACK, Endpoints, World
from shipflow.oci.digest import Digest
from shipflow.oci.layout import LayoutStore
from shipflow.release.approvals import collect_approvals
from shipflow.release.history import history
from shipflow.release.promote import Pipeline, PromotionRequest, promote
from shipflow.signing import sign
from support.pipeline import PASSWORD, PipelineDir, make_pipeline_dir, push_image

ROUNDS = int(os.environ.get("SHIPFLOW_CONCURRENCY_ROUNDS", "1"))

_RACER = """
import sys, time
from pathlib import Path
import shipflow.cli.main as cli
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
deadline = time.monotonic() + 120
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.001)
sys.argv = ["shipflow", *sys.argv[3:]]
cli.main()
"""


@dataclass
class Racer:
    argv: list[str]
    returncode: int = -1
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def race(root: Path, label: str, commands: list[list[str]], env: dict[str, str]) -> list[Racer]:
    """Run ``commands`` as processes started at the same moment; wait for all of them."""
    base = root / "race" / label
    base.mkdir(parents=True)
    go = base / "go"
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SHIPFLOW_", "GITHUB_", "ROLLBACK_", "CANARY_", "COSIGN_", "REGISTRY_"))
    }
    full_env.update({"COSIGN_PASSWORD": PASSWORD, **FAST_REGISTRY, **env})
    procs = []
    for i, argv in enumerate(commands):
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _RACER, str(base / f"ready{i}"), str(go), *argv],
                cwd=root,
                env=full_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        )
    deadline = time.monotonic() + 120
    while not all((base / f"ready{i}").exists() for i in range(len(commands))):
        assert time.monotonic() < deadline, "a racer never got ready"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.02)
    go.touch()
    racers = []
    for argv, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=300)
        racer = Racer(argv, proc.returncode, out, err)
        assert not TRACEBACK.search(err), err
        racers.append(racer)
    return racers


def check_clear(racer: Racer, codes: frozenset[int] = frozenset({0, 1, 3})) -> None:
    """Won, or refused clearly: a documented exit code and a message saying why."""
    assert racer.returncode in codes, racer
    if racer.returncode != 0:
        said = [line for line in racer.stderr.splitlines() if line.startswith("error: ")]
        assert said or racer.stdout.strip(), racer


# --- a registry repository --------------------------------------------------------------------


@pytest.fixture
def world(
    tmp_path: Path,
    registry: Registry,
    fault_proxy: FaultProxyFactory,
    endpoints: Endpoints,
    request: pytest.FixtureRequest,
) -> World:
    made = World(tmp_path, registry, fault_proxy, f"race/{request.node.name[5:45].lower()}", endpoints)
    request.addfinalizer(made.close)
    return made


def _promote_argv(world: World, digest: Digest, source: str, target: str, actor: str) -> list[str]:
    key = str(world.made.key_file("ci"))
    return [
        "promote",
        "--digest",
        str(digest),
        "--from",
        source,
        "--to",
        target,
        "--actor",
        actor,
        "--key",
        key,
    ]


def _check_history(world: World, env: str, before: int, moved: list[Digest]) -> None:
    """The entries added are exactly one per successful move, each with its record."""
    state = world.state()
    entries = state.history[env]
    added = entries[: len(entries) - before]
    assert sorted(str(e.digest) for e in added) == sorted(str(d) for d in moved), (added, moved)
    for entry in added:
        if entry.action == "promote":
            assert entry.record is not None and entry.record in state.tags, entry


def test_two_promotions_into_one_environment(world: World) -> None:
    for round_ in range(ROUNDS):
        a, b = world.image(f"a{round_}"), world.image(f"b{round_}")
        world.place(a, "dev")
        world.place(b, "dev")
        before = len(world.state().history["staging"])
        racers = race(
            world.root,
            f"promote{round_}",
            [_promote_argv(world, d, "dev", "staging", "dev-1") for d in (a, b)],
            {},
        )
        for racer in racers:
            check_clear(racer)
        won = [d for d, r in zip((a, b), racers, strict=True) if r.ok]
        assert won, racers
        _check_history(world, "staging", before, won)
        assert world.state().env("staging") in {str(d) for d in won}
        tally.concurrency_round(
            "two promotions into staging (registry)",
            exits=sorted(r.returncode for r in racers),
            entries=len(won),
        )


def test_two_approvals_of_one_digest(world: World) -> None:
    for round_ in range(ROUNDS):
        d = world.image(f"d{round_}")
        racers = race(
            world.root,
            f"approve{round_}",
            [
                [
                    "approve",
                    "--digest",
                    str(d),
                    "--env",
                    "production",
                    "--actor",
                    who,
                    "--key",
                    str(world.made.key_file(who)),
                ]
                for who in ("lead-1", "lead-2")
            ],
            {},
        )
        for racer in racers:
            check_clear(racer)
        approved = collect_approvals(
            world.store, d, "production", world.direct.config.approvers, promoter="nobody"
        )
        winners = {who for who, r in zip(("lead-1", "lead-2"), racers, strict=True) if r.ok}
        assert winners and set(approved.valid) == winners, (approved, racers)
        tally.concurrency_round(
            "two approvals of one digest (registry)",
            exits=sorted(r.returncode for r in racers),
            entries=len(winners),
        )


def test_two_rollbacks_and_a_rollback_racing_a_promotion(world: World) -> None:
    for round_ in range(ROUNDS):
        p, d, e = world.image(f"p{round_}"), world.image(f"d{round_}"), world.image(f"e{round_}")
        for digest in (p, d):
            world.store.tag(digest, "staging")
            world.entry("staging", digest)
        before = len(world.state().history["staging"])
        rollback = ["rollback", "--env", "staging", "--to", str(p), "--actor", "lead-1"]
        racers = race(world.root, f"rollback{round_}", [rollback, rollback], {})
        for racer in racers:
            check_clear(racer)
        assert any(r.ok for r in racers), racers
        state = world.state()
        assert state.env("staging") == str(p)
        added = state.history["staging"][: len(state.history["staging"]) - before]
        # One rollback moved the tag; the other found it moved (nothing to do) or moved it too
        # and recorded its own move: never an entry without a move behind it, never none.
        assert 1 <= len(added) <= 2 and all(
            (str(x.digest), x.action, str(x.previous)) == (str(p), "rollback", str(d)) for x in added
        ), added
        tally.concurrency_round(
            "two rollbacks of staging (registry)",
            exits=sorted(r.returncode for r in racers),
            entries=len(added),
        )

        # Now a promotion of e (from dev) races a rollback of staging to d.
        world.place(e, "dev")
        world.entry("staging", p)  # a baseline: what staging holds is recorded
        before = len(world.state().history["staging"])
        racers = race(
            world.root,
            f"mixed{round_}",
            [
                _promote_argv(world, e, "dev", "staging", "dev-1"),
                ["rollback", "--env", "staging", "--to", str(d), "--actor", "lead-1"],
            ],
            {},
        )
        for racer in racers:
            check_clear(racer, frozenset({0, 1, 2, 3}))
        state = world.state()
        added = state.history["staging"][: len(state.history["staging"]) - before]
        moved = {str(x.digest) for x in added}
        assert moved <= {str(e), str(d)}, added
        if racers[0].ok:
            assert str(e) in moved
        assert state.env("staging") in moved | {str(p)}, (state.env("staging"), added)
        tally.concurrency_round(
            "a promotion racing a rollback (registry)",
            exits=sorted(r.returncode for r in racers),
            entries=len(added),
        )


# --- one OCI layout ---------------------------------------------------------------------------


def test_two_writers_to_one_layout(tmp_path: Path) -> None:
    made: PipelineDir = make_pipeline_dir(tmp_path, "oci:./store")
    store = LayoutStore(tmp_path / "store", create=True)
    pipeline = Pipeline.load(made.config_path)
    for round_ in range(ROUNDS):
        a, b = push_image(store, f"a{round_}"), push_image(store, f"b{round_}")
        for digest in (a, b):
            sign(store, digest, made.keys["ci"], reference=pipeline.name)
            promote(pipeline, PromotionRequest(digest, None, "dev", CI), signer=made.keys["ci"], environ={})
        before = len(history(store, "staging"))
        key = str(made.key_file("ci"))
        racers = race(
            tmp_path,
            f"layout-promote{round_}",
            [
                [
                    "promote",
                    "--digest",
                    str(d),
                    "--from",
                    "dev",
                    "--to",
                    "staging",
                    "--actor",
                    "dev-1",
                    "--key",
                    key,
                ]
                for d in (a, b)
            ],
            {},
        )
        for racer in racers:
            check_clear(racer)
        won = [d for d, r in zip((a, b), racers, strict=True) if r.ok]
        entries = history(store, "staging")
        added = entries[: len(entries) - before]
        assert won and sorted(str(x.digest) for x in added) == sorted(str(d) for d in won), (added, racers)
        tally.concurrency_round(
            "two promotions into staging (layout)",
            exits=sorted(r.returncode for r in racers),
            entries=len(added),
        )


def test_signers_racing_on_one_layout_keep_every_signature(tmp_path: Path) -> None:
    """Four ``sign`` processes add a layer each to one ``.sig`` image at once. Before the fix
    (read, merge and write under the layout's lock, ``signing.attachments.append_layer``) all
    exited 0 and the image kept one or two of the four signatures."""
    from shipflow.signing.attachments import read_attachments

    made: PipelineDir = make_pipeline_dir(tmp_path, "oci:./store")
    store = LayoutStore(tmp_path / "store", create=True)
    signers = ("ci", "lead-1", "lead-2", "outsider")
    for round_ in range(max(ROUNDS, 3)):  # a round costs a second; three caught the defect every time
        c = push_image(store, f"c{round_}")
        racers = race(
            tmp_path,
            f"layout-sign{round_}",
            [["sign", f"oci:./store@{c}", "--key", str(made.key_file(k))] for k in signers],
            {},
        )
        for racer in racers:
            check_clear(racer)
        found = read_attachments(store, f"{c.tag_form}.sig")
        assert found is not None and len(found.layers) == sum(r.ok for r in racers) >= 1, (found, racers)
        tally.concurrency_round(
            "four signers of one image (layout)",
            exits=sorted(r.returncode for r in racers),
            entries=len(found.layers),
        )
