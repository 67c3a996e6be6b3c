"""Promotion by digest on an OCI layout (the embedded default): the rules, the refusals (each
leaves the target tag unchanged), approvals, records, the chain check, idempotence, dry runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipflow.errors import (
    ConfigError,
    GateFailed,
    ManifestNotFound,
    PromotionRefused,
    UsageError,
    VerificationError,
)
from shipflow.oci.digest import Digest
from shipflow.release.approvals import approve
from shipflow.release.gates import trusted_policy
from shipflow.release.history import current_digest, history
from shipflow.release.promote import Pipeline, PromotionRequest, promote, resolve_actor
from shipflow.release.records import verify_chain
from shipflow.signing import sign
from support.pipeline import PipelineDir, make_pipeline_dir, push_image, signed_image

CI = "github-actions[bot]"


@pytest.fixture
def made(tmp_path: Path) -> PipelineDir:
    return make_pipeline_dir(tmp_path, "oci:./store")


@pytest.fixture
def pipeline(made: PipelineDir) -> Pipeline:
    return made.pipeline()


def run(
    made: PipelineDir, pipeline: Pipeline, digest: Digest, source: str | None, target: str, actor: str
) -> str:
    result = promote(
        pipeline, PromotionRequest(digest, source, target, actor), signer=made.keys["ci"], environ={}
    )
    return result.status


def to_production(made: PipelineDir, pipeline: Pipeline, digest: Digest) -> None:
    assert run(made, pipeline, digest, None, "dev", CI) == "promoted"
    assert run(made, pipeline, digest, "dev", "staging", "dev-1") == "promoted"
    assert run(made, pipeline, digest, "staging", "canary", "lead-1") == "promoted"
    approve(pipeline.store, digest, "production", made.keys["lead-2"], approver="lead-2", subject_name="app")
    assert run(made, pipeline, digest, "canary", "production", "lead-1") == "promoted"


def test_the_full_chain_moves_one_digest_and_records_every_stage(
    made: PipelineDir, pipeline: Pipeline
) -> None:
    digest = signed_image(pipeline, made.keys["ci"], "v1")
    to_production(made, pipeline, digest)
    for env in ("dev", "staging", "canary", "production"):
        assert current_digest(pipeline.store, env) == digest
    chain = [(pipeline.config.environment(e).source, e) for e in pipeline.config.chain_to("production")]
    links = verify_chain(pipeline.store, digest, chain, trusted_policy(pipeline.config.record_keys))
    assert [link.environment for link in links] == ["dev", "staging", "canary", "production"]
    production = history(pipeline.store, "production")
    assert len(production) == 1 and production[0].digest == digest and production[0].actor == "lead-1"
    gates = {g["gate"]: g["status"] for g in production[0].gates}
    assert gates == {"signature": "passed", "approvals": "passed"}


def test_promoting_again_changes_nothing(made: PipelineDir, pipeline: Pipeline) -> None:
    digest = signed_image(pipeline, made.keys["ci"], "v1")
    assert run(made, pipeline, digest, None, "dev", CI) == "promoted"
    tags_before = sorted(pipeline.store.list_tags())
    assert run(made, pipeline, digest, None, "dev", CI) == "already-promoted"
    assert sorted(pipeline.store.list_tags()) == tags_before


def test_dry_run_runs_the_gates_and_changes_nothing(made: PipelineDir, pipeline: Pipeline) -> None:
    digest = signed_image(pipeline, made.keys["ci"], "v1")
    tags_before = sorted(pipeline.store.list_tags())
    result = promote(
        pipeline, PromotionRequest(digest, None, "dev", CI, dry_run=True), signer=None, environ={}
    )
    assert result.status == "dry-run" and result.evidence[0].gate == "signature"
    assert sorted(pipeline.store.list_tags()) == tags_before


def refused(made: PipelineDir, pipeline: Pipeline, request: PromotionRequest) -> PromotionRefused:
    before = current_digest(pipeline.store, request.target)
    with pytest.raises(PromotionRefused) as failure:
        promote(pipeline, request, signer=made.keys["ci"], environ={})
    assert failure.value.exit_code == 1 and failure.value.hint
    assert current_digest(pipeline.store, request.target) == before, "a refusal moved the target tag"
    return failure.value


def test_a_path_not_in_the_config_is_refused_naming_the_allowed_ones(
    made: PipelineDir, pipeline: Pipeline
) -> None:
    digest = signed_image(pipeline, made.keys["ci"], "v1")
    run(made, pipeline, digest, None, "dev", CI)
    error = refused(made, pipeline, PromotionRequest(digest, "dev", "production", "lead-1"))
    assert "dev → production is not an allowed path" in error.message
    assert error.hint is not None and "canary → production" in error.hint


def test_a_skipped_stage_is_refused(made: PipelineDir, pipeline: Pipeline) -> None:
    digest = signed_image(pipeline, made.keys["ci"], "v1")
    run(made, pipeline, digest, None, "dev", CI)
    error = refused(made, pipeline, PromotionRequest(digest, "staging", "canary", "lead-1"))
    assert "is not in staging" in error.message and "no verified promotion record" in error.message


def test_a_digest_never_in_the_source_is_refused(made: PipelineDir, pipeline: Pipeline) -> None:
    first = signed_image(pipeline, made.keys["ci"], "v1")
    other = signed_image(pipeline, made.keys["ci"], "v2")
    run(made, pipeline, first, None, "dev", CI)
    error = refused(made, pipeline, PromotionRequest(other, "dev", "staging", "dev-1"))
    assert f"dev holds {first}" in error.message


def test_a_record_into_the_source_lets_a_digest_through_after_the_tag_moved(
    made: PipelineDir, pipeline: Pipeline
) -> None:
    first = signed_image(pipeline, made.keys["ci"], "v1")
    second = signed_image(pipeline, made.keys["ci"], "v2")
    run(made, pipeline, first, None, "dev", CI)
    run(made, pipeline, second, None, "dev", CI)  # dev moved on; v1 still has its record into dev
    assert run(made, pipeline, first, "dev", "staging", "dev-1") == "promoted"


def test_a_wrong_role_is_refused(made: PipelineDir, pipeline: Pipeline) -> None:
    digest = signed_image(pipeline, made.keys["ci"], "v1")
    run(made, pipeline, digest, None, "dev", CI)
    error = refused(made, pipeline, PromotionRequest(digest, "dev", "staging", "lead-1"))
    assert "needs role developer" in error.message
    error = refused(made, pipeline, PromotionRequest(digest, "dev", "staging", "stranger"))
    assert "has no role" in error.message


def test_unsigned_and_untrusted_images_never_move(made: PipelineDir, pipeline: Pipeline) -> None:
    unsigned = push_image(pipeline.store, "unsigned")
    error = refused(made, pipeline, PromotionRequest(unsigned, None, "dev", CI))
    assert "signature gate failed" in error.message and "has no signatures" in error.message
    untrusted = push_image(pipeline.store, "untrusted")
    sign(pipeline.store, untrusted, made.keys["outsider"], reference=pipeline.name)
    error = refused(made, pipeline, PromotionRequest(untrusted, None, "dev", CI))
    assert "no valid signature" in error.message
    assert isinstance(error.__cause__, GateFailed)


def test_approvals_count_only_listed_approvers_with_their_own_keys(
    made: PipelineDir, pipeline: Pipeline
) -> None:
    digest = signed_image(pipeline, made.keys["ci"], "v1")
    run(made, pipeline, digest, None, "dev", CI)
    run(made, pipeline, digest, "dev", "staging", "dev-1")
    run(made, pipeline, digest, "staging", "canary", "lead-1")
    store = pipeline.store
    request = PromotionRequest(digest, "canary", "production", "lead-1")

    error = refused(made, pipeline, request)
    assert "0 of 1 approval(s)" in error.message
    # Self-approval: lead-1 approves and promotes.
    approve(store, digest, "production", made.keys["lead-1"], approver="lead-1", subject_name="app")
    error = refused(made, pipeline, request)
    assert "no self-approval" in error.message
    # An outsider's key, in a listed approver's name; and an unlisted approver.
    approve(store, digest, "production", made.keys["outsider"], approver="lead-2", subject_name="app")
    approve(store, digest, "production", made.keys["outsider"], approver="mallory", subject_name="app")
    # A listed key signing in the other listed approver's name.
    approve(store, digest, "production", made.keys["lead-1"], approver="lead-2", subject_name="app")
    # An approval of the same digest for another environment.
    approve(store, digest, "canary", made.keys["lead-2"], approver="lead-2", subject_name="app")
    error = refused(made, pipeline, request)
    assert "0 of 1 approval(s)" in error.message
    result = error.result
    evidence = {e.gate: e for e in result.evidence}  # type: ignore[attr-defined]
    reasons = " | ".join(i["reason"] for i in evidence["approvals"].details["ignored"])
    assert "another" in reasons and "no self-approval" in reasons
    # The real one.
    approve(store, digest, "production", made.keys["lead-2"], approver="lead-2", subject_name="app")
    assert run(made, pipeline, digest, "canary", "production", "lead-1") == "promoted"


def test_two_approvals_need_two_distinct_approvers(made: PipelineDir, pipeline: Pipeline) -> None:
    made.write_config()
    text = made.config_path.read_text().replace("approvals: 1", "approvals: 2")
    made.config_path.write_text(text)
    pipeline = made.pipeline()
    digest = signed_image(pipeline, made.keys["ci"], "v1")
    for source, target, actor in (
        (None, "dev", CI),
        ("dev", "staging", "dev-1"),
        ("staging", "canary", "lead-1"),
    ):
        run(made, pipeline, digest, source, target, actor)
    for _ in range(3):  # the same approver three times is one approval
        approve(
            pipeline.store, digest, "production", made.keys["lead-2"], approver="lead-2", subject_name="a"
        )
    error = refused(made, pipeline, PromotionRequest(digest, "canary", "production", "dev-1"))
    assert "needs role tech-lead" in error.message
    error = refused(made, pipeline, PromotionRequest(digest, "canary", "production", "lead-1"))
    assert "1 of 2 approval(s)" in error.message


def test_a_missing_image_and_a_missing_key(made: PipelineDir, pipeline: Pipeline) -> None:
    with pytest.raises(ManifestNotFound):
        promote(
            pipeline,
            PromotionRequest(Digest.of(b"nothing"), None, "dev", CI),
            signer=made.keys["ci"],
            environ={},
        )
    digest = signed_image(pipeline, made.keys["ci"], "v1")
    with pytest.raises(UsageError, match="no signing key"):
        promote(pipeline, PromotionRequest(digest, None, "dev", CI), signer=None, environ={})
    with pytest.raises(ConfigError, match="no environment 'qa'"):
        promote(pipeline, PromotionRequest(digest, None, "qa", CI), signer=made.keys["ci"], environ={})


def test_records_signed_by_an_untrusted_key_do_not_prove_a_stage(
    made: PipelineDir, pipeline: Pipeline
) -> None:
    digest = signed_image(pipeline, made.keys["ci"], "v1")
    promote(pipeline, PromotionRequest(digest, None, "dev", CI), signer=made.keys["outsider"], environ={})
    pipeline.store.tag(push_image(pipeline.store, "other"), "dev")  # dev moves on
    error = refused(made, pipeline, PromotionRequest(digest, "dev", "staging", "dev-1"))
    assert "no verified promotion record" in error.message
    with pytest.raises(VerificationError, match="no verified promotion record for build → dev"):
        verify_chain(pipeline.store, digest, [(None, "dev")], trusted_policy(pipeline.config.record_keys))


def test_actor_resolution() -> None:
    assert resolve_actor("dev-1", {}) == "dev-1"
    assert resolve_actor(None, {"GITHUB_ACTOR": "octocat"}) == "octocat"
    with pytest.raises(UsageError, match="differs from GITHUB_ACTOR"):
        resolve_actor("lead-1", {"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octocat"})
    with pytest.raises(UsageError, match="who is promoting"):
        resolve_actor(None, {})
