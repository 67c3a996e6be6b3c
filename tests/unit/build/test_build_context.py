"""The build context digest and the .dockerignore matcher (moby patternmatcher semantics)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipflow.build._context import IgnoreMatcher, digest_context, load_ignore_file
from shipflow.errors import UsageError


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        (["*.md"], "README.md", True),
        (["*.md"], "docs/guide.md", False),  # unlike gitignore: only at the context root
        (["**/*.md"], "docs/deep/guide.md", True),
        (["**/*.md"], "README.md", True),  # "**/" matches zero directories too
        (["docs"], "docs/guide.md", True),  # a directory excludes everything below it
        (["docs/"], "docs/guide.md", True),  # trailing slash cleaned away
        (["/docs"], "docs/guide.md", True),  # leading slash: still relative to the root
        (["node_modules", "!node_modules/keep.js"], "node_modules/keep.js", False),
        (["node_modules", "!node_modules/keep.js"], "node_modules/drop.js", True),
        (["*", "!app/"], "app/server.sh", False),
        (["*", "!app/"], "secrets.env", True),
        (["!app", "*"], "app/server.sh", True),  # the last matching pattern wins
        (["file?.txt"], "file1.txt", True),
        (["file?.txt"], "file10.txt", False),
        (["file[0-4].txt"], "file3.txt", True),
        (["file[^0-4].txt"], "file3.txt", False),
        (["file[^0-4].txt"], "file7.txt", True),
        (["a/*/c"], "a/b/c", True),
        (["a/*/c"], "a/b/x/c", False),  # "*" never crosses a "/"
        (["a/**/c"], "a/b/x/c", True),
        (["# a comment", ""], "# a comment", False),
        (["dist/**"], "dist/x/y.js", True),
        (["*.log", "!important.log"], "important.log", False),
        (["  spaced.txt  "], "spaced.txt", True),
        (["a.b"], "aXb", False),  # "." is literal
        (["x\\*y"], "x*y", True),  # a backslash escapes
    ],
)
def test_ignore_patterns_follow_moby(patterns: list[str], path: str, excluded: bool) -> None:
    assert IgnoreMatcher(patterns).excluded(path) is excluded


def test_malformed_pattern_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="malformed"):
        IgnoreMatcher(["file[0-4.txt"])


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_digest_is_stable_and_ignores_mtimes(tmp_path: Path) -> None:
    ctx = _tree(tmp_path / "ctx", {"Dockerfile": b"FROM scratch\n", "app/a.txt": b"a", "app/b.txt": b"b"})
    first = digest_context(ctx)
    os.utime(ctx / "app" / "a.txt", (1, 1))
    second = digest_context(ctx)
    assert first == second
    assert first.files == 4  # Dockerfile, app/, app/a.txt, app/b.txt
    assert first.digest.startswith("sha256:") and len(first.digest) == 71


def test_digest_changes_with_content_mode_and_new_files(tmp_path: Path) -> None:
    ctx = _tree(tmp_path / "ctx", {"Dockerfile": b"FROM scratch\n", "app/a.txt": b"a"})
    seen = {digest_context(ctx).digest}
    (ctx / "app" / "a.txt").write_bytes(b"A")
    seen.add(digest_context(ctx).digest)
    (ctx / "app" / "a.txt").chmod(0o755)
    seen.add(digest_context(ctx).digest)
    (ctx / "app" / "new.txt").write_bytes(b"")
    seen.add(digest_context(ctx).digest)
    (ctx / "empty-dir").mkdir()
    seen.add(digest_context(ctx).digest)
    os.symlink("app/a.txt", ctx / "link")
    seen.add(digest_context(ctx).digest)
    os.unlink(ctx / "link")
    os.symlink("app/new.txt", ctx / "link")
    seen.add(digest_context(ctx).digest)
    assert len(seen) == 7


def test_renaming_a_file_changes_the_digest(tmp_path: Path) -> None:
    ctx = _tree(tmp_path / "ctx", {"a": b"same"})
    before = digest_context(ctx).digest
    (ctx / "a").rename(ctx / "b")
    assert digest_context(ctx).digest != before


def test_ignored_files_and_git_do_not_count(tmp_path: Path) -> None:
    ctx = _tree(
        tmp_path / "ctx",
        {".dockerignore": b"*.log\nnode_modules\n", "Dockerfile": b"FROM scratch\n", "app.js": b"x"},
    )
    before = digest_context(ctx)
    _tree(ctx, {"debug.log": b"noise", "node_modules/dep/index.js": b"y", ".git/index": b"changes often"})
    after = digest_context(ctx)
    assert after.digest == before.digest
    assert after.ignore_file == str(ctx / ".dockerignore")
    (ctx / "app.js").write_bytes(b"changed")
    assert digest_context(ctx).digest != before.digest


def test_reincluded_file_below_an_excluded_directory_counts(tmp_path: Path) -> None:
    ctx = _tree(tmp_path / "ctx", {".dockerignore": b"vendor\n!vendor/keep.txt\n", "vendor/keep.txt": b"1"})
    before = digest_context(ctx).digest
    (ctx / "vendor" / "drop.txt").write_bytes(b"ignored")
    assert digest_context(ctx).digest == before
    (ctx / "vendor" / "keep.txt").write_bytes(b"2")
    assert digest_context(ctx).digest != before


def test_ignore_file_precedence(tmp_path: Path) -> None:
    ctx = _tree(
        tmp_path / "ctx",
        {
            ".dockerignore": b"a\n",
            ".containerignore": b"b\n",
            "Dockerfile": b"",
            "Dockerfile.dockerignore": b"c\n",
        },
    )
    matcher, source = load_ignore_file(ctx, ctx / "Dockerfile")
    assert source == str(ctx / "Dockerfile.dockerignore") and matcher.excluded("c")
    (ctx / "Dockerfile.dockerignore").unlink()
    matcher, source = load_ignore_file(ctx, ctx / "Dockerfile")
    assert source == str(ctx / ".containerignore") and matcher.excluded("b") and not matcher.excluded("a")


def test_context_limits_are_enforced(tmp_path: Path) -> None:
    ctx = _tree(tmp_path / "ctx", {f"f{i}": b"12345" for i in range(5)})
    with pytest.raises(UsageError, match="more than 3 entries"):
        digest_context(ctx, max_files=3)
    with pytest.raises(UsageError, match="more than 10 bytes"):
        digest_context(ctx, max_bytes=10)


def test_missing_context_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        digest_context(tmp_path / "nope")
