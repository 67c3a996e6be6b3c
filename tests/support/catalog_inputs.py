"""Real inputs for the cataloger tests, made at test time by the real tools, offline:

* :func:`go_build`: the fixture Go module (tests/data/lockfiles/gomod) built by ``go build``
  for any GOOS/GOARCH, its dependencies served from the committed module-proxy directory
  (``GOPROXY=file://…``) into a private module cache;
* :func:`jar` / :func:`java_archives`: jars, a war and an ear made by the JDK's ``jar``;
* :func:`rpm_database`: the packages of tests/data/rpm/specs built by ``rpmbuild`` and
  installed by ``rpm`` into a fresh ``rpmdb.sqlite``, with what ``rpm -qa`` says of them;
  :func:`berkeley_database` writes the same headers as rpm < 4.16's ``Packages`` with
  ``db5.3_load``.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import subprocess
from pathlib import Path

import pytest

from fixtures.procs import require_binary
from support.paths import DATA_DIR

GO_PROJECT = DATA_DIR / "lockfiles" / "gomod"
GO_PROXY = DATA_DIR / "lockfiles" / "goproxy"
RPM_SPECS = DATA_DIR / "rpm" / "specs"
RPM_QUERY = r"%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\t%{LICENSE}\n"


def run(
    args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: int = 900
) -> str:
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        output = f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        pytest.fail(f"{' '.join(args)} failed ({result.returncode}):\n{output}")
    return result.stdout


def go_build(destination: Path, goos: str = "linux", goarch: str = "amd64") -> Path:
    """The fixture module compiled for ``goos/goarch`` (stripped, trimpath), offline."""
    go = require_binary("go")
    work = destination.parent / f"gomod-{goos}-{goarch}"
    shutil.copytree(GO_PROJECT, work)
    env = {
        **os.environ,
        "GOOS": goos,
        "GOARCH": goarch,
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=mod",
        "GOPROXY": f"file://{GO_PROXY}",
        "GOSUMDB": "off",
        "GONOSUMDB": "*",
        "GOTOOLCHAIN": "local",
        "GOMODCACHE": str(destination.parent / "gomodcache"),
    }
    run([go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(destination), "."], cwd=work, env=env)
    return destination


def go_version_m(binary: Path) -> list[tuple[str, str]]:
    """What ``go version -m`` (Go's own reader) says a binary was built from: (path, version)
    of the main module and every dependency (replacements applied), and stdlib."""
    go = require_binary("go")
    output = run([go, "version", "-m", str(binary)])
    lines = output.splitlines()
    found: list[tuple[str, str]] = []
    go_version = lines[0].split(": ", 1)[1].strip()
    for line in lines[1:]:
        fields = line.strip().split("\t")
        if fields[0] in ("mod", "dep") and len(fields) >= 3:
            found.append((fields[1], fields[2]))
        elif fields[0] == "=>" and found:
            found[-1] = (fields[1], fields[2])
    return [("stdlib", go_version), *found]


def jar(
    destination: Path, members: dict[str, bytes], *, manifest: bytes | None = None, stored: bool = False
) -> Path:
    """A jar written by the JDK's ``jar`` tool from ``members``."""
    tool = require_binary("jar")
    tree = destination.parent / f".{destination.name}.d"
    shutil.rmtree(tree, ignore_errors=True)
    for name, data in members.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(data)
    args = [tool, "--create", "--file", str(destination)]
    if stored:
        args.append("--no-compress")
    if manifest is not None:
        (destination.parent / f".{destination.name}.mf").write_bytes(manifest)
        args += ["--manifest", str(destination.parent / f".{destination.name}.mf")]
    run([*args, "-C", str(tree), "."])
    return destination


def pom_properties(group: str, artifact: str, version: str) -> dict[str, bytes]:
    return {
        f"META-INF/maven/{group}/{artifact}/pom.properties": (
            f"artifactId={artifact}\ngroupId={group}\nversion={version}\n".encode()
        )
    }


def java_archives(directory: Path) -> dict[str, Path]:
    """A war (with two library jars), an ear holding that war, a fat jar with stored nested
    jars, and a manifest-only OSGi bundle; all made by ``jar``."""
    directory.mkdir(parents=True, exist_ok=True)
    greeter = (DATA_DIR / "java" / "greeter-1.4.2.jar").read_bytes()
    lib = jar(directory / "commons-text-1.9.jar", pom_properties("org.apache.commons", "commons-text", "1.9"))
    bundle = jar(
        directory / "org.osgi.util.function-1.2.0.jar",
        {"org/osgi/util/function/package-info.class": b"\xca\xfe\xba\xbe"},
        manifest=b"Manifest-Version: 1.0\nBundle-SymbolicName: org.osgi.util.function\n"
        b"Bundle-Version: 1.2.0\n",
    )
    war = jar(
        directory / "shop.war",
        {
            **pom_properties("com.example", "shop", "3.0.0"),
            "WEB-INF/web.xml": b"<web-app/>",
            "WEB-INF/lib/commons-text-1.9.jar": lib.read_bytes(),
            "WEB-INF/lib/greeter-1.4.2.jar": greeter,
        },
    )
    ear = jar(
        directory / "shop.ear", {"shop.war": war.read_bytes(), "META-INF/application.xml": b"<application/>"}
    )
    fat = jar(
        directory / "service.jar",
        {
            **pom_properties("com.example", "service", "0.9.1"),
            "BOOT-INF/lib/greeter-1.4.2.jar": greeter,
            "BOOT-INF/lib/org.osgi.util.function-1.2.0.jar": bundle.read_bytes(),
        },
        stored=True,
    )
    return {"war": war, "ear": ear, "fat": fat, "bundle": bundle}


def rpm_database(directory: Path) -> tuple[Path, list[dict[str, str]]]:
    """``rpmdb.sqlite`` in ``directory`` holding the spec packages, and ``rpm -qa`` of it."""
    rpmbuild, rpm = require_binary("rpmbuild"), require_binary("rpm")
    top = directory.parent / f"{directory.name}-rpmbuild"
    for spec in sorted(RPM_SPECS.glob("*.spec")):
        run([rpmbuild, "--define", f"_topdir {top}", "-bb", str(spec)])
    directory.mkdir(parents=True, exist_ok=True)
    run([rpm, "--initdb", "--dbpath", str(directory)])
    packages = sorted(str(p) for p in top.glob("RPMS/*/*.rpm"))
    run([rpm, "--dbpath", str(directory), "-i", "--justdb", "--nodeps", "--noscripts", *packages])
    fields = ("name", "epoch", "version", "release", "arch", "sourcerpm", "license")
    listing = run([rpm, "--dbpath", str(directory), "-qa", "--qf", RPM_QUERY])
    return directory / "rpmdb.sqlite", [
        dict(zip(fields, line.split("\t"), strict=True)) for line in listing.splitlines()
    ]


def berkeley_database(sqlite_db: Path, destination: Path) -> Path:
    """The headers of ``sqlite_db`` as a Berkeley DB hash ``Packages`` file (db5.3_load)."""
    load = require_binary("db5.3_load")
    connection = sqlite3.connect(sqlite_db)
    rows = connection.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
    connection.close()
    lines = ["VERSION=3", "format=bytevalue", "type=hash", "db_pagesize=4096", "HEADER=END"]
    lines += [" " + struct.pack("<I", 0).hex(), " " + struct.pack("<I", len(rows)).hex()]
    for hnum, blob in rows:
        lines += [" " + struct.pack("<I", hnum).hex(), " " + bytes(blob).hex()]
    lines.append("DATA=END")
    destination.parent.mkdir(parents=True, exist_ok=True)
    dump = destination.parent / "packages.dump"
    dump.write_text("\n".join(lines) + "\n")
    run([load, "-f", str(dump), str(destination)])
    dump.unlink()
    return destination
