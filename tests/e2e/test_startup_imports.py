"""Start-up guards (issue 7 item 6): what a command imports is what it costs before it does
anything, so the commands whose speed was worked for must not silently import the heavy
libraries again. Each case runs the real entry point in a fresh interpreter and reads back the
modules it ended with (sys.modules at exit).

* ``shipflow --version``: answered before click, rich or httpx is imported;
* ``import shipflow.cli.main``: click, but neither rich nor the registry client;
* commands on an OCI layout (``inspect``, ``sbom``, ``scan``): never the registry client
  (httpx, httpcore); ``inspect`` not even the registry settings or the copy engine;
  ``inspect`` and ``scan --format json`` to a pipe: no rich either; a scan without
  ``--attest``: not the signing stack (cryptography, PyNaCl).

The timings themselves are measured by benchmarks/startup.py, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipflow import __version__
from shipflow.oci.layout import LayoutStore
from shipflow.scan import import_paths
from support.layout_images import build_image, put_image

DATA = Path(__file__).resolve().parents[1] / "data"

# Runs the console script's entry point with the given arguments; at exit, writes the names of
# every imported module to $IMPORTS_REPORT (not the names main.py blocks with None: httpx._main).
DRIVER = """\
import atexit, json, os, sys
report = os.environ["IMPORTS_REPORT"]
loaded = lambda: sorted(name for name, module in sys.modules.items() if module is not None)
atexit.register(lambda: open(report, "w").write(json.dumps(loaded())))
sys.argv[:] = ["shipflow", *sys.argv[1:]]
from shipflow.cli.entry import main
main()
"""

REGISTRY_CLIENT = ("httpx", "httpcore", "h11", "shipflow.oci.registry.client")
RENDERING = ("rich", "rich.console")
SIGNING = ("cryptography", "nacl", "shipflow.signing.keys")


def run_entry(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    report = tmp_path / f"imports-{len(list(tmp_path.glob('imports-*')))}.json"
    env = {**os.environ, "IMPORTS_REPORT": str(report)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    modules = set(json.loads(report.read_text())) if report.exists() else set()
    assert modules, f"the driver wrote no module list:\n{result.stderr}"
    return result, modules


def imported(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_version_is_answered_before_click_rich_or_httpx(tmp_path: Path) -> None:
    result, modules = run_entry(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"shipflow, version {__version__}\n"
    assert imported(modules, ("click", *RENDERING, *REGISTRY_CLIENT)) == []
    # The same text click's version option prints on the full command line.
    full = subprocess.run(
        [sys.executable, "-m", "shipflow.cli.main", "--version"], capture_output=True, text=True, timeout=120
    )
    assert full.returncode == 0 and full.stdout == result.stdout


def test_importing_the_cli_imports_neither_rich_nor_the_registry_client() -> None:
    code = (
        "import json, sys\nimport shipflow.cli.main\n"
        "print(json.dumps(sorted(n for n, m in sys.modules.items() if m is not None)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    modules = set(json.loads(out.stdout))
    assert "click" in modules  # the command tree is click's
    assert imported(modules, (*RENDERING, *REGISTRY_CLIENT, *SIGNING)) == []


@pytest.fixture(scope="module")
def layout_and_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A small Debian-like image (dpkg status, os-release, an npm and a Python package) in an OCI
    layout, and an advisory DB with a lodash record."""
    root = tmp_path_factory.mktemp("startup")
    status = (
        b"Package: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\n"
        b"Source: glibc\n\nPackage: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n"
        b"Architecture: amd64\nSource: zlib\n"
    )
    files = {
        "etc/os-release": b'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
        "var/lib/dpkg/status": status,
        "app/node_modules/lodash/package.json": b'{"name": "lodash", "version": "4.17.15", "license": "MIT"}',
        "usr/lib/python3/site-packages/six-1.16.0.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n\n"
        ),
    }
    store = LayoutStore(root / "layout", create=True)
    put_image(store, build_image(files), "v1")
    db = root / "advisories.db"
    import_paths([DATA / "osv" / "records"], db)
    return f"oci:{root / 'layout'}:v1", db


def test_inspect_of_a_layout_imports_no_registry_client_and_no_rich(
    tmp_path: Path, layout_and_db: tuple[str, Path]
) -> None:
    ref, _ = layout_and_db
    for args in (["inspect", ref], ["inspect", ref, "--json"], ["inspect", ref, "--raw"]):
        result, modules = run_entry(tmp_path, *args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip()
        assert imported(modules, (*REGISTRY_CLIENT, *RENDERING)) == [], args
        # nor the registry settings (read only for a registry) nor the copy engine
        assert imported(modules, ("shipflow.oci.registry", "shipflow.oci.copy")) == [], args


def test_scan_of_a_layout_imports_no_registry_client_no_signing_and_no_rich(
    tmp_path: Path, layout_and_db: tuple[str, Path]
) -> None:
    ref, db = layout_and_db
    result, modules = run_entry(
        tmp_path, "scan", ref, "--db", str(db), "--format", "json", "--max-db-age", "off"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert any(f["package"]["name"] == "lodash" for f in report["findings"]), report["findings"]
    assert imported(modules, (*REGISTRY_CLIENT, *SIGNING, *RENDERING)) == []


def test_sbom_of_a_layout_imports_no_registry_client_and_no_signing(
    tmp_path: Path, layout_and_db: tuple[str, Path]
) -> None:
    ref, _ = layout_and_db
    result, modules = run_entry(tmp_path, "sbom", ref, "--format", "spdx-json")
    assert result.returncode == 0, result.stderr
    names = {p["name"] for p in json.loads(result.stdout)["packages"]}
    assert {"libc6", "zlib1g", "lodash", "six"} <= names
    assert imported(modules, (*REGISTRY_CLIENT, *SIGNING, "license_expression", "cyclonedx")) == []
