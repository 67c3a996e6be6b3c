"""A whole pipeline on a real registry, for the fault, secret and concurrency tests of this tier.

A :class:`World` is one repository of the session's CNCF registry with:

* keys made by shipflow in cosign's format (``support.pipeline``: CI, two approvers, an outsider);
* a ``shipflow.yaml`` whose ``image`` names the repository *through a fault proxy*
  (``fixtures.faults``), so every command a test runs goes through the faults it sets; a
  ``canary:`` section whose health URL and webhook are real HTTP servers, each behind a fault
  proxy of its own (:class:`Endpoints`);
* a direct store (no proxy) to set the scene and to read the state back: the registry is
  asked itself what each tag names, whether every blob of it is there and hashes right, and
  what the ledger holds.

Commands run through the real ``shipflow`` entry point in this process (``support.cli``), with
short registry timeouts so a stall costs seconds, not minutes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from fixtures.canary_services import CanaryService, WebhookReceiver
from fixtures.faults import FaultProxy, FaultProxyFactory
from fixtures.registry import Registry
from shipflow.oci.digest import Digest
from shipflow.oci.reference import parse_reference
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import RegistryConfig
from shipflow.oci.registry.credentials import Credentials
from shipflow.oci.registry.store import RegistryStore
from shipflow.release._ledger import list_facts
from shipflow.release.canary.pipeline import LedgerHistory
from shipflow.release.config import load_config
from shipflow.release.gates import trusted_policy
from shipflow.release.history import HistoryEntry, history, record_entry
from shipflow.release.promote import Pipeline, PromotionRequest, promote
from shipflow.release.records import find_record
from shipflow.signing import sign
from support.cli import InProcessCli
from support.pipeline import PASSWORD, PipelineDir, make_pipeline_dir, push_image

CI = "github-actions[bot]"
ENVIRONMENTS = ("dev", "staging", "canary", "production")
ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)

# Registry settings of every command run here: a stall is given up after 2 s, a whole
# operation after 8 s, three attempts. A slow drip (1 byte/s) is cut by the 8 s deadline.
FAST_REGISTRY = {
    "SHIPFLOW_REGISTRY_READ_TIMEOUT": "2",
    "SHIPFLOW_REGISTRY_CONNECT_TIMEOUT": "2",
    "SHIPFLOW_REGISTRY_TIMEOUT": "8",
    "SHIPFLOW_REGISTRY_MAX_ATTEMPTS": "3",
}

CONFIG = """\
image: {image}
keys:
  trusted: [keys/ci.pub]
roles:
  ci: ["github-actions[bot]"]
  developer: [dev-1]
  tech-lead: [lead-1, lead-2]
approvers:
  lead-1: keys/lead-1.pub
  lead-2: keys/lead-2.pub
environments:
  dev:        {{promoted_by: [ci]}}
  staging:    {{from: dev,     promoted_by: [developer], gates: [signature]}}
  canary:     {{from: staging, promoted_by: [tech-lead], gates: [signature]}}
  production: {{from: canary,  promoted_by: [tech-lead], gates: [signature, approvals], approvals: 1}}
canary:
  health_url: "{health}"
  interval: 400ms
  duration: 1200ms
  timeout: 350ms
  failure_threshold: 3
  recovery_timeout: 6s
  expect: {{status: 200, json: {{status: ok}}}}
  notify: {{webhook: "${{ROLLBACK_WEBHOOK}}", format: json, timeout: 3s,
            on: [passed, rolled-back, rollback-failed, error, refused]}}
"""


@dataclass
class Endpoints:
    """The canary's health service and the rollback webhook, each behind a fault proxy."""

    service: CanaryService
    health: FaultProxy
    receiver: WebhookReceiver
    webhook: FaultProxy
    token: str

    @property
    def health_url(self) -> str:
        return f"http://{self.health.host}/api/health"

    @property
    def webhook_url(self) -> str:
        return f"http://{self.webhook.host}/services/T000/B000/{self.token}"


