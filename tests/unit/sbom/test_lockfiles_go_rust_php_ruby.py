"""go.mod/go.sum, Cargo.lock, composer.lock and Gemfile.lock: the real files in
tests/data/lockfiles (written by go, cargo, Debian's composer and bundler), the ecosystems'
rules, and malformed input."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipflow.sbom import catalog_directory
from shipflow.sbom.catalogers.gemfile import parse_gemfile_lock
from shipflow.sbom.catalogers.gomod import modules, parse_go_mod
from shipflow.sbom.model import Location
from support.paths import DATA_DIR

LOCKS = DATA_DIR / "lockfiles"


def _purls(project: str) -> set[str]:
    inventory = catalog_directory(LOCKS / project)
    assert inventory.not_read == []
    return {p.purl for p in inventory.packages}


# -- Go ----------------------------------------------------------------------------------------


def test_go_mod_replacements_applied_and_directories_skipped() -> None:
    # go.mod requires uuid v1.3.0, replaced by v1.6.0; example.com/local is replaced by ./local.
    assert _purls("gomod") == {
        "pkg:golang/github.com/google/uuid@v1.6.0",
        "pkg:golang/github.com/pkg/errors@v0.9.1",
    }


def test_go_mod_before_1_17_takes_indirect_modules_from_go_sum() -> None:
    # go 1.16: go.mod lists only rsc.io/quote; go.sum holds what it pulls in.
    assert _purls("gomod-1.16") == {
        "pkg:golang/rsc.io/quote@v1.5.2",
        "pkg:golang/rsc.io/sampler@v1.3.0",
        "pkg:golang/golang.org/x/text@v0.0.0-20170915032832-14c0d48ead0c",
    }


GO_MOD = b"""\
// a comment
module example.com/app // trailing comment

go 1.22
toolchain go1.22.3

require github.com/a/one v1.0.0
require (
\tgithub.com/b/two v2.1.0+incompatible // indirect
\t"github.com/c/three" v0.3.0
\tgithub.com/d/four v1.4.0
)

exclude github.com/d/four v1.4.0

