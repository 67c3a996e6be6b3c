"""The ``command`` target: the user's own deploy command (``fly deploy``, ``kubectl set image``,
``helm upgrade``, ``ssh host ./deploy.sh``), templated with the digest.

Each run gets ``SHIPFLOW_IMAGE``, ``SHIPFLOW_DIGEST``, ``SHIPFLOW_REF``, ``SHIPFLOW_ENV`` and
``SHIPFLOW_PREVIOUS_DIGEST`` in its environment as well, runs without a shell, in a process
group of its own that is killed at the timeout, and its output (bounded, secrets masked) goes
into the result and into the error when it fails.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from shipflow.release.deploy.base import DeployError, Deployment, DeployRequest, DeployResult
from shipflow.release.deploy.procs import CommandOutcome, run_bounded
from shipflow.release.deploy.settings import CommandSettings, CommandTemplate

__all__ = ["CommandTarget"]


class CommandTarget:
    name = "command"

    def __init__(self, settings: CommandSettings, *, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self._environ = dict(os.environ if environ is None else environ)
        self._last: dict[str, DeployRequest] = {}

    def _values(self, request: DeployRequest) -> dict[str, str]:
        return {
            "image": request.image,
            "digest": str(request.digest),
            "ref": request.ref,
            "env": request.env,
            "previous": "" if request.previous is None else str(request.previous),
        }

    def _environment(self, request: DeployRequest) -> dict[str, str]:
        env = dict(self._environ)
        env.update(self.settings.env)
        env.update(
            SHIPFLOW_IMAGE=request.image,
            SHIPFLOW_DIGEST=str(request.digest),
            SHIPFLOW_REF=request.ref,
            SHIPFLOW_ENV=request.env,
            SHIPFLOW_PREVIOUS_DIGEST="" if request.previous is None else str(request.previous),
        )
        return env

    def _run(self, template: CommandTemplate, request: DeployRequest, verb: str) -> DeployResult:
        argv = template.render(self._values(request))
        try:
            outcome = run_bounded(
                argv,
                timeout=self.settings.timeout,
                env=self._environment(request),
                cwd=self.settings.workdir,
            )
        except OSError as exc:
            raise DeployError(
                f"cannot run the {verb} command {argv[0]!r}: {exc.strerror or exc}",
                target=self.name,
                hint="check deploy.{verb} in shipflow.yaml: is the program installed and on PATH?".format(
                    verb="rollback" if verb == "rollback" and self.settings.rollback else "deploy"
                ),
            ) from exc
        self._check(outcome, verb)
        self._last[request.env] = request
        return DeployResult(
            target=self.name,
            env=request.env,
            digest=request.digest,
            seconds=outcome.seconds,
            summary=f"{verb} command succeeded in {outcome.seconds:.2f}s",
            output=outcome.output,
            details={"argv": list(outcome.argv), "returncode": outcome.returncode},
        )

    def _check(self, outcome: CommandOutcome, verb: str) -> None:
        if outcome.timed_out:
            raise DeployError(
                f"the {verb} command timed out after {self.settings.timeout:g}s and was killed "
                "(with its whole process group)",
                target=self.name,
                output=outcome.output,
                hint="raise deploy.timeout, or find out why the command hangs (its output is in the report)",
            )
        if outcome.returncode != 0:
            raise DeployError(
                f"the {verb} command exited with status {outcome.returncode}",
                target=self.name,
                output=outcome.output,
                hint="its output is in the report",
            )

    def deploy(self, request: DeployRequest) -> DeployResult:
        return self._run(self.settings.deploy, request, "deploy")

    def rollback(self, request: DeployRequest) -> DeployResult:
        return self._run(self.settings.rollback or self.settings.deploy, request, "rollback")

    def current(self, env: str) -> Deployment:
        last = self._last.get(env)
        if last is None:
            return Deployment(
                self.name, env, None, running=None, details={"note": "the command target keeps no state"}
            )
        return Deployment(
            self.name, env, last.digest, running=None, details={"note": "last digest this run deployed"}
        )

    def stop(self, env: str) -> None:
        if self.settings.stop is None:
            return
        last = self._last.get(env)
        values = {"image": "", "digest": "", "ref": "", "env": env, "previous": ""}
        if last is not None:
            values = self._values(last)
        argv = self.settings.stop.render(values)
        try:
            outcome = run_bounded(
                argv, timeout=self.settings.timeout, env=self._environ, cwd=self.settings.workdir
            )
        except OSError as exc:
            raise DeployError(
                f"cannot run the stop command {argv[0]!r}: {exc.strerror or exc}", target=self.name
            ) from exc
        self._check(outcome, "stop")
