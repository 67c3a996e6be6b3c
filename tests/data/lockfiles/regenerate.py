"""Regenerate the committed lock files with the REAL package managers.

Run from the repository root (needs the network to the npm registry, PyPI, the Go module
proxy and crates.io, and Debian's ``composer`` and ``ruby-bundler`` packages)::

    .venv/bin/python tests/data/lockfiles/regenerate.py

Every tool is installed into a throwaway directory at a pinned version (npm ``--prefix``, a
Python venv); each writes the lock file of the same small project of its ecosystem, and only
the lock file and the manifest it was written from are copied here. ``versions.json``
records the tool versions. Nothing is hand-edited afterwards.

composer and bundler cannot reach Packagist or rubygems.org from these machines, so their
projects resolve against local sources (a Composer ``path`` repository of three tiny
packages; the gems installed with Debian's Ruby, ``bundle lock --local``). The lock files
are still written by the real tools.

The Go module proxy files under ``goproxy/`` (``.info``, ``.mod``, ``.zip`` of two small
modules, downloaded by ``go mod download``) let the tests build real Go binaries offline with
``GOPROXY=file://…``: ``github.com/google/uuid`` (BSD-3-Clause) and ``github.com/pkg/errors``
(BSD-2-Clause), their licence files are inside the zips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
NPM_REGISTRY = "https://registry.npmjs.org/"

NPM_TOOLS = {
    "yarn-v1": "yarn@1.22.22",
    "yarn-berry-v3": "@yarnpkg/cli-dist@3.8.6",
    "yarn-berry-v4": "@yarnpkg/cli-dist@4.18.1",
    "pnpm-v7": "pnpm@7.33.7",
    "pnpm-v8": "pnpm@8.9.2",
    "pnpm-v9": "pnpm@9.8.0",
}
PYPI_TOOLS = ["pipenv==2026.10.3", "uv==0.13.9", "poetry==2.5.1", "pdm==2.29.4", "hishel[httpx2]==1.4.0"]

NPM_MANIFEST = {
    "name": "lockfile-fixture",
    "version": "1.0.0",
    "private": True,
    "dependencies": {
        "express": "4.18.2",
        "lodash": "4.17.15",
        "@babel/helper-validator-identifier": "7.10.4",
        "string-width-cjs": "npm:string-width@^4.2.0",
    },
    "optionalDependencies": {"is-number": "7.0.0"},
    "devDependencies": {"mkdirp": "0.5.1", "semver": "5.7.1", "debug": "2.6.9"},
}

PYPROJECT = """\
[project]
name = "lockfile-fixture"
version = "1.0.0"
requires-python = ">=3.11"
dependencies = ["requests==2.25.0", "jinja2==2.11.2", "zope.interface==5.4.0"]

[dependency-groups]
dev = ["pytest==6.2.0"]
"""

POETRY_PYPROJECT = """\
[project]
name = "lockfile-fixture"
version = "1.0.0"
requires-python = ">=3.11"
dependencies = ["requests==2.25.0", "jinja2==2.11.2", "zope.interface==5.4.0"]

[tool.poetry]
package-mode = false

[tool.poetry.group.dev.dependencies]
pytest = "6.2.0"
"""

PIPFILE = """\
[[source]]
url = "https://pypi.org/simple"
verify_ssl = true
name = "pypi"

[packages]
requests = "==2.25.0"
jinja2 = "==2.11.2"
"zope.interface" = "==5.4.0"

[dev-packages]
pytest = "==6.2.0"

[requires]
python_version = "3.11"
"""

GO_MOD = """\
module example.com/lockfile-fixture

go 1.21

require (
\tgithub.com/google/uuid v1.3.0
\tgithub.com/pkg/errors v0.9.1
\texample.com/local v0.0.0
)

replace github.com/google/uuid v1.3.0 => github.com/google/uuid v1.6.0

replace example.com/local => ./local
"""
GO_MAIN = """\
package main

import (
\t"fmt"

\t"example.com/local"
\t"github.com/google/uuid"
\t"github.com/pkg/errors"
)

func main() {
\tfmt.Println(uuid.NewString(), errors.New(local.Name))
}
"""
GO_116_MOD = """\
module example.com/old-fixture

go 1.16

require rsc.io/quote v1.5.2
"""
GO_116_MAIN = """\
package main

import (
\t"fmt"

\t"rsc.io/quote"
)

func main() { fmt.Println(quote.Hello()) }
"""

CARGO_TOML = """\
[package]
name = "lockfile-fixture"
version = "1.0.0"
edition = "2021"

[dependencies]
regex = "=1.5.4"
time = "=0.1.43"
member = { path = "member" }

[dev-dependencies]
smallvec = "=1.6.0"
"""

COMPOSER_PACKAGES = [
    ("acme/logger", "1.4.2", "MIT", {}),
    ("acme/http-client", "2.0.1", "Apache-2.0", {"acme/logger": "^1.4"}),
    ("acme/test-tools", "0.9.0", "MIT", {}),
]
COMPOSER_JSON = {
    "name": "shipflow/lockfile-fixture",
    "type": "project",
    "license": "MIT",
    "repositories": [
        {"type": "path", "url": "pkgs/*", "options": {"symlink": False}},
        {"packagist.org": False},
    ],
    "require": {"acme/http-client": "^2.0"},
    "require-dev": {"acme/test-tools": "^0.9"},
}

GEMFILE = """\
source "https://rubygems.org"

