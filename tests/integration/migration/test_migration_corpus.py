"""The classifier on the real SQL migrations of tests/data/migrations, through the real command
path (psql -v ON_ERROR_STOP=1 -f FILE) against a real PostgreSQL 15.

Each migration runs twice: as the owner of the target (``auto`` picks the template copy, which
carries the rows) and as a role that may only read it (``auto`` falls back to pg_dump
--schema-only). After every run: the verdict and the exact set of changes are what the file
says, no scratch database is left, and the target's catalog and data are what they were.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.postgres import MIGRATOR, READER, PostgresServer, TargetDatabase
from fixtures.procs import require_binary
from shipflow.release.migration import check_migration

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[2] / "data" / "migrations"
MIGRATIONS = sorted(CORPUS.glob("*.sql"))
_CHANGE = re.compile(r"^-- change: (breaking|compatible) (\S+) (.+?)\s*$")


@dataclass(frozen=True)
class Expected:
    verdict: str
    changes: frozenset[tuple[str, str, str]]
    with_data: str | None


def expected(path: Path) -> Expected:
    text = path.read_text()
    verdict = re.search(r"^-- expect: (breaking|compatible|failed)\s*$", text, re.M)
    assert verdict is not None, f"{path.name} has no '-- expect:' line"
    changes = frozenset(m.groups() for line in text.splitlines() if (m := _CHANGE.match(line)))
    with_data = re.search(r"^-- with-data: (breaking|compatible|failed)\s*$", text, re.M)
    return Expected(verdict.group(1), changes, with_data.group(1) if with_data else None)


def test_the_corpus_is_large_and_covers_every_verdict() -> None:
    assert len(MIGRATIONS) >= 25
    verdicts = {expected(p).verdict for p in MIGRATIONS}
    assert verdicts == {"breaking", "compatible", "failed"}
    kinds = {kind for p in MIGRATIONS for _v, kind, _o in expected(p).changes}
    for kind in (
        "table.dropped",
        "table.renamed",
        "column.dropped",
        "column.renamed",
        "view.dropped",
        "enum.value_dropped",
        "enum.value_renamed",
        "column.type_changed",
        "column.not_null_added",
        "constraint.added",
        "table.added",
        "view.added",
        "index.added",
        "enum.value_added",
        "column.added",
        "column.not_null_dropped",
        "constraint.dropped",
    ):
        assert kind in kinds, f"no migration in the corpus produces {kind}"


@pytest.fixture(scope="module")
def corpus_target(postgres: PostgresServer) -> Iterator[tuple[TargetDatabase, tuple[str, dict[str, str]]]]:
    target = postgres.create_target()
    try:
        yield target, target.fingerprint()
    finally:
        postgres.drop_database(target.name)


@pytest.mark.parametrize(
    ("role", "copy_method"), [(MIGRATOR, "template"), (READER, "dump")], ids=["owner", "reader"]
)
@pytest.mark.parametrize("migration", MIGRATIONS, ids=[p.stem for p in MIGRATIONS])
def test_migration(
    migration: Path,
    role: str,
    copy_method: str,
    corpus_target: tuple[TargetDatabase, tuple[str, dict[str, str]]],
    postgres: PostgresServer,
) -> None:
    psql = require_binary("psql")
    target, fingerprint = corpus_target
    want = expected(migration)
    report = check_migration(
        target.url(role),
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(migration)],
        timeout=60,
    )
    assert report.copy_method == copy_method, report.copy_reason
    got = {(c.verdict.value, c.kind.value, c.object) for c in report.changes}
    verdict = want.with_data if (copy_method == "template" and want.with_data) else want.verdict
    if copy_method == "template" and want.with_data == "failed":
        assert (report.verdict, got) == ("failed", set()), report.result.output
    else:
        assert report.verdict == verdict, report.result.output
        assert got == set(want.changes), [c.to_json() for c in report.changes]
    if verdict == "failed":
        assert report.result.returncode != 0
        assert "ERROR" in report.result.output
    for change in report.changes:
        assert change.reason.strip().endswith("."), change
    assert report.scratch_dropped
    assert postgres.scratch_databases() == []
    assert target.fingerprint() == fingerprint, "the target database changed"