def fact_tags(tags: list[str]) -> list[str]:
    return sorted(t for t in tags if t.startswith("sf."))


@dataclass
class State:
    """What the registry itself says (no proxy): every tag, what it names, and the ledger."""

    tags: dict[str, str]  # tag -> manifest digest
    history: dict[str, list[HistoryEntry]] = field(default_factory=dict)

    def env(self, name: str) -> str | None:
        return self.tags.get(name)

    @property
    def facts(self) -> list[str]:
        return fact_tags(list(self.tags))

    def entries(self, env: str) -> list[tuple[str, str, str]]:
        """(digest, action, outcome) of the environment's history, oldest first."""
        return [(str(e.digest), e.action, e.outcome) for e in reversed(self.history.get(env, []))]


class World:
    """See the module docstring. ``proxy`` is the registry's fault proxy."""

    def __init__(
        self,
        root: Path,
        registry: Registry,
        fault_proxy: FaultProxyFactory,
        repo: str,
        endpoints: Endpoints | None = None,
        *,
        upstream_credentials: tuple[str, str] | None = None,
    ) -> None:
        self.root = root
        self.registry = registry
        self.repo = repo
        self.proxy = fault_proxy(registry)
        self.endpoints = endpoints
        health = endpoints.health_url if endpoints is not None else "http://127.0.0.1:9/api/health"
        self.made: PipelineDir = make_pipeline_dir(root, f"{self.proxy.host}/{repo}")
        self.made.config_path.write_text(CONFIG.format(image=f"{self.proxy.host}/{repo}", health=health))
        self.predicate = root / "predicate.json"
        self.predicate.write_text(json.dumps({"builder": {"id": "https://ci.example/run/1"}}))
        credentials = Credentials()
        if upstream_credentials is not None:
            credentials = Credentials(*upstream_credentials, source="explicit")
        self._client = RegistryClient(registry.host, RegistryConfig(), credentials=credentials)
        self._auth = upstream_credentials
        self.store = RegistryStore(self._client, repo)
        config = load_config(self.made.config_path)
        self.direct = Pipeline(config, self.store, parse_reference(f"{registry.host}/{repo}"))
        self.name = f"{self.proxy.host}/{repo}"
        self.digests: dict[str, Digest] = {}

    def close(self) -> None:
        self._client.close()

    # --- setting the scene (directly, no faults) -----------------------------------------------

    def image(self, name: str, *, signed: bool = True) -> Digest:
        digest = push_image(self.store, f"{self.repo}-{name}")
        if signed:
            sign(self.store, digest, self.made.keys["ci"], reference=self.name)
        self.digests[name] = digest
        return digest

    def promote_direct(self, digest: Digest, source: str | None, target: str, actor: str) -> None:
        promote(self.direct, PromotionRequest(digest, source, target, actor), signer=self.made.keys["ci"])

    def place(self, digest: Digest, *envs: str) -> None:
        """Promote ``digest`` along the chain into each of ``envs`` (in order)."""
        actors = {"dev": CI, "staging": "dev-1", "canary": "lead-1", "production": "lead-1"}
        sources = {"dev": None, "staging": "dev", "canary": "staging", "production": "canary"}
        for env in envs:
            self.promote_direct(digest, sources[env], env, actors[env])

    def approve_direct(self, digest: Digest, env: str, approver: str) -> None:
        from shipflow.release.approvals import approve

        approve(self.store, digest, env, self.made.keys[approver], approver=approver, subject_name=self.name)

    def entry(self, env: str, digest: Digest, action: str = "promote") -> None:
        record_entry(self.store, HistoryEntry(environment=env, digest=digest, action=action, actor="ci"))

    # --- reading the state back (the registry itself, no proxy) ---------------------------------

    def _get(self, client: httpx.Client, path: str, **headers: str) -> httpx.Response:
        return client.get(f"{self.registry.url}/v2/{self.repo}/{path}", headers=headers)

    def state(self, *, with_history: bool = True) -> State:
        """Every tag of the repository with the digest it names. Each tagged manifest is read
        from the registry and every blob (and child manifest) it names is fetched and hashed:
        a tag on an incomplete or wrong image fails the test here."""
        tags: dict[str, str] = {}
        with httpx.Client(timeout=30, auth=self._auth) as client:
            listed = self._get(client, "tags/list")
            names: list[str] = [] if listed.status_code == 404 else (listed.json().get("tags") or [])
            for tag in names:
                tags[tag] = self._check_manifest(client, tag)
        state = State(tags)
        if with_history:
            for env in ENVIRONMENTS:
                problems: list[str] = []
                state.history[env] = history(self.store, env, tags=list(tags), problems=problems)
                assert not problems, f"malformed history entries in {env}: {problems}"
        return state

    def _check_manifest(self, client: httpx.Client, reference: str) -> str:
        response = self._get(client, f"manifests/{reference}", Accept=ACCEPT)
        assert response.status_code == 200, f"{self.repo}:{reference}: {response.status_code} {response.text}"
        digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
        if reference.startswith("sha256:"):
            assert digest == reference, f"manifest {reference} hashes to {digest}"
        doc = response.json()
        for child in doc.get("manifests") or []:
            self._check_manifest(client, child["digest"])
        for blob in [doc.get("config"), *(doc.get("layers") or [])]:
            if not blob:
                continue
            got = self._get(client, f"blobs/{blob['digest']}")
            assert got.status_code == 200, (
                f"{self.repo}:{reference} names blob {blob['digest']}, which is missing"
            )
            real = "sha256:" + hashlib.sha256(got.content).hexdigest()
            assert real == blob["digest"] and len(got.content) == blob["size"], (
                f"{self.repo}:{reference}: blob {blob['digest']} holds other bytes"
            )
        return digest

    def record_of(self, digest: Digest, env: str, source: str | None = None) -> Any:
        config = self.direct.config
        return find_record(self.store, digest, env, trusted_policy(config.record_keys), source=source)

    def signatures(self, digest: Digest) -> list[str]:
        """The signatures of ``digest`` that verify with the CI key (payload digests)."""
        from shipflow.gate import GateContext
        from shipflow.signing.gate import SignatureGate
        from shipflow.signing.policy import trusted_keys

        gate = SignatureGate(trusted_keys([self.made.keys["ci"].verifier]))
        evidence = gate.evaluate(GateContext(self.store, digest, parse_reference(self.name)))
        return [s["payload"] for s in evidence.details.get("signatures", [])]

    def held(self, env: str) -> list[str]:
        return [str(h.digest) for h in LedgerHistory(self.store).held(env)]

    def facts(self, kind: str) -> list[str]:
        return [ref.tag for ref in list_facts(self.store, kind=kind)]


def env_for_runs(world: World, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {"COSIGN_PASSWORD": PASSWORD, **FAST_REGISTRY}
    if world.endpoints is not None:
        env["ROLLBACK_WEBHOOK"] = world.endpoints.webhook_url
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Host:
    """An upstream for a fault proxy: anything listening on ``host`` (``host:port``)."""

    host: str


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def run(shipflow: InProcessCli, world: World, argv: list[str], extra: Mapping[str, str] | None = None) -> Run:
    """``shipflow ARGV`` in ``world`` (through its proxies), as a new process would run it."""
    result = shipflow(*argv, cwd=world.root, db=world.root / "advisories.db", env=env_for_runs(world, extra))
    RegistryClient.close_shared()  # the next run opens new connections, as a new process would
    return Run(result.returncode, result.stdout, result.stderr)


def lines(text: str) -> Iterator[str]:
    for line in text.splitlines():
        if line.strip():
            yield line


def error_line(stderr: str) -> str | None:
    found = [line for line in lines(stderr) if line.startswith("error: ")]
    return found[-1] if found else None


TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s+File \"", re.MULTILINE)