gem "net-imap", "0.2.3"
gem "rexml", "3.2.5"
gem "rake"
gem "local_gem", path: "local_gem"

group :development, :test do
  gem "minitest", "5.15.0"
  gem "test-unit"
end
"""
GEMSPEC = """\
Gem::Specification.new do |s|
  s.name = "local_gem"
  s.version = "0.1.0"
  s.summary = "fixture"
  s.authors = ["shipflow"]
  s.files = []
  s.add_dependency "rexml", ">= 3.2"
end
"""


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 900) -> str:
    print("+", " ".join(args), f"(in {cwd})", flush=True)
    result = subprocess.run(
        args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result.stdout.strip()


def fresh(name: str) -> Path:
    target = HERE / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    return target


def npm_tool(work: Path, spec: str) -> Path:
    prefix = work / "tools" / spec.replace("/", "_").replace("@", "_")
    run(["npm", "install", "-g", "--prefix", str(prefix), spec], work)
    return prefix / "bin"


def javascript(work: Path, versions: dict[str, str]) -> None:
    manifest = json.dumps(NPM_MANIFEST, indent=2) + "\n"

    def project(name: str) -> Path:
        directory = work / name
        directory.mkdir()
        (directory / "package.json").write_text(manifest)
        return directory

    npm_dir = project("npm")
    run(["npm", "install", "--package-lock-only", "--ignore-scripts", "--registry", NPM_REGISTRY], npm_dir)
    versions["npm"] = run(["npm", "--version"], work)
    keep("npm", npm_dir, ["package.json", "package-lock.json"])

    for name, spec in NPM_TOOLS.items():
        bin_dir = npm_tool(work, spec)
        directory = project(name)
        if name.startswith("yarn-berry"):
            registry = NPM_REGISTRY.rstrip("/")
            (directory / ".yarnrc.yml").write_text(
                f'enableTelemetry: false\nnpmRegistryServer: "{registry}"\nenableGlobalCache: false\n'
            )
            (directory / "yarn.lock").touch()
            run([str(bin_dir / "yarn"), "install", "--mode=update-lockfile"], directory)
            versions[name] = run([str(bin_dir / "yarn"), "--version"], directory)
            keep(name, directory, ["package.json", "yarn.lock"])
        elif name == "yarn-v1":
            run(
                [
                    str(bin_dir / "yarn"),
                    "install",
                    "--registry",
                    NPM_REGISTRY,
                    "--ignore-scripts",
                    "--non-interactive",
                ],
                directory,
            )
            versions[name] = run([str(bin_dir / "yarn"), "--version"], directory)
            keep(name, directory, ["package.json", "yarn.lock"])
        else:
            run(
                [
                    str(bin_dir / "pnpm"),
                    "install",
                    "--lockfile-only",
                    "--ignore-scripts",
                    "--registry",
                    NPM_REGISTRY,
                ],
                directory,
            )
            versions[name] = run([str(bin_dir / "pnpm"), "--version"], directory)
            keep(name, directory, ["package.json", "pnpm-lock.yaml"])


def python(work: Path, versions: dict[str, str]) -> None:
    venv = work / "venv"
    run([sys.executable, "-m", "venv", str(venv)], work)
    run([str(venv / "bin" / "pip"), "install", "--quiet", *PYPI_TOOLS], work)
    tool = venv / "bin"
    for name in ("pipenv", "uv", "poetry", "pdm"):
        versions[name] = run([str(tool / name), "--version"], work)

    pipenv_dir = work / "pipenv"
    pipenv_dir.mkdir()
    (pipenv_dir / "Pipfile").write_text(PIPFILE)
    run([str(tool / "pipenv"), "lock"], pipenv_dir, {"PIPENV_YES": "1", "WORKON_HOME": str(work / "venvs")})
    keep("pipenv", pipenv_dir, ["Pipfile", "Pipfile.lock"])

    uv_dir = work / "uv"
    uv_dir.mkdir()
    (uv_dir / "pyproject.toml").write_text(PYPROJECT)
    run([str(tool / "uv"), "lock"], uv_dir)
    run([str(tool / "uv"), "export", "--format", "pylock.toml", "-o", "pylock.toml"], uv_dir)
    keep("uv", uv_dir, ["pyproject.toml", "uv.lock"])
    keep("pylock-uv", uv_dir, ["pyproject.toml", "pylock.toml"])

    pdm_dir = work / "pdm"
    pdm_dir.mkdir()
    (pdm_dir / "pyproject.toml").write_text(PYPROJECT)
    run([str(tool / "pdm"), "config", "-l", "lock.format", "pylock"], pdm_dir)
    run([str(tool / "pdm"), "lock", "-G", ":all"], pdm_dir)
    keep("pylock-pdm", pdm_dir, ["pyproject.toml", "pylock.toml"])

    poetry_dir = work / "poetry"
    poetry_dir.mkdir()
    (poetry_dir / "pyproject.toml").write_text(POETRY_PYPROJECT)
    run([str(tool / "poetry"), "lock"], poetry_dir)
    keep("poetry", poetry_dir, ["pyproject.toml", "poetry.lock"])


def golang(work: Path, versions: dict[str, str]) -> None:
    env = {"GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local", "GOMODCACHE": str(work / "gomodcache")}
    versions["go"] = run(["go", "version"], work)
    directory = work / "gomod"
    (directory / "local").mkdir(parents=True)
    (directory / "go.mod").write_text(GO_MOD)
    (directory / "main.go").write_text(GO_MAIN)
    (directory / "local" / "go.mod").write_text("module example.com/local\n\ngo 1.21\n")
    (directory / "local" / "local.go").write_text('package local\n\nconst Name = "local"\n')
    run(["go", "mod", "tidy"], directory, env)
    run(
        [
            "go",
            "mod",
            "download",
            "github.com/google/uuid@v1.3.0",
            "github.com/google/uuid@v1.6.0",
            "github.com/pkg/errors@v0.9.1",
        ],
        directory,
        env,
    )
    keep("gomod", directory, ["go.mod", "go.sum", "main.go", "local/go.mod", "local/local.go"])
    proxy = fresh("goproxy")
    cache = work / "gomodcache" / "cache" / "download"
    for module, version, files in (
        ("github.com/google/uuid", "v1.3.0", (".info", ".mod")),
        ("github.com/google/uuid", "v1.6.0", (".info", ".mod", ".zip")),
        ("github.com/pkg/errors", "v0.9.1", (".info", ".mod", ".zip")),
    ):
        target = proxy / module / "@v"
        target.mkdir(parents=True, exist_ok=True)
        for suffix in files:
            shutil.copy2(cache / module / "@v" / f"{version}{suffix}", target / f"{version}{suffix}")

    old = work / "gomod-1.16"
    old.mkdir()
    (old / "go.mod").write_text(GO_116_MOD)
    (old / "main.go").write_text(GO_116_MAIN)
    run(["go", "mod", "tidy", "-go=1.16"], old, env)
    keep("gomod-1.16", old, ["go.mod", "go.sum", "main.go"])


def rust(work: Path, versions: dict[str, str]) -> None:
    versions["cargo"] = run(["cargo", "--version"], work)
    directory = work / "cargo"
    (directory / "src").mkdir(parents=True)
    (directory / "member" / "src").mkdir(parents=True)
    (directory / "Cargo.toml").write_text(CARGO_TOML)
    (directory / "src" / "main.rs").write_text("fn main() {}\n")
    (directory / "member" / "Cargo.toml").write_text(
        '[package]\nname = "member"\nversion = "0.1.0"\nedition = "2021"\n'
    )
    (directory / "member" / "src" / "lib.rs").write_text("")
    run(["cargo", "generate-lockfile"], directory)
    keep("cargo", directory, ["Cargo.toml", "Cargo.lock", "member/Cargo.toml"])


def php(work: Path, versions: dict[str, str]) -> None:
    env = {"COMPOSER_ALLOW_SUPERUSER": "1", "COMPOSER_HOME": str(work / "composer-home")}
    versions["composer"] = run(["composer", "--version"], work, env)
    directory = work / "composer"
    for name, version, licence, require in COMPOSER_PACKAGES:
        package_dir = directory / "pkgs" / name.split("/")[1]
        package_dir.mkdir(parents=True)
        manifest = {
            "name": name,
            "version": version,
            "license": licence,
            "type": "library",
            "require": require,
        }
        (package_dir / "composer.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (directory / "composer.json").write_text(json.dumps(COMPOSER_JSON, indent=2) + "\n")
    run(["composer", "update", "--no-install", "--no-interaction"], directory, env)
    keep("composer", directory, ["composer.json", "composer.lock"])


def ruby(work: Path, versions: dict[str, str]) -> None:
    versions["bundler"] = run(["bundle", "--version"], work)
    directory = work / "bundler"
    (directory / "local_gem").mkdir(parents=True)
    (directory / "local_gem" / "local_gem.gemspec").write_text(GEMSPEC)
    (directory / "Gemfile").write_text(GEMFILE)
    run(["bundle", "lock", "--local"], directory, {"BUNDLE_APP_CONFIG": str(work / "bundle-config")})
    keep("bundler", directory, ["Gemfile", "Gemfile.lock"])


def keep(name: str, directory: Path, files: list[str]) -> None:
    target = fresh(name)
    for relative in files:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(directory / relative, target / relative)


def main() -> None:
    versions: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="shipflow-lockfiles-") as tmp:
        work = Path(tmp)
        for step in (javascript, python, golang, rust, php, ruby):
            step(work, versions)
    (HERE / "versions.json").write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n")
    print(json.dumps(versions, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
