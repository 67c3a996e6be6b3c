"""The build context as the builder sees it, and one digest over it.

The digest is part of the build-inputs fingerprint (:mod:`shipflow.build._inputs`): two builds
whose contexts hash the same send the builder the same files. It covers every file the
builder would receive — the context directory less what ``.containerignore`` /
``.dockerignore`` excludes — by relative path, type, permission bits, size and content (symlinks
by target). Modification times are left out: the builder's ``--timestamp`` overrides them.

``.git`` at the top of the context is always left out. It changes without a commit (``git
status`` rewrites the index), and the source revision is in the fingerprint anyway; a
Dockerfile that copies ``.git`` metadata into the image is the one case this misses.

The ignore-file semantics are those of moby's ``patternmatcher`` (what buildah and BuildKit
implement): patterns are cleaned paths relative to the context root, ``*`` and ``?`` never
cross a ``/``, ``**`` crosses any number of directories, ``!`` re-includes, the last matching
pattern wins, and a pattern that matches a directory excludes everything below it. Written
here because no maintained Python library implements these rules (``pathspec`` implements
gitignore's, which differ: ``*.md`` matches at any depth there and only at the root here);
``tests/integration/build`` checks this matcher against what buildah actually copies.

Bounded: at most :data:`MAX_FILES` entries and :data:`MAX_BYTES` bytes are hashed; a bigger
context is refused with the advice to add an ignore file.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from shipflow.errors import UsageError
from shipflow.fsutil import read_capped

__all__ = ["MAX_BYTES", "MAX_FILES", "ContextDigest", "IgnoreMatcher", "digest_context", "load_ignore_file"]

MAX_FILES = 200_000
MAX_BYTES = 8 * 1024**3
_IGNORE_FILE_LIMIT = 1024 * 1024
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class _Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]


def _compile(pattern: str) -> re.Pattern[str]:
    """moby patternmatcher's translation of one cleaned pattern into a regular expression."""
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 2
                if i < n and pattern[i] == "/":  # "**/" is "**"
                    i += 1
                if i >= n:
                    out.append(".*")  # "**" at the end: everything below
                else:
                    out.append("(.*/)?")  # any number of directories, zero included
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            i += 1
            if i < n:
                out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                raise ValueError(f"unterminated character class in {pattern!r}")
            body = pattern[i + 1 : end]
            if body.startswith(("!", "^")):  # Go's negated class is [^…]; accept [!…] too
                body = "^" + body[1:]
            out.append(f"[{body}]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out), re.DOTALL)


class IgnoreMatcher:
    """A parsed ``.dockerignore``: :meth:`excluded` tells whether a relative path is left out."""

    def __init__(self, lines: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclusion = line.startswith("!")
            if exclusion:
                line = line[1:].strip()
            if not line:
                continue
            cleaned = posixpath.normpath(line)
            if len(cleaned) > 1 and cleaned.startswith("/"):
                cleaned = cleaned.lstrip("/") or "/"
            try:
                regex = _compile(cleaned)
            except (ValueError, re.error) as exc:
                raise UsageError(
                    f"ignore file pattern {raw.strip()!r} is malformed: {exc}",
                    hint="fix the pattern in .dockerignore (the builder would refuse it too)",
                ) from exc
            self.patterns.append(_Pattern(cleaned, exclusion, regex))

    def excluded(self, rel: str) -> bool:
        """Whether ``rel`` (a ``/``-separated path relative to the context) is left out."""
        matched = False
        parent = posixpath.dirname(rel)
        parents = parent.split("/") if parent else []
        for pattern in self.patterns:
            # An include pattern cannot change an already-excluded path's fate and vice versa.
            if pattern.exclusion != matched:
                continue
            match = bool(pattern.regex.match(rel))
            if not match:
                for depth in range(1, len(parents) + 1):
                    if pattern.regex.match("/".join(parents[:depth])):
                        match = True
                        break
            if match:
                matched = not pattern.exclusion
        return matched


def load_ignore_file(context: Path, dockerfile: Path | None = None) -> tuple[IgnoreMatcher, str | None]:
    """The ignore rules the builder applies to ``context``, and the file they came from.

    Order (the first that exists wins): ``<Dockerfile>.dockerignore`` beside the Dockerfile
    (BuildKit), ``.containerignore``, ``.dockerignore`` in the context (buildah, docker).
    """
    candidates: list[Path] = []
    if dockerfile is not None:
        candidates.append(dockerfile.with_name(dockerfile.name + ".dockerignore"))
    candidates += [context / ".containerignore", context / ".dockerignore"]
    for candidate in candidates:
        if candidate.is_file():
            text = read_capped(candidate, _IGNORE_FILE_LIMIT, what="ignore file").decode("utf-8", "replace")
            return IgnoreMatcher(text.lstrip("\ufeff").splitlines()), str(candidate)
    return IgnoreMatcher([]), None


@dataclass(frozen=True)
class ContextDigest:
    """The digest of a context, with how much it covered."""

    digest: str  # sha256:<hex>
    files: int
    bytes: int
    ignore_file: str | None


def digest_context(
    context: Path,
    *,
    dockerfile: Path | None = None,
    max_files: int = MAX_FILES,
    max_bytes: int = MAX_BYTES,
) -> ContextDigest:
    """Hash what the builder would receive from ``context`` (see the module docstring)."""
    if not context.is_dir():
        raise UsageError(f"build context {context} is not a directory", hint="give the directory to build")
    matcher, ignore_file = load_ignore_file(context, dockerfile)
    entries: list[bytes] = []
    files = total = 0
    root = str(context)
    reincludes = any(p.exclusion for p in matcher.patterns)

    def walk_error(exc: OSError) -> None:
        raise UsageError(
            f"cannot read the build context: {exc.filename}: {exc.strerror}",
            hint="fix the permissions, or exclude the path in .dockerignore",
        ) from exc

    for dirpath, dirnames, filenames in os.walk(root, onerror=walk_error):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        kept_dirs = []
        for name in sorted(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if rel == ".git":
                continue
            # An excluded directory is walked only when a "!" pattern may re-include below it.
            if matcher.excluded(rel) and not reincludes:
                continue
            kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in sorted(kept_dirs) + sorted(filenames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if matcher.excluded(rel):
                continue
            full = os.path.join(dirpath, name)
            try:
                info = os.lstat(full)
            except OSError as exc:
                walk_error(exc)
                raise  # unreachable: walk_error raises
            files += 1
            if files > max_files:
                raise UsageError(
                    f"the build context {context} has more than {max_files} entries",
                    hint="exclude what the image does not need (node_modules, build output) in .dockerignore",
                )
            perm = stat.S_IMODE(info.st_mode)
            if stat.S_ISDIR(info.st_mode):
                entries.append(f"d {perm:o} {_quote(rel)}".encode())
            elif stat.S_ISLNK(info.st_mode):
                entries.append(f"l {perm:o} {_quote(rel)} -> {_quote(os.readlink(full))}".encode())
            elif stat.S_ISREG(info.st_mode):
                total += info.st_size
                if total > max_bytes:
                    raise UsageError(
                        f"the build context {context} holds more than {max_bytes} bytes",
                        hint="exclude what the image does not need in .dockerignore",
                    )
                entries.append(f"f {perm:o} {info.st_size} {_hash_file(full)} {_quote(rel)}".encode())
            else:  # sockets, FIFOs, devices: builders skip or refuse them; their name still counts
                entries.append(f"o {perm:o} {_quote(rel)}".encode())
    entries.sort()
    digest = hashlib.sha256(b"shipflow-context-v1\n" + b"\n".join(entries)).hexdigest()
    return ContextDigest(f"sha256:{digest}", files, total, ignore_file)


def _quote(text: str) -> str:
    # Paths may hold spaces and newlines; JSON-style escaping keeps one entry per line.
    return text.encode("unicode_escape").decode("ascii")


def _hash_file(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
    except OSError as exc:
        raise UsageError(
            f"cannot read {path} in the build context: {exc.strerror}",
            hint="fix the permissions, or exclude the file in .dockerignore",
        ) from exc
    return digest.hexdigest()
