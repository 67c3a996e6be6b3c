"""The example service, built by shipflow and run on this host as the ``local`` target will.

The image (FROM scratch + busybox) is built with ``build_image`` and run with ``buildah run
--isolation chroot --network host`` (tests/fixtures/example.py): it listens on the port in
``PORT``, answers /api/health with the version given at build time, passes its own smoke
tests, and its broken variants fail the way the demo's canary needs. Its SQL migrations run
against a real PostgreSQL (the shared ``postgres`` fixture).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
from pathlib import Path

import httpx
import pytest

from fixtures.example import EXAMPLE_DIR, ExampleRepo, run_image
from fixtures.postgres import TargetFactory
from fixtures.procs import free_port, port_open
from shipflow.build import BuildSettings, build_image

pytestmark = pytest.mark.slow


def build(repo: ExampleRepo, store: Path, tag: str, **args: str) -> str:
    build_image(
        BuildSettings(
            context=repo.path,
            image=f"oci:{store}",
            tags=(tag,),
            build_args={"VERSION": repo.version, "REVISION": repo.revision, **args},
        )
    )
    return f"oci:{store}:{tag}"


@pytest.fixture(scope="module")
def images(example_repo: ExampleRepo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    store = tmp_path_factory.mktemp("example-images") / "store"
    return {
        "good": build(example_repo, store, "good"),
        "failing": build(example_repo, store, "failing", FAIL_AFTER="2"),
        "degraded": build(example_repo, store, "degraded", HEALTH_MODE="degraded"),
    }


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=5)


def test_health_reports_the_built_version(
    images: dict[str, str], example_repo: ExampleRepo, tmp_path: Path
) -> None:
    port = free_port()
    with run_image(images["good"], tmp_path / "run", port=port) as service:
        health = get(f"{service.url}/api/health")
        assert health.status_code == 200
        assert health.headers["content-type"] == "application/json"
        assert health.json() == {"status": "ok", "version": "1.2.3"}
        assert get(f"{service.url}/api/version").json() == {
            "version": "1.2.3",
            "revision": example_repo.revision,
        }
        assert get(f"{service.url}/api/nope").status_code == 404
        assert "listening on port" in service.output()
    assert not port_open(port)  # stopping the service stopped its listener too


def test_smoke_tests_pass_and_catch_a_wrong_version(images: dict[str, str], tmp_path: Path) -> None:
    smoke = str(EXAMPLE_DIR / "scripts" / "smoke.sh")
    with run_image(images["good"], tmp_path / "run") as service:
        passed = subprocess.run(
            ["sh", smoke, service.url],
            env={**os.environ, "EXPECTED_VERSION": "1.2.3"},
            capture_output=True,
            text=True,
        )
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert "7 passed, 0 failed" in passed.stdout
        wrong = subprocess.run(
            ["sh", smoke, service.url],
            env={**os.environ, "EXPECTED_VERSION": "9.9.9"},
            capture_output=True,
            text=True,
        )
        assert wrong.returncode == 1
        assert "FAIL version is 9.9.9" in wrong.stdout


def test_smoke_tests_fail_when_nothing_answers() -> None:
    port = free_port()
    result = subprocess.run(
        ["sh", str(EXAMPLE_DIR / "scripts" / "smoke.sh"), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "0 passed, 6 failed" in result.stdout


def test_the_failing_variant_turns_unhealthy(images: dict[str, str], tmp_path: Path) -> None:
    with run_image(images["failing"], tmp_path / "run") as service:
        first = get(f"{service.url}/api/health")
        assert first.status_code == 200 and first.json()["status"] == "ok"
        time.sleep(2.5)
        later = get(f"{service.url}/api/health")
        assert later.status_code == 503
        assert later.json() == {"status": "failing", "version": "1.2.3"}
        assert get(f"{service.url}/api/billing/total?net=100&vat=19").status_code == 200  # only health fails


def test_the_degraded_variant_says_so(images: dict[str, str], tmp_path: Path) -> None:
    with run_image(images["degraded"], tmp_path / "run") as service:
        health = get(f"{service.url}/api/health")
        assert health.status_code == 200
        assert health.json() == {"status": "degraded", "version": "1.2.3"}


def test_a_silent_client_does_not_block_others(images: dict[str, str], tmp_path: Path) -> None:
    with run_image(images["good"], tmp_path / "run") as service:
        silent = socket.create_connection(("127.0.0.1", service.port), timeout=5)
        try:  # connected, sends nothing; the next request is served by another process
            assert get(f"{service.url}/api/health").status_code == 200
        finally:
            silent.close()


def test_an_invalid_port_is_refused(images: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="PORT must be a number"):  # noqa: SIM117
        with run_image(images["good"], tmp_path / "run", env={"PORT": "eighty"}, timeout=10):
            pass


# --- migrations against a real PostgreSQL --------------------------------------------------


@pytest.fixture
def postgres_url(pg_target: TargetFactory) -> str:
    """An empty database on the shared PostgreSQL fixture (its owner's password has URL-special
    characters: the script must pass the URL through to psql untouched)."""
    return str(pg_target("SELECT 1").url())


def psql(url: str, sql: str) -> str:
    return subprocess.run(
        ["psql", url, "-XAt", "-c", sql], capture_output=True, text=True, check=True
    ).stdout.strip()


def migrate(url: str, migrations: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = ["sh", str(EXAMPLE_DIR / "scripts" / "migrate.sh")] + ([str(migrations)] if migrations else [])
    return subprocess.run(
        argv, env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True, timeout=60
    )


def test_migrations_apply_in_order_once(postgres_url: str) -> None:
    first = migrate(postgres_url)
    assert first.returncode == 0, first.stderr
    assert "3 applied" in first.stdout
    assert psql(postgres_url, "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations") == (
        "001_properties,002_tenants,003_invoices"
    )
    columns = psql(
        postgres_url,
        "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM "
        "information_schema.columns WHERE table_name = 'properties'",
    )
    assert columns == "id,street,postcode,city,created_at,country"
    again = migrate(postgres_url)
    assert again.returncode == 0 and "0 applied" in again.stdout


def test_a_failing_migration_leaves_nothing_behind(postgres_url: str, tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    shutil.copytree(EXAMPLE_DIR / "migrations", migrations)
    (migrations / "004_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nALTER TABLE no_such_table ADD COLUMN x int;\n"
    )
    assert migrate(postgres_url).returncode == 0  # 001-003 in place (idempotent: maybe already)
    result = migrate(postgres_url, migrations)
    assert result.returncode == 1
    assert "004_broken FAILED" in result.stderr
    assert psql(postgres_url, "SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'") == "0"
    assert psql(postgres_url, "SELECT count(*) FROM schema_migrations WHERE version = '004_broken'") == "0"


def test_migrate_without_a_database_is_a_usage_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        ["sh", str(EXAMPLE_DIR / "scripts" / "migrate.sh")], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "DATABASE_URL" in result.stderr


def test_the_image_carries_its_migrations(images: dict[str, str]) -> None:
    from shipflow.oci.digest import Digest
    from shipflow.oci.layout import LayoutStore

    layout, _, tag = images["good"].removeprefix("oci:").rpartition(":")
    store = LayoutStore(Path(layout))
    manifest = json.loads(store.get_manifest(tag).data)
    names: set[str] = set()
    for layer in manifest["layers"]:
        with store.open_blob(Digest.parse(layer["digest"])) as chunks:
            blob = b"".join(chunks)
        with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
            names |= {m.name.removeprefix("./") for m in tar.getmembers()}
    assert {"app/migrations/001_properties.sql", "app/migrate.sh", "app/server.sh", "bin/busybox"} <= names
    assert not any(name.startswith("app/prepare.sh") or name == "busybox" for name in names)
