"""The dry run's promises against a real PostgreSQL 15: only the scratch copy is written, it is
dropped whatever happens (errors, Ctrl-C and SIGTERM in every phase, a hanging command), stale
copies of killed runs are cleaned, and every way it cannot run is a clear error."""

from __future__ import annotations

import os
import signal
import stat
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from fixtures.postgres import MIGRATOR, MIGRATOR_PASSWORD, NOCREATE, READER, PostgresServer, TargetFactory
from fixtures.procs import free_port, require_binary
from shipflow.errors import GateFailed
from shipflow.events import RecordingSink
from shipflow.gate import GateContext, GateStatus
from shipflow.oci.digest import Digest
from shipflow.release.migration import (
    ClientToolError,
    DatabaseUnavailable,
    MigrationGate,
    MissingPrivilege,
    TerminationRequested,
    check_migration,
    drop_stale_scratch,
)
from shipflow.release.migration.scratch import MARKER, connect_admin
from shipflow.release.migration.snapshot import take_snapshot
from shipflow.release.migration.target import parse_database_url
from shipflow.release.migration.widening import decode_numeric, decode_varchar

pytestmark = pytest.mark.integration

DIGEST = Digest.parse("sha256:" + "cd" * 32)


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return False


def psql_file(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "migration.sql"
    path.write_text(text)
    return [require_binary("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(path)]


def test_destructive_migration_runs_on_the_copy_only(
    pg_target: TargetFactory, postgres: PostgresServer, tmp_path: Path
) -> None:
    target = pg_target()
    before = target.fingerprint()
    command = psql_file(
        tmp_path,
        "SELECT 'rows seen: ' || count(*) FROM customers;\n"
        "SELECT 'database: ' || current_database();\n"
        "DELETE FROM orders; TRUNCATE billing.invoices; UPDATE customers SET name = 'x';\n"
        "DROP VIEW customer_totals; DROP TABLE billing.invoices; ALTER TABLE customers DROP COLUMN name;\n",
    )
    report = check_migration(target.url(), command, timeout=60)
    assert report.copy_method == "template"
    assert "rows seen: 20" in report.result.output  # the template copy carries the rows
    assert f"database: {report.scratch_database}" in report.result.output
    assert report.scratch_database.startswith("shipflow_scratch_")
    assert report.verdict == "breaking"
    assert target.fingerprint() == before
    assert postgres.scratch_databases() == []


def test_the_command_sees_only_the_scratch_database(
    pg_target: TargetFactory, postgres: PostgresServer, tmp_path: Path
) -> None:
    target = pg_target()
    script = tmp_path / "env.sh"
    script.write_text(
        "#!/bin/sh\n"
        'echo "url=$DATABASE_URL"\n'
        'echo "pg=$PGHOST:$PGPORT/$PGDATABASE as $PGUSER pw=$PGPASSWORD"\n'
        'echo "staging=${STAGING_DATABASE_URL:-unset} dry=$SHIPFLOW_MIGRATION_DRY_RUN img=$SHIPFLOW_IMAGE"\n'
        'psql -X -At -c "SELECT current_database()"\n'
        'psql -X -At "$DATABASE_URL" -c "SELECT \'via-url:\' || current_database()"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    environ = dict(os.environ, STAGING_DATABASE_URL=target.url(), PGDATABASE=target.name)
    report = check_migration(
        target.url(),
        [str(script)],
        env={
            "SHIPFLOW_IMAGE": "ghcr.io/x/app",
            "DATABASE_URL": "postgresql://evil/target",
            "STAGING_DATABASE_URL": target.url(),  # e.g. a promotion passing its whole environment
            "PGHOST": "evil",
        },
        environ=environ,
        timeout=60,
    )
    out = report.result.output
    scratch = report.scratch_database
    assert f"127.0.0.1:{postgres.port}/{scratch} as {MIGRATOR} pw=***" in out
    assert f"url=postgresql://***@127.0.0.1:{postgres.port}/{scratch}" in out  # user:password masked
    assert "staging=unset dry=1 img=ghcr.io/x/app" in out
    assert f"\n{scratch}\n" in out and f"via-url:{scratch}" in out
    assert MIGRATOR_PASSWORD not in out
    assert report.verdict == "compatible" and report.changes == ()


@pytest.mark.parametrize(
    ("copy", "phase"),
    [
        ("template", "migration.scratch.created"),
        ("dump", "migration.scratch.created"),
        ("dump", "migration.scratch.copied"),
        ("template", "migration.snapshot.before"),
        ("template", "migration.command.started"),
        ("dump", "migration.command.finished"),
    ],
)
@pytest.mark.parametrize("how", ["KeyboardInterrupt", "SIGINT", "SIGTERM"])
def test_interrupt_in_every_phase_drops_the_scratch_database(
    pg_target: TargetFactory, postgres: PostgresServer, tmp_path: Path, copy: str, phase: str, how: str
) -> None:
    target = pg_target()
    before = target.fingerprint()
    seen: list[str] = []

    class Interrupting(RecordingSink):
        def emit(self, kind: str, message: str, **data: Any) -> None:
            super().emit(kind, message, **data)
            if kind == "migration.scratch.created":
                seen.extend(postgres.scratch_databases())
            if kind == phase:
                if how == "KeyboardInterrupt":
                    raise KeyboardInterrupt
                os.kill(os.getpid(), signal.SIGINT if how == "SIGINT" else signal.SIGTERM)
                time.sleep(5)  # the signal arrives long before this ends
                raise AssertionError("the signal was not delivered")

    expected = TerminationRequested if how == "SIGTERM" else KeyboardInterrupt
    with pytest.raises(expected):
        check_migration(
            target.url(), psql_file(tmp_path, "CREATE TABLE t (id int);"), copy=copy, events=Interrupting()
        )
    assert len(seen) == 1 and seen[0].startswith("shipflow_scratch_")
    assert postgres.scratch_databases() == []
    assert target.fingerprint() == before
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler was restored


def test_ctrl_c_while_the_command_runs_kills_it_and_drops_the_copy(
    pg_target: TargetFactory, postgres: PostgresServer, tmp_path: Path
) -> None:
    target = pg_target()
    pids = tmp_path / "pids"

    class InterruptLater(RecordingSink):
        def emit(self, kind: str, message: str, **data: Any) -> None:
            super().emit(kind, message, **data)
            if kind == "migration.command.started":
                threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        check_migration(
            target.url(),
            ["sh", "-c", f"echo $$ > {pids}; sleep 300 & echo $! >> {pids}; wait"],
            events=InterruptLater(),
            timeout=120,
        )
    assert time.monotonic() - started < 60
    numbers = [int(p) for p in pids.read_text().split()]
    assert len(numbers) == 2
    assert not any(alive(pid) for pid in numbers)
    assert postgres.scratch_databases() == []


def test_a_hanging_command_hits_the_timeout(
    pg_target: TargetFactory, postgres: PostgresServer, tmp_path: Path
) -> None:
    target = pg_target()
    pids = tmp_path / "pids"
    started = time.monotonic()
    report = check_migration(
        target.url(),
        ["sh", "-c", f"echo $$ > {pids}; echo working; sleep 300 & echo $! >> {pids}; trap '' TERM; wait"],
        timeout=1.5,
    )
    assert time.monotonic() - started < 60
    assert report.verdict == "failed"
    assert report.result.timed_out
    assert "timed out after" in report.summary()
    assert "working" in report.result.output
    assert not any(alive(int(pid)) for pid in pids.read_text().split())  # SIGKILL after SIGTERM was ignored
    assert postgres.scratch_databases() == []


def test_output_is_bounded(pg_target: TargetFactory, tmp_path: Path) -> None:
    target = pg_target()
    report = check_migration(
        target.url(),
        ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done; exit 4"],
        timeout=60,
    )
    assert report.verdict == "failed" and report.result.returncode == 4
    assert report.output_truncated and report.to_json()["command"]["outputTruncated"] is True
    assert len(report.result.output) < 70_000
    assert report.result.output.startswith("line-0\n") and report.result.output.endswith("line-19999\n")
    assert "bytes not shown" in report.result.output


def test_role_without_createdb_gets_a_clear_error(pg_target: TargetFactory, postgres: PostgresServer) -> None:
    target = pg_target()
    with pytest.raises(MissingPrivilege) as info:
        check_migration(target.url(NOCREATE), ["true"])
    assert "CREATEDB" in info.value.message and NOCREATE in info.value.message
    assert info.value.exit_code == 3
    assert info.value.hint is not None and "ALTER ROLE" in info.value.hint
    assert postgres.scratch_databases() == []


def test_connection_errors_are_infrastructure_errors_with_hints(
    pg_target: TargetFactory, postgres: PostgresServer
) -> None:
    target = pg_target()
    with pytest.raises(DatabaseUnavailable) as wrong_password:
        check_migration(target.url(password="Wrong-Sentinel-77"), ["true"])
    assert wrong_password.value.exit_code == 3
    assert "credentials" in (wrong_password.value.hint or "")
    assert "Wrong-Sentinel-77" not in str(wrong_password.value) + (wrong_password.value.hint or "")
    with pytest.raises(DatabaseUnavailable) as refused:
        check_migration(f"postgresql://{MIGRATOR}:x@127.0.0.1:{free_port()}/{target.name}", ["true"])
    assert "server running" in (refused.value.hint or "")
    with pytest.raises(DatabaseUnavailable) as missing:
        check_migration(postgres.url("no_such_database"), ["true"])
    assert "does not exist" in missing.value.message


def test_template_copy_needs_ownership(pg_target: TargetFactory, postgres: PostgresServer) -> None:
    target = pg_target()
    with pytest.raises(MissingPrivilege, match="does not own the target"):
        check_migration(target.url(READER), ["true"], copy="template")
    assert postgres.scratch_databases() == []


def test_auto_takes_the_dump_while_someone_uses_the_target(pg_target: TargetFactory, tmp_path: Path) -> None:
    target = pg_target()
    with target.connect():  # the application, connected
        report = check_migration(target.url(), psql_file(tmp_path, "ALTER TABLE orders DROP COLUMN note;"))
    assert report.copy_method == "dump"
    assert "session(s) are connected to the target" in report.copy_reason
    assert {c.object for c in report.breaking} == {"public.orders.note"}


def test_stale_scratch_databases_of_killed_runs_are_cleaned(
    pg_target: TargetFactory, postgres: PostgresServer
) -> None:
    target = pg_target()
    stale, busy, foreign, young = (
        "shipflow_scratch_20000101t000000_0badc0de",
        "shipflow_scratch_20000101t000000_0000beef",
        "shipflow_scratch_20000101t000000_f0f0f0f0",
        "shipflow_scratch_29990101t000000_12345678",
    )
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as conn:
        for name in (stale, busy, foreign, young):
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        for name in (stale, busy, young):
            conn.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(name), sql.Literal(MARKER + ": test")
                )
            )
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS 'somebody else'").format(sql.Identifier(foreign)))
    try:
        with postgres.superuser(busy):
            sink = RecordingSink()
            report = check_migration(target.url(), ["true"], events=sink)
            remaining = postgres.scratch_databases()
        assert report.verdict == "compatible"
        assert [e.data["database"] for e in sink.events if e.kind == "migration.stale.dropped"] == [stale]
        assert remaining == sorted([busy, foreign, young])
        admin, _ = connect_admin(parse_database_url(target.url()))
        with admin:
            would, kept = drop_stale_scratch(admin, dry_run=True)
        assert [s.name for s in would] == [busy]  # nobody connected any more
        assert {s.name for s, _why in kept} == {young}
    finally:
        for name in (stale, busy, foreign, young):
            postgres.drop_database(name)


def test_pg_dump_of_an_older_major_version_is_refused(
    pg_target: TargetFactory, postgres: PostgresServer, tmp_path: Path
) -> None:
    target = pg_target()
    fake = tmp_path / "bin"
    fake.mkdir()
    for tool in ("pg_dump", "psql"):  # what an older client installation answers
        path = fake / tool
        path.write_text(f"#!/bin/sh\necho '{tool} (PostgreSQL) 14.11'\n")
        path.chmod(0o755)
    environ = dict(os.environ, SHIPFLOW_PG_BIN=str(fake))
    with pytest.raises(ClientToolError) as info:
        check_migration(target.url(), ["true"], copy="dump", environ=environ)
    assert "14.11" in info.value.message and "PostgreSQL 15" in info.value.message
    assert "postgresql-client-15" in (info.value.hint or "")
    assert postgres.scratch_databases() == []


def test_client_tools_are_chosen_by_the_server_major_version(tmp_path: Path) -> None:
    from shipflow.release.migration.pgtools import find_pg_tools

    environ = {"PATH": str(tmp_path)}  # nothing on PATH: only the versioned directories count
    exact = find_pg_tools(15, environ=environ)
    assert (exact.major, exact.exact) == (15, True)
    assert exact.pg_dump == Path("/usr/lib/postgresql/15/bin/pg_dump")
    newer = find_pg_tools(14, environ=environ)  # no 14 here: the newer 15 is used, and says so
    assert (newer.major, newer.exact) == (15, False)
    with pytest.raises(ClientToolError, match="no pg_dump for PostgreSQL 99"):
        find_pg_tools(99, environ=environ)


def test_gate_on_a_real_database(pg_target: TargetFactory, postgres: PostgresServer, tmp_path: Path) -> None:
    target = pg_target()
    ctx = GateContext(store=None, digest=DIGEST)  # type: ignore[arg-type]
    compatible = MigrationGate(target.url(), psql_file(tmp_path, "ALTER TABLE orders ADD COLUMN gift text;"))
    evidence = compatible.check(ctx)
    assert evidence.status is GateStatus.PASSED
    assert evidence.inputs["serverVersion"].startswith("15.")
    assert evidence.inputs["database"] == target.name and evidence.inputs["user"] == MIGRATOR
    assert [c["kind"] for c in evidence.details["changes"]] == ["column.added"]
    breaking = MigrationGate(target.url(), psql_file(tmp_path, "ALTER TABLE orders DROP COLUMN note;"))
    with pytest.raises(GateFailed) as info:
        breaking.check(ctx)
    assert info.value.evidence is not None
    assert info.value.evidence.details["breaking"] == 1
    for record in (evidence.to_json(), info.value.evidence.to_json()):
        assert MIGRATOR_PASSWORD not in repr(record)
    assert postgres.scratch_databases() == []


def test_snapshot_type_modifiers_agree_with_format_type(pg_target: TargetFactory) -> None:
    target = pg_target()
    with target.connect() as conn:
        snapshot = take_snapshot(conn)  # type: ignore[arg-type]
    checked = 0
    for relation in snapshot.relations:
        for column in relation.columns:
            name = column.type.name.removesuffix("[]")
            if column.type.base == "varchar" and column.type.typmod >= 0:
                assert name == f"character varying({decode_varchar(column.type.typmod)})"
                checked += 1
            if column.type.base == "numeric" and column.type.typmod >= 0:
                precision, scale = decode_numeric(column.type.typmod) or (0, 0)
                assert name == f"numeric({precision},{scale})"
                checked += 1
    assert checked >= 5
    assert {e.name for e in snapshot.enums} == {"order_status"}
    assert [v.label for v in snapshot.enums[0].values] == ["pending", "paid", "shipped", "cancelled"]
    assert not any(r.name == "citext" for r in snapshot.routines)  # extension members are left out


def test_wired_as_the_promotion_gate_from_shipflow_yaml(
    pg_target: TargetFactory, postgres: PostgresServer, tmp_path: Path
) -> None:
    """The integrator's wiring (shipflow.yaml → gates_for → MigrationGateAdapter → MigrationGate):
    breaking changes fail promotion to staging and pass, loudly, where the path allows them."""
    from shipflow.release.config import load_config
    from shipflow.release.gates import PromotionContext, gates_for
    from shipflow.signing.keys import generate_private_key, public_key_pem

    target = pg_target()
    (tmp_path / "cosign.pub").write_bytes(public_key_pem(generate_private_key()))
    (tmp_path / "m.sql").write_text("ALTER TABLE customers DROP COLUMN nickname;\n")
    (tmp_path / "shipflow.yaml").write_text(
        "image: oci:./store\n"
        "keys: {trusted: [cosign.pub]}\n"
        "roles: {developer: [dev], tech-lead: [lead]}\n"
        "environments:\n"
        "  dev: {promoted_by: [developer]}\n"
        "  staging: {from: dev, promoted_by: [developer], gates: [migration]}\n"
        "  canary:\n"
        "    {from: staging, promoted_by: [tech-lead], gates: [migration], allow_breaking_migrations: true}\n"
        "gates:\n"
        "  migration:\n"
        '    database_url: "${STAGING_DATABASE_URL}"\n'
        "    command: psql -X -q -v ON_ERROR_STOP=1 -f m.sql\n"
    )
    config = load_config(tmp_path / "shipflow.yaml")
    environ = dict(os.environ, STAGING_DATABASE_URL=target.url())

    def migration_gate(env: str) -> Any:
        return next(g for g in gates_for(config, config.environment(env)) if g.name == "migration")

    def context(env: str) -> PromotionContext:
        return PromotionContext(
            store=None, digest=DIGEST, source="dev", target=env, image="app", environ=environ
        )  # type: ignore[arg-type]

    with pytest.raises(GateFailed) as refused:
        migration_gate("staging").check(context("staging"))
    assert refused.value.evidence is not None
    assert refused.value.evidence.details["changes"][0]["object"] == "public.customers.nickname"
    evidence = migration_gate("canary").check(context("canary"))
    assert evidence.status is GateStatus.PASSED
    assert evidence.summary.startswith("BREAKING CHANGES ALLOWED")
    assert evidence.inputs["database"] == target.name
    assert MIGRATOR_PASSWORD not in repr(evidence.to_json())
    assert postgres.scratch_databases() == []
