"""``shipflow init``: the specification's pipeline written into a user's repository.

:func:`plan` renders the templates (package data under ``templates/``) for a target directory
and says, per file, what writing would do; :func:`apply` writes a plan. Nothing that exists is
changed unless asked: a file that exists with other content is a *conflict*, and a plan with
conflicts is refused (``force`` overwrites them; ``skip_existing`` keeps them and writes the
rest). A file that exists with the same content is left alone (``unchanged``)::

    planned = plan(Path("."), ScaffoldOptions(image="ghcr.io/immoflowme/app"))
    apply(Path("."), planned, force=False, skip_existing=False)   # raises UsageError on conflicts

What is written (:data:`FILES`): ``shipflow.yaml``; the four workflows under
``.github/workflows/`` (build-and-sign, promote, canary-deploy, and ci-security — the
specification's ci.yml additions as a workflow of their own); ``Dockerfile`` and
``.dockerignore``; ``tools/verify-image.sh``.

Templates use ``@NAME@`` placeholders (not ``${…}``: GitHub's own expressions are ``${{ … }}``
and the config's environment references are ``${NAME}``); rendering fails on one left over.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path

from shipflow import __version__
from shipflow.errors import UsageError
from shipflow.fsutil import atomic_write

__all__ = [
    "FILES",
    "Action",
    "PlannedFile",
    "ScaffoldOptions",
    "TemplateFile",
    "apply",
    "default_image",
    "plan",
    "render",
]

_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
_IMAGE = re.compile(r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)+$")


@dataclass(frozen=True)
class TemplateFile:
    """One file ``init`` writes: where, from which template, its mode, and what it is."""

    path: str  # relative to the repository root, "/"-separated
    template: str
    mode: int
    description: str


FILES: tuple[TemplateFile, ...] = (
    TemplateFile("shipflow.yaml", "shipflow.yaml", 0o644, "pipeline: environments, roles, gates, canary"),
    TemplateFile(
        ".github/workflows/build-and-sign.yml",
        "build-and-sign.yml",
        0o644,
        "build once, sign, SBOM, scan, provenance, tag :dev (push to main, tags v*, manual)",
    ),
    TemplateFile(
        ".github/workflows/promote.yml",
        "promote.yml",
        0o644,
        "promote a digest: image_digest, source_env, target_env; one GitHub Environment per target",
    ),
    TemplateFile(
        ".github/workflows/canary-deploy.yml",
        "canary-deploy.yml",
        0o644,
        "canary with health checks and automatic rollback (manual)",
    ),
    TemplateFile(
        ".github/workflows/ci-security.yml",
        "ci-security.yml",
        0o644,
        "ci.yml additions: filesystem scan, dependency SBOM, audit gate on CRITICAL",
    ),
    TemplateFile(
        "Dockerfile", "Dockerfile", 0o644, "multi-stage node:20-alpine, non-root appuser (1001), HEALTHCHECK"
    ),
    TemplateFile(
        ".dockerignore", "dockerignore", 0o644, "keeps .git, node_modules and secrets out of the build"
    ),
    TemplateFile(
        "tools/verify-image.sh", "verify-image.sh", 0o755, "signature + CRITICAL/HIGH scan before deploys"
    ),
)


@dataclass(frozen=True, kw_only=True)
class ScaffoldOptions:
    """What the templates are filled with."""

    image: str  # the image repository, without tag: ghcr.io/org/app
    branch: str = "main"
    shipflow_version: str = __version__
    python_version: str = "3.11"
    node_version: str = "20"
    app_port: int = 3000

    def values(self) -> dict[str, str]:
        if not _IMAGE.match(self.image):
            raise UsageError(
                f"--image {self.image!r} is not an image repository (lower case, no tag or digest)",
                hint="e.g. --image ghcr.io/immoflowme/app",
            )
        if not re.fullmatch(r"[A-Za-z0-9._/-]+", self.branch):
            raise UsageError(f"--branch {self.branch!r} is not a branch name")
        if not 1 <= self.app_port <= 65535:
            raise UsageError(f"--port {self.app_port} is not a TCP port")
        return {
            "IMAGE": self.image,
            "BRANCH": self.branch,
            "SHIPFLOW_VERSION": self.shipflow_version,
            "PYTHON_VERSION": self.python_version,
            "NODE_VERSION": self.node_version,
            "APP_PORT": str(self.app_port),
        }


def default_image(remote_url: str | None) -> str:
    """``ghcr.io/<owner>/<repo>`` for a GitHub remote, else a placeholder to edit."""
    if remote_url:
        match = re.search(r"github\.com[:/]+([^/\s]+)/([^/\s]+?)(?:\.git)?/?$", remote_url.strip())
        if match:
            return f"ghcr.io/{match.group(1).lower()}/{match.group(2).lower()}"
    return "ghcr.io/change-me/app"


def render(template: str, values: dict[str, str]) -> bytes:
    """The template ``template`` with every ``@NAME@`` replaced (a missing value is a bug)."""
    text = resources.files("shipflow.scaffold").joinpath("templates", template).read_text(encoding="utf-8")

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template {template} uses @{name}@, which has no value")
        return values[name]

    return _PLACEHOLDER.sub(fill, text).encode("utf-8")


class Action(StrEnum):
    CREATE = "create"  # not there: written
    UNCHANGED = "unchanged"  # there with the same content: left alone
    CONFLICT = "conflict"  # there with other content: refused unless force / skip_existing
    OVERWRITE = "overwrite"  # a conflict, with force: replaced
    KEEP = "keep"  # a conflict, with skip_existing: left alone


@dataclass(frozen=True)
class PlannedFile:
    path: str
    description: str
    content: bytes
    mode: int
    action: Action

    @property
    def writes(self) -> bool:
        return self.action in (Action.CREATE, Action.OVERWRITE)


def _current(target: Path, rel: str) -> bytes | None:
    path = target / rel
    if not target.exists():
        return None
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise UsageError(
            f"{path} exists and is not a regular file",
            hint="move it away; init never writes through links or over directories",
        )
    try:
        return path.read_bytes() if path.exists() else None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", hint="check its permissions") from exc


def plan(
    target: Path, options: ScaffoldOptions, *, force: bool = False, skip_existing: bool = False
) -> list[PlannedFile]:
    """What :func:`apply` would do in ``target`` (nothing is written here)."""
    if force and skip_existing:
        raise UsageError("--force and --skip-existing contradict each other", hint="choose one")
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} is not a directory", hint="run shipflow init in your repository's root")
    values = options.values()
    planned = []
    for item in FILES:
        content = render(item.template, values)
        current = _current(target, item.path)
        if current is None:
            action = Action.CREATE
        elif current == content:
            action = Action.UNCHANGED
        elif force:
            action = Action.OVERWRITE
        elif skip_existing:
            action = Action.KEEP
        else:
            action = Action.CONFLICT
        planned.append(PlannedFile(item.path, item.description, content, item.mode, action))
    return planned


def apply(target: Path, planned: list[PlannedFile]) -> list[PlannedFile]:
    """Write the plan's CREATE and OVERWRITE files (atomically, each with its mode).

    Refuses a plan with conflicts before writing anything.
    """
    conflicts = [p.path for p in planned if p.action is Action.CONFLICT]
    if conflicts:
        raise UsageError(
            f"these files exist with other content: {', '.join(conflicts)}",
            hint="--force overwrites them, --skip-existing keeps them and writes the rest; "
            "--dry-run shows what would be written",
        )
    for item in planned:
        if not item.writes:
            continue
        path = target / item.path
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, item.content, mode=item.mode, what=item.path)
        # atomic_write applies the mode to the new file; make it exact despite the umask
        path.chmod(stat.S_IMODE(item.mode))
    return planned
