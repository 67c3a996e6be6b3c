"""``shipflow migration check`` as a user runs it, against a real PostgreSQL 15: exit codes,
the table, --json, the GitHub step summary and outputs, Ctrl-C and SIGTERM in the middle, and a
sentinel password that must never appear anywhere (at -vv, on success and failure paths)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from fixtures.postgres import MIGRATOR, MIGRATOR_PASSWORD, PostgresServer, TargetFactory
from fixtures.procs import free_port, require_binary

SHIPFLOW = Path(sys.executable).parent / "shipflow"
SENTINELS = (MIGRATOR_PASSWORD, quote(MIGRATOR_PASSWORD, safe=""), "7Qz:9x", "7Qz%3A9x")


def shipflow(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SHIPFLOW), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def migration_file(tmp_path: Path, sql: str, name: str = "m.sql") -> list[str]:
    path = tmp_path / name
    path.write_text(sql)
    return [require_binary("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(path)]


def actions_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("STAGING_DATABASE_URL", "GITHUB_STEP_SUMMARY")}
    env.update(GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(outputs), **extra)
    return env


def read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_help_says_only_the_scratch_copy_is_written() -> None:
    result = shipflow("migration", "check", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "Only a scratch copy is ever written; the target database is only read" in text
    assert "STAGING_DATABASE_URL" in text and "CREATEDB" in text
    assert "130 interrupted" in text
    listed = shipflow("--help")
    assert "migration" in listed.stdout


def test_compatible_migration(pg_target: TargetFactory, postgres: PostgresServer, tmp_path: Path) -> None:
    target = pg_target()
    env = actions_env(tmp_path, STAGING_DATABASE_URL=target.url())
    command = migration_file(
        tmp_path, "ALTER TABLE orders ADD COLUMN gift_note text;\nCREATE INDEX ON orders (placed_at);"
    )
    result = shipflow("migration", "check", "--", *command, env=env)
    assert result.returncode == 0, result.stderr
    assert "public.orders.gift_note" in result.stdout
    assert "2 schema change(s), all compatible" in result.stdout
    assert "created scratch database shipflow_scratch_" in result.stderr  # progress lines
    summary = read(tmp_path / "summary.md")
    assert "### Migration dry run: compatible" in summary
    assert "| ✅ compatible | column added | `public.orders.gift_note` |" in summary
    assert "migration_verdict=compatible" in read(tmp_path / "outputs.txt")
    assert postgres.scratch_databases() == []


def test_breaking_migration_json_and_exit_code(
    pg_target: TargetFactory, postgres: PostgresServer, tmp_path: Path
) -> None:
    target = pg_target()
    env = actions_env(tmp_path)
    command = migration_file(
        tmp_path,
        "ALTER TABLE customers RENAME COLUMN name TO full_name;\nALTER TABLE orders ADD COLUMN x int;",
    )
    result = shipflow("migration", "check", "--database-url", target.url(), "--json", "--", *command, env=env)
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"] == "breaking" and data["passed"] is False
    assert [(c["verdict"], c["kind"], c["object"]) for c in data["changes"]] == [
        ("breaking", "column.renamed", "public.customers.full_name"),
        ("compatible", "column.added", "public.orders.x"),
    ]
    assert data["scratch"]["dropped"] is True
    assert data["target"]["database"] == target.name and data["target"]["serverVersion"].startswith("15.")
    assert "error: 1 breaking schema change(s)" in result.stderr
    assert "backwards compatible" in result.stderr
    assert "### Migration dry run: BREAKING" in read(tmp_path / "summary.md")
    assert "migration_breaking=1" in read(tmp_path / "outputs.txt")

    allowed = shipflow(
        "migration", "check", "--database-url", target.url(), "--allow-breaking", "--", *command, env=env
    )
    assert allowed.returncode == 0, allowed.stderr
    assert "WARNING: BREAKING CHANGES ALLOWED" in allowed.stderr
    assert "BREAKING" in allowed.stdout and "public.customers.full_name" in allowed.stdout
    assert postgres.scratch_databases() == []


def test_failing_migration_shows_its_output(pg_target: TargetFactory, tmp_path: Path) -> None:
    target = pg_target()
    command = migration_file(tmp_path, "ALTER TABLE [nope] ADD COLUMN y int;\n")
    result = shipflow(
        "migration", "check", "--database-url", target.url(), "--", *command, env=actions_env(tmp_path)
    )
    assert result.returncode == 1
    assert "syntax error" in result.stdout  # the command's output, as text (no markup: [nope] kept)
    assert "[nope]" in result.stdout
    assert "the migration command failed (exited with 3)" in result.stderr
    assert "<summary>Command output</summary>" in read(tmp_path / "summary.md")


def test_usage_and_infrastructure_exit_codes(pg_target: TargetFactory, tmp_path: Path) -> None:
    env = actions_env(tmp_path)
    missing = shipflow("migration", "check", "--", "true", env=env)
    assert missing.returncode == 2 and "STAGING_DATABASE_URL" in missing.stderr
    no_command = shipflow("migration", "check", "--database-url", "postgresql://u@h/db", env=env)
    assert no_command.returncode == 2
    unreachable = shipflow(
        "migration",
        "check",
        "--database-url",
        f"postgresql://{MIGRATOR}:x@127.0.0.1:{free_port()}/db",
        "--",
        "true",
        env=env,
    )
    assert unreachable.returncode == 3
    assert "hint:" in unreachable.stderr and "server running" in unreachable.stderr


def _assert_no_sentinel(*texts: str) -> None:
    for text in texts:
        for sentinel in SENTINELS:
            assert sentinel not in text


@pytest.mark.parametrize("how", ["env", "flag"])
def test_the_password_never_appears(
    pg_target: TargetFactory, postgres: PostgresServer, tmp_path: Path, how: str
) -> None:
    target = pg_target()
    leaky = tmp_path / "leaky.sh"
    leaky.write_text(
        '#!/bin/sh\necho "url=$DATABASE_URL pw=$PGPASSWORD"\necho "url=$DATABASE_URL" >&2\n'
        'psql -X -q -v ON_ERROR_STOP=1 -c "$1"\n'
    )
    leaky.chmod(0o755)
    cases = {
        "compatible": (["ALTER TABLE orders ADD COLUMN a int"], {0}),
        "breaking": (["ALTER TABLE orders DROP COLUMN note"], {1}),
        "failed": (["SELECT 1/0"], {1}),
    }
    for name, (sql, codes) in cases.items():
        case_dir = tmp_path / name
        case_dir.mkdir()
        env = actions_env(case_dir)
        args = ["-vv", "migration", "check"]
        if how == "env":
            env["STAGING_DATABASE_URL"] = target.url()
        else:
            args += ["--database-url", target.url()]
        for extra in ([], ["--json"]):
            result = shipflow(*args, *extra, "--", str(leaky), *sql, env=env)
            assert result.returncode in codes, (name, result.stderr)
            assert "url=postgresql://***@127.0.0.1" in result.stdout + result.stderr, name
            _assert_no_sentinel(result.stdout, result.stderr)
        _assert_no_sentinel(read(tmp_path / name / "summary.md"), read(tmp_path / name / "outputs.txt"))
    # A refused login (a wrong sentinel password) says so without the password.
    wrong = "Wrong-Sentinel/7Qz:9x"
    refused = shipflow(
        "-vv", "migration", "check", "--database-url", target.url(password=wrong), "--", "true"
    )
    assert refused.returncode == 3
    assert "password authentication failed" in refused.stderr
    _assert_no_sentinel(refused.stdout, refused.stderr)
    assert wrong not in refused.stderr and quote(wrong, safe="") not in refused.stderr
    assert postgres.scratch_databases() == []


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return False


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_signal_while_the_migration_runs(
    pg_target: TargetFactory, postgres: PostgresServer, tmp_path: Path, signum: int, code: int
) -> None:
    target = pg_target()
    pidfile = tmp_path / "pid"
    env = actions_env(tmp_path, STAGING_DATABASE_URL=target.url())
    proc = subprocess.Popen(
        [str(SHIPFLOW), "migration", "check", "--", "sh", "-c", f"echo $$ > {pidfile}; exec sleep 120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not (pidfile.exists() and pidfile.read_text().strip()):
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "the migration command never started"
            time.sleep(0.05)
        assert len(postgres.scratch_databases()) == 1  # mid-run: the copy exists
        proc.send_signal(signum)
        try:
            assert proc.wait(timeout=120) == code
        except subprocess.TimeoutExpired:
            pytest.fail("shipflow did not end within 120 s of the signal; its stderr:\n" + "".join(lines))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        leftovers = postgres.scratch_databases()
        for name in leftovers:  # never let one failure here fail the tests after it
            postgres.drop_database(name)
    assert "the scratch database was dropped" in "".join(lines)
    assert not _pid_alive(int(pidfile.read_text()))
    assert postgres.scratch_databases() == []


def test_cleanup_command(pg_target: TargetFactory, postgres: PostgresServer) -> None:
    import psycopg
    from psycopg import sql

    target = pg_target()
    stale = "shipflow_scratch_20010101t000000_a1b2c3d4"
    with psycopg.connect(target.url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(stale)))
    try:
        listed = shipflow("migration", "cleanup", "--database-url", target.url(), "--dry-run", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [d["name"] for d in json.loads(listed.stdout)["dropped"]] == [stale]
        assert stale in postgres.scratch_databases()
        dropped = shipflow("migration", "cleanup", "--database-url", target.url())
        assert dropped.returncode == 0 and f"dropped {stale}" in dropped.stdout
        assert postgres.scratch_databases() == []
    finally:
        postgres.drop_database(stale)
