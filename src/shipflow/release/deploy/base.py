"""The deploy target interface: what the canary controller and ``shipflow rollback`` call.

A deploy target makes an environment *run* a digest. The environment's tag (``:canary``) is
moved by the controller, never by a target; a target only makes the platform follow::

    target.deploy(DeployRequest(env="canary", image="ghcr.io/org/app", digest=D, previous=P))
    target.rollback(DeployRequest(env="canary", image=..., digest=P, previous=D))
    target.current("canary")   # -> Deployment: what the target believes runs there now
    target.stop("canary")      # stop whatever the target runs for the environment

Requests and results are frozen dataclasses. Every failure of a target is a
:class:`DeployError` (an infrastructure error, exit 3) carrying the bounded, redacted output of
whatever ran, so the report can show why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from shipflow.errors import InfrastructureError, UsageError
from shipflow.oci.digest import Digest

__all__ = [
    "DeployError",
    "DeployRequest",
    "DeployResult",
    "DeployTarget",
    "Deployment",
    "validate_env_name",
]

_ENV_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62})$")


def validate_env_name(env: str) -> str:
    """An environment name is also a tag and a file name: ``[a-z0-9][a-z0-9_-]*``, ≤ 63 chars."""
    if not _ENV_NAME.match(env):
        raise UsageError(
            f"invalid environment name {env!r}",
            hint="environment names are lower-case letters, digits, '-' and '_' (e.g. canary, production)",
        )
    return env


class DeployError(InfrastructureError):
    """A deploy target could not do its job. ``output`` holds what the target's process said
    (bounded, secrets masked); ``target`` names the target."""

    def __init__(self, message: str, *, target: str, output: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.target = target
        self.output = output


@dataclass(frozen=True)
class DeployRequest:
    """Make ``env`` run ``image@digest``. ``previous`` is what it ran before (for the record)."""

    env: str
    image: str  # the repository: ghcr.io/org/app, 127.0.0.1:5000/app, oci:/path/store
    digest: Digest
    previous: Digest | None = None

    def __post_init__(self) -> None:
        validate_env_name(self.env)

    @property
    def ref(self) -> str:
        """``image@digest``: the one way a deployed image is named."""
        return f"{self.image}@{self.digest}"


@dataclass(frozen=True)
class DeployResult:
    """What a target did: how long it took, what it said, and target-specific details."""

    target: str
    env: str
    digest: Digest
    seconds: float
    summary: str
    output: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "env": self.env,
            "digest": str(self.digest),
            "seconds": round(self.seconds, 4),
            "summary": self.summary,
            "output": self.output,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class Deployment:
    """What a target believes an environment runs now.

    ``digest`` is None when the target does not know (a command target without state) or
    nothing runs; ``running`` is None when the target cannot tell whether it is up.
    """

    target: str
    env: str
    digest: Digest | None
    running: bool | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        what = str(self.digest) if self.digest is not None else "nothing known"
        if self.running is True:
            state = "running"
        elif self.running is False:
            state = "not running"
        else:
            state = "state unknown"
        return f"{self.target} target: {what} ({state})"

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "env": self.env,
            "digest": None if self.digest is None else str(self.digest),
            "running": self.running,
            "details": dict(self.details),
        }


@runtime_checkable
class DeployTarget(Protocol):
    """One way of making an environment run a digest (tag, command, local, …)."""

    @property
    def name(self) -> str:
        """The target's kind, as written in ``deploy.target`` (``tag``, ``command``, ``local``)."""
        ...

    def deploy(self, request: DeployRequest) -> DeployResult:
        """Make ``request.env`` run ``request.digest``. DeployError when it cannot."""
        ...

    def rollback(self, request: DeployRequest) -> DeployResult:
        """Put ``request.digest`` (the previous digest) back. DeployError when it cannot."""
        ...

    def current(self, env: str) -> Deployment:
        """What runs in ``env`` as far as the target knows (never raises for "nothing")."""
        ...

    def stop(self, env: str) -> None:
        """Stop what the target runs for ``env`` (a no-op where the platform owns it)."""
        ...
