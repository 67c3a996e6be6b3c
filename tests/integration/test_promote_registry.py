"""Promotion against the real registry (CNCF distribution 2.8): the whole chain for one digest
with its gates, request counts, the registry's own access log showing that no image blob moves
after the first push, smoke commands that fail or hang (real processes), and two promotions
racing on one environment (two real processes)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.registry import Registry
from shipflow.errors import PromotionRefused
from shipflow.gate import GateStatus
from shipflow.oci.digest import Digest
from shipflow.oci.reference import parse_reference
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import RegistryConfig
from shipflow.oci.registry.credentials import Credentials
from shipflow.oci.registry.store import RegistryStore
from shipflow.release.approvals import approve
from shipflow.release.config import load_config
from shipflow.release.history import current_digest, history
from shipflow.release.promote import Pipeline, PromotionRequest, promote
from support.pipeline import PipelineDir, make_pipeline_dir, push_image, signed_image
from support.registry import CountingTransport

CI = "github-actions[bot]"


_CLIENTS: list[RegistryClient] = []


def counted_pipeline(made: PipelineDir, registry: Registry) -> tuple[Pipeline, CountingTransport]:
    """The pipeline of ``made``, on a registry client whose every request is counted."""
    transport = CountingTransport()
    config = load_config(made.config_path)
    ref = parse_reference(config.image)
    client = RegistryClient(registry.host, RegistryConfig(), transport=transport, credentials=Credentials())
    _CLIENTS.append(client)
    return Pipeline(config, RegistryStore(client, ref.repository), ref), transport


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


@pytest.fixture
def made(tmp_path: Path, registry: Registry, repo_name: str) -> PipelineDir:
    return make_pipeline_dir(tmp_path, f"{registry.host}/{repo_name}")


def _upload_lines(registry: Registry, repo_name: str, start: int) -> list[str]:
    lines = registry.log.read_text(errors="replace").splitlines()[start:]
    return [line for line in lines if f"/v2/{repo_name}/blobs/uploads" in line and '"PUT ' in line]


def test_full_chain_on_the_registry_moves_no_image_blob(
    made: PipelineDir, registry: Registry, repo_name: str
) -> None:
    made.write_config(
        staging_gates=", smoke",
        gates="gates:\n  smoke: {command: [sh, -c, "
        '\'test "$SHIPFLOW_ENV" = staging && test -n "$SHIPFLOW_DIGEST"\']}\n',
    )
    pipeline, transport = counted_pipeline(made, registry)
    digest = signed_image(pipeline, made.keys["ci"], "v1")
    manifest = pipeline.store.get_manifest(str(digest)).as_manifest()
    image_blobs = {str(d.digest) for d in [manifest.config, *manifest.layers]}
    log_start = len(registry.log.read_text(errors="replace").splitlines())

    steps = [(None, "dev", CI), ("dev", "staging", "dev-1"), ("staging", "canary", "lead-1")]
    approve(pipeline.store, digest, "production", made.keys["lead-2"], approver="lead-2", subject_name="app")
    steps.append(("canary", "production", "lead-1"))
    counts: list[tuple[int, int]] = []
    for source, target, actor in steps:
        transport.exchanges.clear()
        result = promote(
            pipeline,
            PromotionRequest(digest, source, target, actor),
            signer=made.keys["ci"],
            environ=dict(os.environ),
        )
        assert result.status == "promoted"
        assert all(e.status is GateStatus.PASSED for e in result.evidence)
        # Everything up to the read-back of the new tag is the checks and the retag; after it,
        # the record and the history entry.
        paths = [(x.method, x.path) for x in transport.exchanges]
        retag = paths.index(("PUT", f"/v2/{repo_name}/manifests/{target}"))
        counts.append((retag + 2, len(paths) - retag - 2))
        # One manifest PUT under the target tag, of the digest's own bytes.
        assert sum(1 for m, p in paths if m == "PUT" and p.endswith(f"/manifests/{target}")) == 1
    for env in ("dev", "staging", "canary", "production"):
        assert current_digest(pipeline.store, env) == digest
    uploads = _upload_lines(registry, repo_name, log_start)
    assert uploads, "records and history entries are uploaded as small blobs"
    assert not [line for line in uploads if any(blob in line for blob in image_blobs)], "an image blob moved"
    # The checks and the retag stay within the budget (approvals read more facts).
    assert all(checks <= 10 for checks, _ in counts), counts


def test_a_failing_and_a_hanging_smoke_command(made: PipelineDir, registry: Registry, tmp_path: Path) -> None:
    marker = f"shipflow-smoke-{os.getpid()}-{time.monotonic_ns()}"
    made.write_config(
        staging_gates=", smoke",
        gates=f"gates:\n  smoke: {{command: [sh, -c, 'echo starting; sleep 300 & sleep 301 # {marker}'], "
        "timeout: 1}\n",
    )
    pipeline, _ = counted_pipeline(made, registry)
    digest = signed_image(pipeline, made.keys["ci"], "v1")
    promote(pipeline, PromotionRequest(digest, None, "dev", CI), signer=made.keys["ci"], environ={})
    started = time.monotonic()
    with pytest.raises(PromotionRefused) as hung:
        promote(
            pipeline, PromotionRequest(digest, "dev", "staging", "dev-1"), signer=made.keys["ci"], environ={}
        )
    assert time.monotonic() - started < 60
    assert "timed out" in hung.value.message
    survivors = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False).stdout
    assert not survivors.strip(), f"the smoke command's process group outlived its gate: {survivors}"
    assert current_digest(pipeline.store, "staging") is None

    made.write_config(
        staging_gates=", smoke", gates="gates:\n  smoke: {command: [sh, -c, 'echo broken >&2; exit 7']}\n"
    )
    pipeline, _ = counted_pipeline(made, registry)
    with pytest.raises(PromotionRefused) as failed:
        promote(
            pipeline, PromotionRequest(digest, "dev", "staging", "dev-1"), signer=made.keys["ci"], environ={}
        )
    assert "smoke command exited with 7" in failed.value.message
    evidence = failed.value.result.evidence[-1]  # type: ignore[attr-defined]
    assert evidence.details["command"]["exit"] == 7 and "broken" in evidence.details["command"]["outputTail"]
    assert current_digest(pipeline.store, "staging") is None


def test_keep_going_reports_every_failing_gate(made: PipelineDir, registry: Registry) -> None:
    made.write_config(
        staging_gates=", smoke, contract",
        gates="gates:\n  smoke: {command: [sh, -c, 'exit 3']}\n  contract: {command: [sh, -c, 'exit 4']}\n",
    )
    pipeline, _ = counted_pipeline(made, registry)
    digest = signed_image(pipeline, made.keys["ci"], "v1")
    promote(pipeline, PromotionRequest(digest, None, "dev", CI), signer=made.keys["ci"], environ={})
    with pytest.raises(PromotionRefused) as stopped:
        promote(
            pipeline, PromotionRequest(digest, "dev", "staging", "dev-1"), signer=made.keys["ci"], environ={}
        )
    assert [e.gate for e in stopped.value.result.evidence] == ["signature", "smoke"]  # type: ignore[attr-defined]
    request = PromotionRequest(digest, "dev", "staging", "dev-1", keep_going=True)
    with pytest.raises(PromotionRefused) as all_run:
        promote(pipeline, request, signer=made.keys["ci"], environ={})
    evidence = all_run.value.result.evidence  # type: ignore[attr-defined]
    assert [(e.gate, e.status) for e in evidence] == [
        ("signature", GateStatus.PASSED),
        ("smoke", GateStatus.FAILED),
        ("contract", GateStatus.FAILED),
    ]
    assert evidence[1].details["command"]["exit"] == 3 and evidence[2].details["command"]["exit"] == 4


_RACER = """
import os, sys
from pathlib import Path
from shipflow.oci.digest import Digest
from shipflow.release.promote import Pipeline, PromotionRequest, promote
from shipflow.signing.keys import load_private_key
from shipflow.errors import ShipflowError
pipeline = Pipeline.load(Path(sys.argv[1]))
key = load_private_key(Path(sys.argv[2]).read_bytes(), sys.argv[3].encode())
ready, go = Path(sys.argv[5]), Path(sys.argv[6])
ready.touch()
while not go.exists():
    pass
