"""Regression tests for the defects the fault matrix (``test_faults_pipeline.py``) found in
``promote`` and ``rollback``, each with the one fault that shows it, through the real ``shipflow``
command and a real registry behind the fault proxy. Each failed before its fix:

* promote, the record write fails after the re-tag: the tag stayed on the new digest with no
  record and the error did not say so (the next stage then refused it for want of a record);
  now the tag is put back and the error says so, and a re-run completes;
* promote into an environment that held nothing, the record write fails: nothing to put back;
  the error says the environment holds the digest unrecorded; a re-run records it (previous:
  none);
* promote, the history write fails after the record: the entry was lost for good (a re-run
  said "already holds it" and wrote nothing); now the error says so and a re-run adds it;
* rollback, the history write fails after the tag moved: exit 0 with no entry (a move nobody
  could see in ``history``); now exit 3 saying so, and a re-run writes the one entry;
* rollback, the move itself fails: an entry "rolled back" to the digest it never left was
  written (``digest == previous``); now no entry.
"""

from __future__ import annotations

from pathlib import Path

from fixtures.faults import Fault, FaultProxyFactory
from fixtures.registry import Registry
from reliability import tally
from reliability.world import CI, TRACEBACK, Endpoints, Run, World, error_line, run
from support.cli import InProcessCli

REC = r"/manifests/sf\.rec\."


def _tally(world: World, scenario: str, command: str, failed: Run, again: Run | None) -> None:
    injected = world.proxy.injected
    tally.fault_case(
        scenario,
        command,
        outcome="completed" if failed.returncode == 0 else f"exit {failed.returncode}",
        faults=len(injected),
        kinds=sorted({str(r.fault) for r in injected}),
        rerun="not run"
        if again is None
        else ("completed" if again.returncode == 0 else f"exit {again.returncode}"),
        message=error_line(failed.stderr) or failed.stdout.strip().splitlines()[0],
    )


HIST = r"/manifests/sf\.hist\."


def _world(
    tmp_path: Path, registry: Registry, fault_proxy: FaultProxyFactory, endpoints: Endpoints, name: str
) -> World:
    return World(tmp_path, registry, fault_proxy, f"regressions/{name}", endpoints)


def _promote(world: World, digest: str, source: str | None, target: str, actor: str) -> list[str]:
    argv = [
        "promote",
        "--digest",
        digest,
        "--to",
        target,
        "--actor",
        actor,
        "--key",
        str(world.made.key_file("ci")),
    ]
    return argv + (["--from", source] if source else [])


def test_promote_whose_record_fails_puts_the_tag_back(
    tmp_path: Path,
    registry: Registry,
    fault_proxy: FaultProxyFactory,
    endpoints: Endpoints,
    shipflow: InProcessCli,
) -> None:
    world = _world(tmp_path, registry, fault_proxy, endpoints, "record-fails")
    try:
        p, d = world.image("p"), world.image("d")
        world.place(p, "dev", "staging")
        world.place(d, "dev")
        argv = _promote(world, str(d), "dev", "staging", "dev-1")
        world.proxy.set_scenario(Fault("status", "PUT", REC, status=500, times=None))
        failed = run(shipflow, world, argv)
        world.proxy.clear()
        assert failed.returncode == 3 and not TRACEBACK.search(failed.text), failed.text
        line = error_line(failed.stderr) or ""
        assert f"staging was put back to {p}" in line, failed.stderr
        state = world.state()
        assert state.env("staging") == str(p)
        assert state.entries("staging") == [(str(p), "promote", "ok")]

        again = run(shipflow, world, argv)
        _tally(world, "record-write-fails", "promote", failed, again)
        assert again.returncode == 0, again.text
        state = world.state()
        assert state.env("staging") == str(d)
        assert state.entries("staging") == [(str(p), "promote", "ok"), (str(d), "promote", "ok")]
        record = world.record_of(d, "staging", source="dev")
        assert record is not None and record.predicate["previous"] == str(p)
    finally:
        world.close()


def test_promote_into_an_empty_environment_whose_record_fails_says_so_and_a_rerun_records_it(
    tmp_path: Path,
    registry: Registry,
    fault_proxy: FaultProxyFactory,
    endpoints: Endpoints,
    shipflow: InProcessCli,
) -> None:
    world = _world(tmp_path, registry, fault_proxy, endpoints, "record-fails-empty")
    try:
        d = world.image("d")
        argv = _promote(world, str(d), None, "dev", CI)
        world.proxy.set_scenario(Fault("status", "PUT", REC, status=500, times=None))
        failed = run(shipflow, world, argv)
        world.proxy.clear()
        assert failed.returncode == 3, failed.text
        assert f"dev holds {d}, but its promotion is not recorded" in (error_line(failed.stderr) or ""), (
            failed.stderr
        )
        assert "run the same `shipflow promote` again" in failed.stderr
        assert world.state().entries("dev") == []

        again = run(shipflow, world, argv)
        _tally(world, "record-write-fails (empty env)", "promote", failed, again)
        assert again.returncode == 0, again.text
        state = world.state()
        assert state.env("dev") == str(d) and state.entries("dev") == [(str(d), "promote", "ok")]
        assert state.history["dev"][0].previous is None
        record = world.record_of(d, "dev")
        assert record is not None and record.predicate.get("previous") is None
        assert state.history["dev"][0].record == record.ref.tag
    finally:
        world.close()