replace github.com/a/one => github.com/fork/one v1.0.1
replace (
\tgithub.com/b/two v2.0.0 => github.com/b/two v2.0.5
\tgithub.com/c/three => ../three
)
retract v0.9.0
"""


def test_go_mod_grammar_blocks_quotes_excludes_and_replace_precedence() -> None:
    mod = parse_go_mod(GO_MOD)
    assert mod.module == "example.com/app" and mod.go == "1.22"
    assert [r[:2] for r in mod.requires] == [
        ("github.com/a/one", "v1.0.0"),
        ("github.com/b/two", "v2.1.0+incompatible"),
        ("github.com/c/three", "v0.3.0"),
        ("github.com/d/four", "v1.4.0"),
    ]
    assert mod.requires[1][2] is True  # // indirect
    # one: replaced for all versions; two: the replace names another version, so it does not
    # apply; three: replaced by a directory (skipped); four: excluded.
    assert list(modules(mod, None)) == [
        ("github.com/fork/one", "v1.0.1"),
        ("github.com/b/two", "v2.1.0+incompatible"),
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"go 1.21\nrequire x v1.0.0\n", "no module directive"),
        (b"module a\nrequire (\n\tx v1.0.0\n", "never closed"),
        (b"module a\nrequire x\n", "require needs"),
        (b"module a\nreplace x v1.0.0\n", "replace without =>"),
        (b"module a\nreplace x => y\n", "needs a version"),
        (b'module a\nrequire "x v1.0.0\n', "unterminated"),
        (b"module a\n\xff\n", "not UTF-8"),
    ],
)
def test_malformed_go_mod_is_not_read(tmp_path: Path, text: bytes, reason: str) -> None:
    (tmp_path / "go.mod").write_bytes(text)
    [item] = catalog_directory(tmp_path).not_read
    assert item.cataloger == "go-mod" and reason in item.reason


def test_go_mod_in_the_module_cache_or_vendor_is_not_the_project(tmp_path: Path) -> None:
    for where in ("root/go/pkg/mod/github.com/x/y@v1.0.0", "app/vendor/github.com/x/y"):
        (tmp_path / where).mkdir(parents=True)
        (tmp_path / where / "go.mod").write_text("module github.com/x/y\nrequire github.com/z v1.0.0\n")
    assert catalog_directory(tmp_path).packages == []


# -- Rust ----------------------------------------------------------------------------------------


def test_cargo_lock_registry_crates_only() -> None:
    inventory = catalog_directory(LOCKS / "cargo")
    names = {(p.name, p.version) for p in inventory.packages}
    # The project and its path dependency "member" have no source: not dependencies.
    assert not any(name in ("lockfile-fixture", "member") for name, _ in names)
    assert {("regex", "1.5.4"), ("time", "0.1.43"), ("smallvec", "1.6.0"), ("memchr", "2.8.3")} <= names
    assert len(names) == 10
    assert "pkg:cargo/regex@1.5.4" in {p.purl for p in inventory.packages}


def test_cargo_git_sources_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "Cargo.lock").write_text(
        "version = 3\n[[package]]\nname = 'a'\nversion = '1.0.0'\n"
        "source = 'git+https://github.com/org/a#0123abc'\n"
        "[[package]]\nname = 'b'\nversion = '2.0.0'\nsource = 'sparse+https://index.crates.io/'\n"
    )
    assert [p.name for p in catalog_directory(tmp_path).packages] == ["b"]


# -- PHP -----------------------------------------------------------------------------------------


def test_composer_lock_packages_and_packages_dev() -> None:
    inventory = catalog_directory(LOCKS / "composer")
    found = {(p.name, p.version, p.dev, p.licenses, p.purl) for p in inventory.packages}
    assert found == {
        ("acme/http-client", "2.0.1", False, ("Apache-2.0",), "pkg:composer/acme/http-client@2.0.1"),
        ("acme/logger", "1.4.2", False, ("MIT",), "pkg:composer/acme/logger@1.4.2"),
        ("acme/test-tools", "0.9.0", True, ("MIT",), "pkg:composer/acme/test-tools@0.9.0"),
    }


# -- Ruby ----------------------------------------------------------------------------------------


def test_gemfile_lock_gem_sections_only() -> None:
    inventory = catalog_directory(LOCKS / "bundler")
    names = {(p.name, p.version) for p in inventory.packages}
    assert ("local_gem", "0.1.0") not in names  # a PATH gem
    assert {("rexml", "3.2.5"), ("net-imap", "0.2.3"), ("minitest", "5.15.0"), ("rake", "13.0.6")} <= names
    assert len(names) == 11


def test_gemfile_lock_platform_versions_and_git_sections() -> None:
    text = b"""\
GIT
  remote: https://github.com/rails/rails.git
  revision: 0123abc
  specs:
    rails (7.1.0.alpha)
      actionpack (= 7.1.0.alpha)

GEM
  remote: https://rubygems.org/
  specs:
    nokogiri (1.13.10-x86_64-linux)
      racc (~> 1.4)
    racc (1.6.2)
    sorbet-static (0.5.10346-universal-darwin-22)

PLATFORMS
  x86_64-linux

BUNDLED WITH
   2.3.26
"""
    packages = parse_gemfile_lock(text, Location("Gemfile.lock"))
    assert [(p.name, p.version, p.purl) for p in packages] == [
        ("nokogiri", "1.13.10", "pkg:gem/nokogiri@1.13.10?platform=x86_64-linux"),
        ("racc", "1.6.2", "pkg:gem/racc@1.6.2"),
        ("sorbet-static", "0.5.10346", "pkg:gem/sorbet-static@0.5.10346?platform=universal-darwin-22"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("Cargo.lock", b"[[package]\nname = 'a'", "not valid TOML"),
        ("Cargo.lock", b"package = 'x'\n", "not an array of tables"),
        ("composer.lock", b'{"packages": "nope"}', "no 'packages' array"),
        ("composer.lock", b'{"packages": [', "not valid JSON"),
        ("Gemfile.lock", b"not a gemfile lock\n", "not a Gemfile.lock"),
        ("Gemfile.lock", b"GEM\n  specs:\n    a (1.0)\n\xff", "not UTF-8"),
    ],
)
def test_malformed_cargo_composer_gemfile_locks_are_not_read(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    (tmp_path / name).write_bytes(content)
    inventory = catalog_directory(tmp_path)
    assert inventory.packages == []
    [item] = inventory.not_read
    assert item.location.path == name and reason in item.reason
