"""The ``tag`` target (the default, and the specification's behaviour): shipflow only tags.

The platform follows the environment's tag (a registry webhook, a GitOps controller, Fly's
or Cloud Run's image watch, ``kubectl rollout restart`` in a later step): moving ``:canary``
*is* the deploy. The controller moves the tag before it calls the target, so ``deploy`` and
``rollback`` only confirm that the tag names the digest, and ``current`` reads the tag.
"""

from __future__ import annotations

import time

from shipflow.errors import ManifestNotFound, ShipflowError
from shipflow.oci.store import Store
from shipflow.release.deploy.base import DeployError, Deployment, DeployRequest, DeployResult

__all__ = ["TagTarget"]


class TagTarget:
    """Deploys by tag only; the platform follows ``:ENV``."""

    name = "tag"

    def __init__(self, store: Store) -> None:
        self._store = store

    def _confirm(self, request: DeployRequest, verb: str) -> DeployResult:
        started = time.monotonic()
        try:
            found = self._store.resolve(request.env).digest
        except ManifestNotFound as exc:
            raise DeployError(
                f"{self._store.name}:{request.env} does not exist after it was tagged",
                target=self.name,
                hint="someone deleted the tag meanwhile; run the command again",
            ) from exc
        if found != request.digest:
            raise DeployError(
                f"{self._store.name}:{request.env} names {found}, not {request.digest}: "
                "another release moved the tag meanwhile",
                target=self.name,
                hint="check `shipflow history` for a concurrent promotion or canary",
            )
        return DeployResult(
            target=self.name,
            env=request.env,
            digest=request.digest,
            seconds=time.monotonic() - started,
            summary=f"{verb}: {self._store.name}:{request.env} -> {request.digest.short} "
            "(the platform follows the tag)",
        )

    def deploy(self, request: DeployRequest) -> DeployResult:
        return self._confirm(request, "deployed")

    def rollback(self, request: DeployRequest) -> DeployResult:
        return self._confirm(request, "rolled back")

    def current(self, env: str) -> Deployment:
        try:
            digest = self._store.resolve(env).digest
        except ManifestNotFound:
            return Deployment(
                self.name, env, None, running=None, details={"tag": f"{self._store.name}:{env}"}
            )
        except ShipflowError as exc:
            return Deployment(self.name, env, None, running=None, details={"error": exc.message})
        return Deployment(self.name, env, digest, running=None, details={"tag": f"{self._store.name}:{env}"})

    def stop(self, env: str) -> None:
        """Nothing to stop: the platform owns the processes."""