try:
    result = promote(pipeline, PromotionRequest(Digest.parse(sys.argv[4]), "dev", "staging", "dev-1"),
                     signer=key, environ={})
    print("promoted", result.history)
except ShipflowError as exc:
    print("refused", exc.exit_code, exc.message)
"""


def test_two_promotions_racing_on_one_environment_lose_no_entry(
    made: PipelineDir, registry: Registry, tmp_path: Path
) -> None:
    from support.pipeline import PASSWORD

    pipeline, _ = counted_pipeline(made, registry)
    first = signed_image(pipeline, made.keys["ci"], "v1")
    second = signed_image(pipeline, made.keys["ci"], "v2")
    for digest in (first, second):
        promote(pipeline, PromotionRequest(digest, None, "dev", CI), signer=made.keys["ci"], environ={})
    go = tmp_path / "go"
    procs = []
    for i, digest in enumerate((first, second)):
        args = [
            str(made.config_path),
            str(made.key_file("ci")),
            PASSWORD,
            str(digest),
            str(tmp_path / f"r{i}"),
            str(go),
        ]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _RACER, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"r{i}").exists() for i in range(2)) and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()
    outputs = [p.communicate(timeout=120) for p in procs]
    lines = [out.strip() for out, _ in outputs]
    assert all(line.startswith(("promoted", "refused 3")) for line in lines), outputs
    entries = history(pipeline.store, "staging")
    promoted = [line for line in lines if line.startswith("promoted")]
    # Every promotion that said it promoted has its entry; none was lost or invented.
    assert len(entries) == len(promoted) >= 1
    recorded = {e.ref.tag for e in entries if e.ref is not None}
    assert recorded == {line.split()[1] for line in promoted}
    # The tag holds the digest of one of them, and status names it.
    assert current_digest(pipeline.store, "staging") in {first, second}


def test_an_unknown_digest_is_not_found(made: PipelineDir, registry: Registry) -> None:
    pipeline, _ = counted_pipeline(made, registry)
    push_image(pipeline.store, "present")
    from shipflow.errors import ManifestNotFound

    with pytest.raises(ManifestNotFound):
        promote(
            pipeline, PromotionRequest(Digest.of(b"x"), None, "dev", CI), signer=made.keys["ci"], environ={}
        )
