"""Pure parts of the migration dry run: type-modifier decoding and widening, database URLs and
the environment a migration command gets, the report's verdicts and the gate's
outcome (the dry run itself replaced by a recorded report: the real one runs in
tests/integration/migration)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shipflow.errors import ConfigError, GateFailed, UsageError
from shipflow.gate import GateContext, GateStatus
from shipflow.oci.digest import Digest
from shipflow.redact import redact
from shipflow.release.migration import (
    Change,
    ChangeKind,
    CommandResult,
    MigrationGate,
    MigrationReport,
    Verdict,
    parse_database_url,
)
from shipflow.release.migration import gate as gate_module
from shipflow.release.migration.signals import TerminationRequested, exit_status
from shipflow.release.migration.target import child_environment
from shipflow.release.migration.widening import decode_numeric, decode_varchar, is_widening

# --- widening ----------------------------------------------------------------------------------


def test_typmod_decoding_matches_postgres_storage() -> None:
    assert decode_varchar(24) == 20  # varchar(20)
    assert decode_varchar(-1) is None
    assert decode_numeric(((10 << 16) | 2) + 4) == (10, 2)
    assert decode_numeric(((5 << 16) | (-2 & 0x7FF)) + 4) == (5, -2)  # PostgreSQL 15: negative scale
    assert decode_numeric(-1) is None


@pytest.mark.parametrize(
    ("old", "new", "widening"),
    [
        (("int2", -1), ("int8", -1), True),
        (("int8", -1), ("int2", -1), False),
        (("varchar", 24), ("varchar", 44), True),
        (("varchar", 44), ("varchar", 24), False),
        (("varchar", -1), ("text", -1), True),
        (("text", -1), ("varchar", -1), True),
        (("text", -1), ("varchar", 24), False),
        (("numeric", -1), ("numeric", ((10 << 16) | 2) + 4), False),
        (("float4", -1), ("float8", -1), True),
        (("float8", -1), ("float4", -1), False),
        (("timestamp", 3), ("timestamp", -1), True),
        (("timestamp", -1), ("timestamp", 3), False),
        (("timestamp", 3), ("timestamptz", 3), False),
        (("varbit", 8), ("varbit", 16), True),
        (("bpchar", 5), ("bpchar", 10), False),
        (("int4", -1), ("numeric", -1), False),
    ],
)
def test_widening_rules(old: tuple[str, int], new: tuple[str, int], widening: bool) -> None:
    assert is_widening(old[0], old[1], new[0], new[1]) is widening


# --- database URLs -----------------------------------------------------------------------------


def test_url_password_is_registered_and_never_shown() -> None:
    target = parse_database_url(
        "postgresql://app:Unit%2FSentinel%40pw@db.example:6543/staging?sslmode=require"
    )
    assert (target.user, target.host, target.port, target.database) == (
        "app",
        "db.example",
        "6543",
        "staging",
    )
    assert target.password == "Unit/Sentinel@pw"
    assert "Unit/Sentinel@pw" not in repr(target)
    assert redact("error: Unit/Sentinel@pw and Unit%2FSentinel%40pw") == "error: *** and ***"
    assert "Sentinel" not in target.describe()
    assert target.identity() == {"host": "db.example", "port": "6543", "database": "staging", "user": "app"}


def test_url_for_another_database_keeps_parameters_and_encodes_the_password() -> None:
    target = parse_database_url("postgresql://app:p%40ss%3Aw@db:5432/staging?sslmode=require")
    assert target.url(database="scratch_1") == "postgresql://app:p%40ss%3Aw@db:5432/scratch_1?sslmode=require"
    socket = parse_database_url("host=/var/run/postgresql dbname=app user=me")
    assert socket.url(database="x") == "postgresql://me@/x?host=/var/run/postgresql"
    v6 = parse_database_url("postgresql://u@[::1]:5433/db")
    assert v6.url() == "postgresql://u@[::1]:5433/db"


def test_url_errors_are_usage_errors_without_the_password() -> None:
    with pytest.raises(UsageError, match="names no database"):
        parse_database_url("postgresql://u:pw-Sentinel-1@db:5432", environ={})
    with pytest.raises(UsageError) as info:
        parse_database_url("postgresql//u:pw-Sentinel-2@db/x", environ={})
    assert "pw-Sentinel-2" not in str(info.value)
    with pytest.raises(UsageError, match="empty"):
        parse_database_url("  ", environ={})


def test_password_from_pgpassword_when_the_url_has_none() -> None:
    target = parse_database_url("postgresql://u@db/x", environ={"PGPASSWORD": "env-Sentinel-3"})
    assert target.password == "env-Sentinel-3"
    assert redact("env-Sentinel-3") == "***"


def test_child_environment_points_only_at_the_scratch_database() -> None:
    url = "postgresql://app:pw-Sentinel-4@db:5432/staging?sslmode=require"
    target = parse_database_url(url, environ={})
    environ = {
        "PATH": "/bin",
        "PGHOST": "elsewhere",
        "PGSSLROOTCERT": "/ca.pem",
        "STAGING_DATABASE_URL": url,
        "MY_DB": url,
        "PGSERVICE": "prod",
    }
    env = child_environment(environ, target, database="scratch_9")
    assert env["DATABASE_URL"] == "postgresql://app:pw-Sentinel-4@db:5432/scratch_9?sslmode=require"
    assert (env["PGHOST"], env["PGPORT"], env["PGDATABASE"], env["PGUSER"], env["PGPASSWORD"]) == (
        "db",
        "5432",
        "scratch_9",
        "app",
        "pw-Sentinel-4",
    )
    assert env["PGSSLMODE"] == "require"
    assert env["PGSSLROOTCERT"] == "/ca.pem"  # not a selecting variable: inherited
    assert "STAGING_DATABASE_URL" not in env and "MY_DB" not in env and "PGSERVICE" not in env
    assert env["PATH"] == "/bin"


# --- signals -----------------------------------------------------------------


def test_interrupt_exit_statuses() -> None:
    assert exit_status(KeyboardInterrupt()) == 130
    assert exit_status(TerminationRequested()) == 143
    assert isinstance(TerminationRequested(), KeyboardInterrupt)


# --- report and gate -------------------------------------------------------------------------

DIGEST = Digest.parse("sha256:" + "ab" * 32)


def report(
    changes: tuple[Change, ...] = (), *, exit_code: int = 0, allow_breaking: bool = False, output: str = ""
) -> MigrationReport:
    return MigrationReport(
        target={"host": "db", "port": "5432", "database": "staging", "user": "app"},
        server_version="15.18",
        command=("psql", "-f", "m.sql"),
        result=CommandResult(("psql", "-f", "m.sql"), exit_code, output, len(output), 0.5, False),
        changes=changes,
        scratch_database="shipflow_scratch_20260101t000000_00000000",
        copy_method="dump",
        copy_reason="requested",
        pg_dump_version="15.18",
        allow_breaking=allow_breaking,
        started_at="2026-01-01T00:00:00Z",
    )


DROP = Change(ChangeKind.COLUMN_DROPPED, "public.users.name", Verdict.BREAKING, "Column is dropped.")
ADD = Change(ChangeKind.COLUMN_ADDED, "public.users.nick", Verdict.COMPATIBLE, "New column.")


def test_report_verdicts() -> None:
    assert (report().verdict, report().passed, report().summary()) == (
        "compatible",
        True,
        "the migration made no schema changes",
    )
    assert (report((ADD,)).verdict, report((ADD,)).passed) == ("compatible", True)
    breaking = report((DROP, ADD))
    assert (breaking.verdict, breaking.passed) == ("breaking", False)
    assert breaking.summary().startswith("1 breaking schema change(s): column.dropped public.users.name")
    allowed = report((DROP,), allow_breaking=True)
    assert (allowed.verdict, allowed.passed, allowed.breaking_allowed) == ("breaking", True, True)
    assert allowed.summary().startswith("BREAKING CHANGES ALLOWED")
    failed = report((ADD,), exit_code=2, allow_breaking=True)
    assert (failed.verdict, failed.passed) == ("failed", False)
    data = breaking.to_json()
    assert data["counts"] == {"breaking": 1, "compatible": 1}
    assert data["changes"][0] == {
        "kind": "column.dropped",
        "object": "public.users.name",
        "verdict": "breaking",
        "reason": "Column is dropped.",
    }


class _Recorded:
    """Stands in for the real dry run (run in the integration tier), recording the call."""

    def __init__(self, result: MigrationReport) -> None:
        self.result = result
        self.calls: list[dict[str, Any]] = []

    def __call__(self, target: Any, command: Any, **kwargs: Any) -> MigrationReport:
        self.calls.append({"target": target, "command": command, **kwargs})
        return self.result


@pytest.fixture
def ctx() -> GateContext:
    return GateContext(store=None, digest=DIGEST)  # type: ignore[arg-type]


def test_gate_passes_with_evidence(monkeypatch: pytest.MonkeyPatch, ctx: GateContext) -> None:
    recorded = _Recorded(report((ADD,)))
    monkeypatch.setattr(gate_module, "check_migration", recorded)
    gate = MigrationGate(
        "postgresql://app:gate-Sentinel-5@db:5432/staging",
        "npm run 'migrate all'",
        env={"SHIPFLOW_ENV": "canary"},
        timeout=30,
    )
    evidence = gate.check(ctx)
    assert evidence.status is GateStatus.PASSED
    assert evidence.gate == "migration"
    assert recorded.calls[0]["command"] == ("npm", "run", "migrate all")
    assert recorded.calls[0]["env"] == {"SHIPFLOW_ENV": "canary", "SHIPFLOW_DIGEST": str(DIGEST)}
    assert evidence.inputs["database"] == "staging" and evidence.inputs["serverVersion"] == "15.18"
    assert evidence.details["changes"][0]["kind"] == "column.added"
    assert "gate-Sentinel-5" not in repr(evidence.to_json())


def test_gate_fails_on_breaking_unless_allowed(monkeypatch: pytest.MonkeyPatch, ctx: GateContext) -> None:
    monkeypatch.setattr(gate_module, "check_migration", _Recorded(report((DROP,))))
    with pytest.raises(GateFailed) as info:
        MigrationGate("postgresql://app@db/staging", ["migrate"]).check(ctx)
    assert info.value.evidence is not None and info.value.evidence.status is GateStatus.FAILED
    assert info.value.hint is not None and "backwards compatible" in info.value.hint

    monkeypatch.setattr(gate_module, "check_migration", _Recorded(report((DROP,), allow_breaking=True)))
    evidence = MigrationGate("postgresql://app@db/staging", ["migrate"], allow_breaking=True).check(ctx)
    assert evidence.status is GateStatus.PASSED
    assert evidence.summary.startswith("BREAKING CHANGES ALLOWED")
    assert evidence.details["breakingAllowed"] is True


def test_gate_fails_when_the_command_fails_with_its_output(
    monkeypatch: pytest.MonkeyPatch, ctx: GateContext
) -> None:
    monkeypatch.setattr(
        gate_module, "check_migration", _Recorded(report(exit_code=1, output="ERROR: syntax"))
    )
    with pytest.raises(GateFailed) as info:
        MigrationGate("postgresql://app@db/staging", ["migrate"]).check(ctx)
    evidence = info.value.evidence
    assert evidence is not None
    assert evidence.details["command"] == {
        "exitCode": 1,
        "timedOut": False,
        "durationSeconds": 0.5,
        "output": "ERROR: syntax",
        "outputTruncated": False,
    }


def test_gate_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no command"):
        MigrationGate("postgresql://app@db/staging", "   ")
    with pytest.raises(ConfigError, match="cannot be split"):
        MigrationGate("postgresql://app@db/staging", "npm run 'unterminated")
    with pytest.raises(UsageError, match="names no database"):
        MigrationGate("postgresql://app@db", ["migrate"])
