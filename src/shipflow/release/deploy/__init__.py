"""Deploy targets: how an environment comes to run a digest.

    target = make_target(deploy_settings_from_node(node, os.environ, base_dir=...), store=store)
    result = target.deploy(DeployRequest(env="canary", image="ghcr.io/org/app", digest=D))

Three targets, chosen by ``deploy.target`` in shipflow.yaml (:class:`TargetKind`):

* ``tag`` (default) — the platform follows the tag; shipflow only tags;
* ``command`` — the user's deploy command, templated with ``{image}``, ``{digest}``, ``{ref}``,
  ``{env}``, ``{previous}``, run without a shell, killed with its process group at the timeout;
* ``local`` — runs the image itself on this host (extracted root filesystem, ``unshare --root``),
  the embedded target the demo and the tests use.
"""

from __future__ import annotations

from shipflow.release.deploy.base import (
    DeployError,
    Deployment,
    DeployRequest,
    DeployResult,
    DeployTarget,
    validate_env_name,
)
from shipflow.release.deploy.select import make_target
from shipflow.release.deploy.settings import (
    CommandSettings,
    CommandTemplate,
    DeploySettings,
    LocalSettings,
    TagSettings,
    TargetKind,
    deploy_settings_from_node,
)

__all__ = [
    "CommandSettings",
    "CommandTemplate",
    "DeployError",
    "DeployRequest",
    "DeployResult",
    "DeploySettings",
    "DeployTarget",
    "Deployment",
    "LocalSettings",
    "TagSettings",
    "TargetKind",
    "deploy_settings_from_node",
    "make_target",
    "validate_env_name",
]
