"""shipflow's Go build-info reader against Go's own (``go version -m``): the fixture module
built by ``go build`` as ELF (linux), Mach-O (darwin/arm64) and PE (windows), offline from the
committed module-proxy files, and the Go binaries this machine has (the ``go`` command, the
peers built from the module proxy). The first cross-compiles of the standard library take a
few minutes on these machines; Go's build cache keeps them afterwards."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixtures.procs import require_binary
from shipflow.sbom.catalogers.executables import is_executable_magic, read_build_info
from shipflow.sbom.catalogers.gobinary import modules, parse_modinfo
from support.catalog_inputs import go_build, go_version_m

PEERS = Path(os.environ.get("SHIPFLOW_PEERS_BIN", "/opt/shipflow-peers/bin"))


def _ours(binary: Path) -> list[tuple[str, str]]:
    found = read_build_info(binary.read_bytes())
    assert found is not None, binary
    info = parse_modinfo(*found)
    return sorted(modules(info))


def _theirs(binary: Path) -> list[tuple[str, str]]:
    expected = []
    for path, version in go_version_m(binary):
        if path == "stdlib":
            # experiments follow the version ("go1.26.8-X:jsonv2"); advisories name the version
            release = version.split()[0].split("-X:")[0].removeprefix("go")
            expected.append(("stdlib", "v" + release))
        elif version != "(devel)":
            expected.append((path, version))
    return sorted(expected)


@pytest.mark.parametrize(
    ("goos", "goarch", "magic"),
    [("linux", "amd64", b"\x7fELF"), ("darwin", "arm64", b"\xcf\xfa\xed\xfe"), ("windows", "amd64", b"MZ")],
)
def test_fixture_module_in_each_executable_format(
    tmp_path: Path, goos: str, goarch: str, magic: bytes
) -> None:
    binary = go_build(tmp_path / f"app-{goos}", goos, goarch)
    assert binary.read_bytes().startswith(magic)
    assert _ours(binary) == _theirs(binary)
    assert ("github.com/google/uuid", "v1.6.0") in _ours(binary)  # the replacement, not v1.3.0


def test_real_go_binaries_of_this_machine() -> None:
    """The go command, the peers (module builds), and Debian's own skopeo and buildah (GOPATH
    builds: their build info names no modules, only the toolchain)."""
    binaries = [Path(require_binary(name)).resolve() for name in ("go", "skopeo", "buildah")]
    binaries += sorted(p for p in PEERS.glob("*") if p.is_file() and os.access(p, os.X_OK))
    checked = 0
    for binary in binaries:
        with binary.open("rb") as handle:
            if not is_executable_magic(handle.read(64)):
                continue  # a wrapper script
        assert _ours(binary) == _theirs(binary), binary
        checked += 1
    assert checked >= 4  # go, skopeo, buildah and at least crane (installed by .ci/run)