def test_promote_whose_history_write_fails_says_so_and_a_rerun_adds_the_entry(
    tmp_path: Path,
    registry: Registry,
    fault_proxy: FaultProxyFactory,
    endpoints: Endpoints,
    shipflow: InProcessCli,
) -> None:
    world = _world(tmp_path, registry, fault_proxy, endpoints, "history-fails")
    try:
        p, d = world.image("p"), world.image("d")
        world.place(p, "dev", "staging")
        world.place(d, "dev")
        argv = _promote(world, str(d), "dev", "staging", "dev-1")
        world.proxy.set_scenario(Fault("status", "PUT", HIST, status=500, times=None))
        failed = run(shipflow, world, argv)
        world.proxy.clear()
        assert failed.returncode == 3, failed.text
        assert "the history entry is missing" in failed.stderr and "adds the missing entry" in failed.stderr
        state = world.state()
        assert state.env("staging") == str(d) and state.entries("staging") == [(str(p), "promote", "ok")]
        record = world.record_of(d, "staging", source="dev")
        assert record is not None

        again = run(shipflow, world, argv)
        _tally(world, "history-write-fails", "promote", failed, again)
        assert again.returncode == 0, again.text
        state = world.state()
        assert state.entries("staging") == [(str(p), "promote", "ok"), (str(d), "promote", "ok")]
        newest = state.history["staging"][0]
        assert str(newest.previous) == str(p) and newest.record == record.ref.tag
        # A third run finds everything in place and adds nothing.
        third = run(shipflow, world, argv)
        assert third.returncode == 0 and len(world.state().history["staging"]) == 2, third.text
    finally:
        world.close()


def _rollback_world(world: World) -> tuple[str, str]:
    p, d = world.image("p"), world.image("d")
    world.store.tag(p, "staging")
    world.entry("staging", p)
    world.store.tag(d, "staging")
    world.entry("staging", d)
    return str(p), str(d)


def test_rollback_whose_history_write_fails_exits_3_and_a_rerun_records_it_once(
    tmp_path: Path,
    registry: Registry,
    fault_proxy: FaultProxyFactory,
    endpoints: Endpoints,
    shipflow: InProcessCli,
) -> None:
    world = _world(tmp_path, registry, fault_proxy, endpoints, "rollback-history-fails")
    try:
        p, d = _rollback_world(world)
        argv = ["rollback", "--env", "staging", "--to", p, "--actor", "lead-1"]
        world.proxy.set_scenario(Fault("status", "PUT", HIST, status=500, times=None))
        failed = run(shipflow, world, argv)
        world.proxy.clear()
        assert failed.returncode == 3, failed.text
        assert "its history entry could not be written" in failed.stdout, failed.stdout
        state = world.state()
        assert state.env("staging") == p
        assert state.entries("staging") == [(p, "promote", "ok"), (d, "promote", "ok")]

        again = run(shipflow, world, argv)
        _tally(world, "history-write-fails", "rollback", failed, again)
        assert again.returncode == 0, again.text
        state = world.state()
        expected = [(p, "promote", "ok"), (d, "promote", "ok"), (p, "rollback", "ok")]
        assert state.entries("staging") == expected
        assert str(state.history["staging"][0].previous) == d
        # Recorded now: a third run has nothing to do and writes nothing.
        third = run(shipflow, world, argv)
        assert third.returncode == 0 and "nothing to do" in third.stdout, third.text
        assert world.state().entries("staging") == expected
    finally:
        world.close()


def test_rollback_whose_move_fails_writes_no_history_entry(
    tmp_path: Path,
    registry: Registry,
    fault_proxy: FaultProxyFactory,
    endpoints: Endpoints,
    shipflow: InProcessCli,
) -> None:
    world = _world(tmp_path, registry, fault_proxy, endpoints, "rollback-move-fails")
    try:
        p, d = _rollback_world(world)
        argv = ["rollback", "--env", "staging", "--to", p, "--actor", "lead-1"]
        world.proxy.set_scenario(Fault("status", "PUT", r"/manifests/staging$", status=500, times=None))
        failed = run(shipflow, world, argv)
        world.proxy.clear()
        _tally(world, "the move fails (every time)", "rollback", failed, None)
        assert failed.returncode == 3, failed.text
        state = world.state()
        assert state.env("staging") == d
        assert state.entries("staging") == [(p, "promote", "ok"), (d, "promote", "ok")], state.entries(
            "staging"
        )
    finally:
        world.close()
