"""Where a build's source comes from: revision, commit time, repository URL, version.

Each value by precedence: an explicit setting, then git (the context's work tree), then the
GitHub Actions environment. git is asked with a short timeout; a context outside any git work
tree needs an explicit ``revision``.

The repository URL never carries credentials: ``https://user:token@host/…`` loses the user
part, and ``git@host:org/app.git`` becomes ``https://host/org/app``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from shipflow.build import _proc
from shipflow.errors import InfrastructureError, UsageError

__all__ = ["SourceInfo", "clean_repository_url", "discover_source", "origin_url"]

_GIT_TIMEOUT = 30.0
_REVISION = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>(?!/).+)$")


@dataclass(frozen=True)
class SourceInfo:
    """The source of one build."""

    revision: str  # the full commit id
    commit_time: int | None  # the commit's time (seconds since the epoch), when known
    repository: str | None  # https URL of the repository, without credentials
    version: str  # what the version label says
    dirty: bool  # the work tree had changes under the context or the Dockerfile
    path: str | None  # the context's path inside the repository ("" for its root)


def clean_repository_url(url: str) -> str | None:
    """An https URL for ``url`` (https, ssh, scp-like git remotes), credentials removed."""
    url = url.strip()
    if not url:
        return None
    match = _SCP_LIKE.match(url)
    if match and "://" not in url:
        return f"https://{match['host']}/{match['path'].removesuffix('.git')}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ssh", "git", "git+ssh", "git+https"):
        return None
    host = parts.hostname or ""
    if not host:
        return None
    port = f":{parts.port}" if parts.port and parts.scheme in ("http", "https") else ""
    scheme = "http" if parts.scheme == "http" else "https"
    return urlunsplit((scheme, host + port, parts.path.removesuffix(".git"), "", ""))


def _git(cwd: Path, *args: str) -> str | None:
    try:
        result = _proc.run(["git", "-C", str(cwd), *args], timeout=_GIT_TIMEOUT)
    except _proc.ProcTimeout:
        raise
    except InfrastructureError:  # git missing: the settings or the environment must say
        return None
    return result.stdout.strip() if result.ok else None


def origin_url(path: Path) -> str | None:
    """The URL of the git remote ``origin`` of the work tree at ``path`` (None: none, or no git)."""
    return _git(path, "remote", "get-url", "origin") or None


def _version_from_tag(tag: str) -> str:
    return tag[1:] if re.match(r"^v\d", tag) else tag


def discover_source(
    context: Path,
    dockerfile: Path,
    *,
    revision: str | None = None,
    repository: str | None = None,
    version: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> SourceInfo:
    """The :class:`SourceInfo` of a build of ``context`` (see the module docstring)."""
    env = os.environ if environ is None else environ
    toplevel = _git(context, "rev-parse", "--show-toplevel")
    head = _git(context, "rev-parse", "--verify", "HEAD^{commit}") if toplevel else None

    rev = revision or head or env.get("GITHUB_SHA") or None
    if not rev:
        raise UsageError(
            f"no source revision for {context}: it is not inside a git work tree with a commit",
            hint="build from a git checkout, or pass --revision COMMIT (the full commit id)",
        )
    rev = rev.strip().lower()
    if not _REVISION.match(rev):
        raise UsageError(
            f"revision {rev!r} is not a full commit id (40 or 64 hex digits)",
            hint="pass the full id, e.g. --revision $(git rev-parse HEAD)",
        )

    commit_time: int | None = None
    dirty = False
    path: str | None = None
    if toplevel and head:
        if rev == head:
            stamp = _git(context, "log", "-1", "--format=%ct", head)
            commit_time = int(stamp) if stamp and stamp.isdigit() else None
        status = _git(
            Path(toplevel),
            "status",
            "--porcelain",
            "--untracked-files=normal",
            "--",
            str(context),
            str(dockerfile),
        )
        dirty = bool(status)
        try:
            path = context.resolve().relative_to(Path(toplevel).resolve()).as_posix()
        except ValueError:
            path = None
        if path == ".":
            path = ""

    repo_url = repository
    if repo_url is None and env.get("GITHUB_SERVER_URL") and env.get("GITHUB_REPOSITORY"):
        repo_url = f"{env['GITHUB_SERVER_URL'].rstrip('/')}/{env['GITHUB_REPOSITORY']}"
    if repo_url is None and toplevel:
        remote = _git(context, "remote", "get-url", "origin")
        repo_url = clean_repository_url(remote) if remote else None
    elif repo_url is not None:
        repo_url = clean_repository_url(repo_url) or repo_url

    ver = version
    if not ver and env.get("GITHUB_REF_TYPE") == "tag" and env.get("GITHUB_REF_NAME"):
        ver = _version_from_tag(env["GITHUB_REF_NAME"])
    if not ver and toplevel and rev == head:
        exact = _git(context, "describe", "--tags", "--exact-match", head)
        ver = _version_from_tag(exact) if exact else None
    if not ver:
        ver = rev[:12]
    return SourceInfo(rev, commit_time, repo_url, ver, dirty, path)
