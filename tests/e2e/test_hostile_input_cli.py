"""Hostile input through the ``shipflow`` command (issue 11 items 3-5 and 7; issue 7 items 3
and 7): bounded reads with one clean error, no tracebacks on deeply nested documents, the
documented exit codes (130 on Ctrl-C, 3 on a full disk, 2 for usage), one ``error:`` and one
``hint:`` line, user text printed as typed with control characters escaped, cosign's
``env://`` key references and Trivy's ``.trivyignore.yaml``.

Most commands run in-process through the real entry point (``main()``, exit codes included);
those that need a real process (a signal, a memory limit, log lines on stderr) run
``python -m shipflow.cli.main``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipflow.oci.layout import LayoutStore
from shipflow.signing import encrypt_private_key, generate_private_key
from support.signing import make_image

DATA = Path(__file__).resolve().parents[1] / "data"
PROJECT = DATA / "osv" / "project"
DEEP = b"[" * 100_000 + b"]" * 100_000
PASSWORD = "hostile-e2e-password"


class Shipflow:
    """``shipflow ARGS`` in this process, through ``main()``; a CompletedProcess back."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], db: Path) -> None:
        self.monkeypatch, self.capsys, self.db = monkeypatch, capsys, db

    def __call__(
        self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        from shipflow.cli.main import main

        with self.monkeypatch.context() as patch:
            for name in [k for k in os.environ if k.startswith("COSIGN_")]:
                patch.delenv(name)
            patch.setenv("SHIPFLOW_DB", str(self.db))
            patch.delenv("GITHUB_STEP_SUMMARY", raising=False)
            if cwd is not None:
                patch.chdir(cwd)
            for key, value in (env or {}).items():
                patch.setenv(key, value)
            patch.setattr(sys, "argv", ["shipflow", *args])
            self.capsys.readouterr()
            with pytest.raises(SystemExit) as exited:
                main()
            out, err = self.capsys.readouterr()
        return subprocess.CompletedProcess(list(args), int(exited.value.code or 0), out, err)


def run_process(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, memory: int | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command in a child process; ``memory`` caps its address space (bytes)."""

    def limit() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    base = {k: v for k, v in os.environ.items() if not k.startswith(("COSIGN_", "GITHUB_"))}
    return subprocess.run(
        [sys.executable, "-m", "shipflow.cli.main", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        preexec_fn=limit,
        check=False,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.fixture
def shipflow(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Shipflow:
    return Shipflow(monkeypatch, capsys, tmp_path / "advisories.db")


@pytest.fixture
def image(tmp_path: Path) -> str:
    store = LayoutStore(tmp_path / "layout", create=True)
    make_image(store, "hostile", tag="v1")
    return f"oci:{tmp_path / 'layout'}:v1"


@pytest.fixture
def key_files(tmp_path: Path) -> tuple[Path, Path]:
    key = generate_private_key()
    private, public = tmp_path / "cosign.key", tmp_path / "cosign.pub"
    private.write_bytes(encrypt_private_key(key, PASSWORD.encode(), scrypt_n=32768))
    public.write_bytes(key.verifier.pem)
    return private, public


# --- bounded reads: one clean error, exit 2, bounded memory --------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("sign", "{image}", "--key", "/dev/zero"),
        ("sign", "{image}", "--key", "/dev/urandom"),
        ("attest", "{image}", "--key", "{key}", "--predicate", "/dev/zero"),
    ],
    ids=["sign-key-dev-zero", "sign-key-dev-urandom", "attest-predicate-dev-zero"],
)
def test_devices_are_refused_at_once_in_bounded_memory(
    args: tuple[str, ...], image: str, key_files: tuple[Path, Path]
) -> None:
    argv = [a.format(image=image, key=key_files[0]) for a in args]
    started = time.monotonic()
    result = run_process(*argv, env={"COSIGN_PASSWORD": PASSWORD}, memory=1 << 30)  # 1 GiB address space
    assert result.returncode == 2, result.stderr
    lines = error_lines(result.stderr)
    assert lines[0].startswith("error: ") and "is not a regular file" in lines[0]
    assert len(lines) == 2 and lines[1].startswith("hint: ")
    assert time.monotonic() - started < 120  # generous: before the fix /dev/urandom never ended


def test_deep_predicate_is_one_error(
    shipflow: Shipflow, image: str, key_files: tuple[Path, Path], tmp_path: Path
) -> None:
    predicate = tmp_path / "deep.json"
    predicate.write_bytes(DEEP)
    result = shipflow(
        "attest",
        image,
        "--key",
        str(key_files[0]),
        "--predicate",
        str(predicate),
        env={"COSIGN_PASSWORD": PASSWORD},
    )
    assert result.returncode == 2
    assert error_lines(result.stderr)[-2:] == [
        "error: the predicate is nested more than 127 levels deep",
        "hint: pass a JSON document (SPDX JSON, CycloneDX JSON, …)",
    ]


# --- no tracebacks on deep documents --------------------------------------------------------------


def test_sbom_and_scan_of_a_tree_with_deep_package_files(tmp_path: Path) -> None:
    tree = tmp_path / "src"
    (tree / "node_modules/evil").mkdir(parents=True)
    (tree / "node_modules/evil/package.json").write_bytes(DEEP)
    (tree / "package-lock.json").write_bytes(b'{"packages": ' + DEEP + b"}")
    result = run_process("sbom", str(tree), "--format", "cyclonedx-json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "not read: package-lock.json: JSON nested too deeply" in result.stderr
    assert json.loads(result.stdout)["bomFormat"] == "CycloneDX"


@pytest.fixture
def db_with_records(shipflow: Shipflow, tmp_path: Path) -> Path:
    result = shipflow("db", "import", str(DATA / "osv" / "records"))
    assert result.returncode == 0, result.stderr
    return shipflow.db


@pytest.mark.parametrize("option", ["--vex", "sbom", "--ignore-file"])
def test_scan_with_a_deep_document_names_it(
    shipflow: Shipflow, db_with_records: Path, tmp_path: Path, option: str
) -> None:
    deep = tmp_path / ("deep.yaml" if option == "--ignore-file" else "deep.json")
    deep.write_bytes(b"[" * 100_000 if option == "--ignore-file" else DEEP)
    args = [str(deep)] if option == "sbom" else [str(PROJECT), option, str(deep)]
    result = shipflow("scan", *args)
    assert result.returncode == 2, result.stderr
    [error, hint] = error_lines(result.stderr)
    assert error.startswith("error: ") and str(deep) in error and "nested more than 128 levels deep" in error
    assert hint.startswith("hint: ")


def test_db_import_of_a_deep_record_and_of_a_malformed_one(shipflow: Shipflow, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(DEEP)
    result = shipflow("db", "import", str(deep))
    assert result.returncode == 2 and "deep.json is nested more than 128 levels deep" in result.stderr
    src = tmp_path / "osv"
    shutil.copytree(DATA / "osv" / "records", src)
    record = json.loads((src / "GHSA-p6mc-m468-83gw.json").read_text())
    record["affected"][0]["ranges"][0]["events"] = "introduced"
    (src / "GHSA-p6mc-m468-83gw.json").write_text(json.dumps(record))
    imported = shipflow("db", "import", str(src))
    assert imported.returncode == 0, imported.stderr
    assert "GHSA-p6mc-m468-83gw is not a valid OSV record (affected[0].ranges[0].events" in imported.stderr
    assert "5 added" in imported.stderr and "1 skipped" in imported.stderr
    scanned = shipflow("scan", str(PROJECT), "--format", "json")
    assert scanned.returncode == 0, scanned.stderr
    ids = {f["id"] for f in json.loads(scanned.stdout)["findings"]}
    assert "GHSA-35jh-r3h4-6jhm" in ids and "GHSA-p6mc-m468-83gw" not in ids


# --- exit codes and messages ---------------------------------------------------------------------


def test_fail_on_empty_is_a_usage_error(shipflow: Shipflow, db_with_records: Path) -> None:
    result = shipflow("scan", str(PROJECT), "--fail-on", "")
    assert result.returncode == 2
    assert error_lines(result.stderr)[0] == "error: empty severity in ''"


def test_scan_of_a_missing_path_says_so(shipflow: Shipflow, db_with_records: Path) -> None:
    result = shipflow("scan", "/nonexistent")
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "error: /nonexistent: no such file or directory",
        "hint: check the path; an image in a layout is written oci:PATH[:TAG]",
    ]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("scan",), "error: Missing argument 'TARGET'."),
        (("sign", "x", "--nope"), "error: No such option '--nope'."),
        (("scan", "x", "--format", "nope"), "error: Invalid value for '--format': 'nope' is not one of"),
        (("no-such-command",), "error: No such command 'no-such-command'."),
    ],
)
def test_click_usage_errors_are_one_error_and_one_hint(
    shipflow: Shipflow, args: tuple[str, ...], error: str
) -> None:
    result = shipflow(*args)
    assert result.returncode == 2
    lines = error_lines(result.stderr)
    assert len(lines) == 2, lines
    assert lines[0].startswith(error), lines
    assert lines[1].startswith("hint: `shipflow") and lines[1].endswith("--help` shows the usage")


def test_yaml_errors_are_one_error_and_one_hint(
    shipflow: Shipflow, db_with_records: Path, tmp_path: Path
) -> None:
    bad = tmp_path / ".shipflowignore.yaml"
    bad.write_text("ignore:\n  - id: CVE-1\n  reason: [\n")
    result = shipflow("scan", str(PROJECT), "--ignore-file", str(bad))
    assert result.returncode == 2
    [error, hint] = error_lines(result.stderr)
    assert error.startswith(f"error: ignore file {bad} is not valid YAML: line ")
    assert hint.startswith("hint: ")


def test_user_text_is_not_markup_and_control_bytes_are_escaped(shipflow: Shipflow, tmp_path: Path) -> None:
    """Issue 7 item 3: a message containing ``[/x]`` and ``[b]``."""
    weird = f"{tmp_path}/[/x][b]bold[/b]\x1b[2J\x07/missing"
    result = shipflow("scan", weird)
    assert result.returncode == 2
    [error, _] = error_lines(result.stderr)
    assert error == f"error: {tmp_path}/[/x][b]bold[/b]\\x1b[2J\\x07/missing: no such file or directory"
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs, filled up (mounting needs root, as CI runs)."""
    disk = tmp_path / "full"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.fail(f"this test mounts a 64 KiB tmpfs to fill (run as root): {mounted.stderr.strip()}")
    try:
        with open(disk / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError:
                pass  # full
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_keygen_on_a_full_disk_is_an_infrastructure_error(shipflow: Shipflow, full_disk: Path) -> None:
    result = shipflow(
        "keygen", "--output-key-prefix", str(full_disk / "cosign"), env={"COSIGN_PASSWORD": "pw"}
    )
    assert result.returncode == 3, result.stderr
    [error, hint] = error_lines(result.stderr)
    assert error == f"error: cannot write private key {full_disk / 'cosign.key'}: No space left on device"
    assert hint == "hint: the disk is full: free some space and run the command again"
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]  # no half-written key, no temp file


def test_db_import_and_reports_on_a_full_disk_are_infrastructure_errors(
    shipflow: Shipflow, db_with_records: Path, full_disk: Path
) -> None:
    imported = shipflow("db", "import", str(DATA / "osv" / "records"), "--db", str(full_disk / "adv.db"))
    assert imported.returncode == 3, imported.stderr
    assert (
        f"error: cannot write the advisory database {full_disk / 'adv.db'}: No space left" in imported.stderr
    )
    assert "hint: the disk is full" in imported.stderr
    report = shipflow("scan", str(PROJECT), "--format", "sarif", "-o", str(full_disk / "report.sarif"))
    assert report.returncode == 3, report.stderr
    assert (
        f"error: cannot write report {full_disk / 'report.sarif'}: No space left on device" in report.stderr
    )
    assert not (full_disk / "adv.db").exists() and not (full_disk / "report.sarif").exists()


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """A TCP server that accepts and never answers: a command talking to it waits."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(120)
    yield server
    server.close()


def test_ctrl_c_exits_130_with_interrupted(silent_server: socket.socket) -> None:
    port = silent_server.getsockname()[1]
    base = {k: v for k, v in os.environ.items() if not k.startswith("COSIGN_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipflow.cli.main", "inspect", f"127.0.0.1:{port}/hostile/app:v1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=base,
    )
    try:
        connection, _ = silent_server.accept()  # the command is now waiting for the registry
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        connection.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert error_lines(err) == ["error: interrupted"]
    assert "Traceback" not in err and out == ""


# --- conventions users bring: env:// keys, .trivyignore.yaml -----------------------------------


def test_sign_and_verify_with_env_key_references(
    shipflow: Shipflow, image: str, key_files: tuple[Path, Path]
) -> None:
    env = {
        "RELEASE_KEY": key_files[0].read_text(),
        "RELEASE_PUB": key_files[1].read_text(),
        "COSIGN_PASSWORD": PASSWORD,
    }
    signed = shipflow("sign", image, "--key", "env://RELEASE_KEY", env=env)
    assert signed.returncode == 0, signed.stderr
    verified = shipflow("verify", image, "--key", "env://RELEASE_PUB", "--json", env=env)
    assert verified.returncode == 0, verified.stderr
    assert len(json.loads(verified.stdout)) == 1
    missing = shipflow("verify", image, "--key", "env://NO_SUCH_PUB", env=env)
    assert missing.returncode == 2 and "environment variable $NO_SUCH_PUB is not set" in missing.stderr


def test_scan_reads_trivyignore_yaml_in_the_working_directory(
    shipflow: Shipflow, db_with_records: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    shutil.copytree(PROJECT, work)
    (work / ".trivyignore.yaml").write_text(
        "vulnerabilities:\n"
        "  - id: CVE-2020-8203\n"
        "    purls: ['pkg:npm/lodash']\n"
        "    paths: ['package-lock.json']\n"
        "    statement: zipObjectDeep is not reachable\n"
        "  - id: CVE-2021-23337\n"
        "    expired_at: 2020-01-01\n"
    )
    result = shipflow("scan", ".", "--format", "json", "--fail-on", "CRITICAL", cwd=work)
    report = json.loads(result.stdout)
    suppressed = {s["id"]: s["suppression"] for s in report["suppressed"]}
    assert suppressed["GHSA-p6mc-m468-83gw"]["reason"] == "zipObjectDeep is not reachable"
    assert suppressed["GHSA-p6mc-m468-83gw"]["source"].endswith(".trivyignore.yaml")
    assert "GHSA-35jh-r3h4-6jhm" in {f["id"] for f in report["findings"]}  # the expired entry ignores nothing
