"""Every gate on, against real services: the full chain dev → staging → canary → production for
one digest, on the real registry and on the OCI layout, with the signature, a re-scan against
an advisory DB, the migration dry run on a real PostgreSQL, smoke and contract commands, and a
signed approval. Then the refusals that need real services: a vulnerable image, a breaking
migration, a migration that errors; each leaves the target tag as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.postgres import TargetFactory
from fixtures.registry import Registry
from shipflow.errors import PromotionRefused
from shipflow.gate import GateStatus
from shipflow.oci import mediatypes as mt
from shipflow.oci.digest import Digest
from shipflow.oci.models import ManifestBytes
from shipflow.oci.store import Store
from shipflow.release.approvals import approve
from shipflow.release.history import current_digest
from shipflow.release.promote import Pipeline, PromotionRequest, promote
from shipflow.scan import import_paths
from shipflow.signing import sign
from support.paths import DATA_DIR
from support.pipeline import PipelineDir, make_pipeline_dir
from support.sbom import TarBuilder, compress

CI = "github-actions[bot]"

GATES = """\
gates:
  vulnerabilities: {{fail_on: [CRITICAL, HIGH], db: advisories.db}}
  migration: {{database_url: "${{TEST_DATABASE_URL}}", command: [psql, -v, ON_ERROR_STOP=1, -f, {migration}]}}
  smoke: {{command: [sh, -c, 'test "$SHIPFLOW_ENV" = "$EXPECTED_ENV"'], timeout: 30}}
  contract: {{command: [sh, -c, 'echo contract ok for $SHIPFLOW_REF']}}
"""


def node_image(store: Store, lodash: str) -> Digest:
    """An image with one npm package installed (lodash at ``lodash``)."""
    package = json.dumps({"name": "lodash", "version": lodash, "license": "MIT"}).encode()
    layer, media_type = compress(
        TarBuilder().file("app/node_modules/lodash/package.json", package).bytes(), "gzip"
    )
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    )
    blobs = [layer, config.encode()]
    for blob in blobs:
        store.put_blob(Digest.of(blob), len(blob), [blob])
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": str(Digest.of(blobs[1])), "size": len(blobs[1])},
        "layers": [{"mediaType": media_type, "digest": str(Digest.of(layer)), "size": len(layer)}],
    }
    return store.put_manifest(ManifestBytes.create(json.dumps(manifest).encode(), mt.OCI_MANIFEST))


def configure(made: PipelineDir, migration_sql: str) -> Pipeline:
    (made.root / "migration.sql").write_text(migration_sql)
    import_paths([DATA_DIR / "osv" / "records"], made.root / "advisories.db")
    made.write_config(
        staging_gates=", vulnerabilities, migration, smoke, contract",
        canary_gates=", migration",
        gates=GATES.format(migration="migration.sql"),
    )
    return made.pipeline()


@pytest.fixture(params=["registry", "layout"])
def made(request: pytest.FixtureRequest, tmp_path: Path, repo_name: str) -> PipelineDir:
    if request.param == "registry":
        registry: Registry = request.getfixturevalue("registry")
        return make_pipeline_dir(tmp_path, f"{registry.host}/{repo_name}")
    return make_pipeline_dir(tmp_path, "oci:./store")


COMPATIBLE = "ALTER TABLE customers ADD COLUMN middle_name text;\nCREATE INDEX ON customers (middle_name);\n"


def test_the_full_chain_with_every_gate(made: PipelineDir, pg_target: TargetFactory) -> None:
    target = pg_target()
    fingerprint = target.fingerprint()
    pipeline = configure(made, COMPATIBLE)
    digest = node_image(pipeline.store, "4.17.21")
    sign(pipeline.store, digest, made.keys["ci"], reference=pipeline.name)
    env = {"TEST_DATABASE_URL": target.url()}
    steps = [(None, "dev", CI), ("dev", "staging", "dev-1"), ("staging", "canary", "lead-1")]
    for source, env_name, actor in steps:
        environ = {**env, "EXPECTED_ENV": env_name, "PATH": "/usr/bin:/bin"}
        result = promote(
            pipeline,
            PromotionRequest(digest, source, env_name, actor),
            signer=made.keys["ci"],
            environ=environ,
        )
        assert result.status == "promoted", result.reason
        assert all(e.status is GateStatus.PASSED for e in result.evidence)
    staging = {e.gate: e for e in promote_evidence(pipeline, digest, "staging")}
    assert set(staging) == {"signature", "vulnerabilities", "migration", "smoke", "contract"}
    assert staging["vulnerabilities"].details["packagesScanned"] == 1
    assert staging["vulnerabilities"].inputs["advisoryDb"].startswith("sha256:")
    changes = staging["migration"].details["changes"]
    assert {c["verdict"] for c in changes} == {"compatible"} and len(changes) >= 2
    approve(pipeline.store, digest, "production", made.keys["lead-2"], approver="lead-2", subject_name="app")
    final = promote(
        pipeline,
        PromotionRequest(digest, "canary", "production", "lead-1"),
        signer=made.keys["ci"],
        environ={},
    )
    assert final.status == "promoted"
    for env_name in ("dev", "staging", "canary", "production"):
        assert current_digest(pipeline.store, env_name) == digest
    assert target.fingerprint() == fingerprint, "the migration dry run wrote to the target database"


def promote_evidence(pipeline: Pipeline, digest: Digest, env_name: str) -> list:  # type: ignore[type-arg]
    from shipflow.gate import Evidence
    from shipflow.release.gates import trusted_policy
    from shipflow.release.records import find_record

    record = find_record(pipeline.store, digest, env_name, trusted_policy(pipeline.config.record_keys))
    assert record is not None
    return [Evidence.from_json(g) for g in record.predicate["gates"]]


@pytest.mark.parametrize(
    ("lodash", "migration_sql", "expected"),
    [
        ("4.17.15", COMPATIBLE, "vulnerabilities gate failed: 2 finding(s) at CRITICAL,HIGH"),
        ("4.17.21", "ALTER TABLE customers DROP COLUMN email;\n", "migration gate failed"),
        ("4.17.21", "ALTER TABLE no_such_table ADD COLUMN x int;\n", "migration gate failed"),
    ],
    ids=["vulnerable-image", "breaking-migration", "migration-errors"],
)
def test_refusals_that_need_real_services(
    made: PipelineDir, pg_target: TargetFactory, lodash: str, migration_sql: str, expected: str
) -> None:
    target = pg_target()
    pipeline = configure(made, migration_sql)
    digest = node_image(pipeline.store, lodash)
    sign(pipeline.store, digest, made.keys["ci"], reference=pipeline.name)
    promote(pipeline, PromotionRequest(digest, None, "dev", CI), signer=made.keys["ci"], environ={})
    environ = {"TEST_DATABASE_URL": target.url(), "EXPECTED_ENV": "staging", "PATH": "/usr/bin:/bin"}
    with pytest.raises(PromotionRefused) as refused:
        promote(
            pipeline,
            PromotionRequest(digest, "dev", "staging", "dev-1"),
            signer=made.keys["ci"],
            environ=environ,
        )
    assert expected in refused.value.message, refused.value.message
    assert current_digest(pipeline.store, "staging") is None
