"""docker credential helpers (``credsStore``, ``credHelpers``), run as crane/skopeo/cosign run them.

Each test writes a real helper: a small shell script ``docker-credential-<name>`` in a
directory it puts first on PATH, which logs its arguments and stdin and answers as the
docker-credential-helpers protocol says. The registries are real (htpasswd Basic auth, and
token auth with the real token server for identity tokens).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.registry import AUTH_PASSWORD, AUTH_USER, Registry
from fixtures.tokenserver import REFRESH_TOKEN, TokenServer
from shipflow.errors import AuthError, ConfigError, InfrastructureError
from shipflow.oci.registry import credentials as credentials_module
from shipflow.oci.registry.client import RegistryClient
from shipflow.oci.registry.config import RegistryConfig
from shipflow.oci.registry.credentials import resolve_credentials
from shipflow.oci.registry.store import RegistryStore

SENTINEL = "sentinel-helper-secret-7f3a9c"


def write_helper(directory: Path, name: str, body: str) -> Path:
    """``directory/docker-credential-<name>``: a shell script logging to ``directory/calls``."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / f"docker-credential-{name}"
    script.write_text(
        "#!/bin/sh\n"
        f'log="{directory}/calls"\n'
        'printf "%s " "$@" >> "$log"\n'
        "read -r server\n"
        'printf "| %s\\n" "$server" >> "$log"\n'
        f"{body}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def answer(username: str, secret: str) -> str:
    doc = json.dumps({"ServerURL": "x", "Username": username, "Secret": secret})
    return f"printf '%s' '{doc}'"


def docker_config(tmp_path: Path, doc: dict[str, object]) -> Path:
    path = tmp_path / "docker" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def helpers_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "helpers"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    return directory


def calls(directory: Path) -> list[str]:
    log = directory / "calls"
    return log.read_text().splitlines() if log.exists() else []


def _store(registry: Registry, repo: str, config: RegistryConfig) -> RegistryStore:
    return RegistryStore(RegistryClient(registry.host, config), repo)


@pytest.mark.parametrize("where", ["credHelpers", "credsStore"])
def test_helper_credentials_open_a_basic_auth_registry(
    auth_registry: Registry, helpers_dir: Path, tmp_path: Path, repo_name: str, where: str
) -> None:
    write_helper(helpers_dir, "shipflowtest", answer(AUTH_USER, AUTH_PASSWORD))
    doc: dict[str, object] = (
        {"credHelpers": {auth_registry.host: "shipflowtest"}}
        if where == "credHelpers"
        else {"credsStore": "shipflowtest", "auths": {auth_registry.host: {}}}
    )
    config = RegistryConfig(docker_config=docker_config(tmp_path, doc))
    creds = resolve_credentials(auth_registry.host, config)
    assert creds.source == "credential-helper" and creds.username == AUTH_USER
    store = _store(auth_registry, repo_name, config)
    try:
        assert store.list_tags() == []  # authenticated: a 401 would raise AuthError
    finally:
        store.client.close()
    # Run once by resolve_credentials above, once by the client: `get`, the host on stdin.
    assert calls(helpers_dir) == [f"get | {auth_registry.host}"] * 2


def test_token_username_means_an_identity_token(
    token_registry: Registry, helpers_dir: Path, tmp_path: Path, repo_name: str
) -> None:
    write_helper(helpers_dir, "idtoken", answer("<token>", REFRESH_TOKEN))
    config = RegistryConfig(
        docker_config=docker_config(tmp_path, {"credHelpers": {token_registry.host: "idtoken"}})
    )
    creds = resolve_credentials(token_registry.host, config)
    assert creds.identity_token == REFRESH_TOKEN and creds.username is None and creds.password is None
    store = _store(token_registry, repo_name, config)
    try:
        assert store.list_tags() == []
    finally:
        store.client.close()
    server: TokenServer = token_registry.extra["token_server"]
    grants = server.requests_for(repo_name)
    assert grants and all(g.method == "POST" and g.status == 200 for g in grants)


def test_helper_without_credentials_means_anonymous(
    auth_registry: Registry, helpers_dir: Path, tmp_path: Path, repo_name: str
) -> None:
    write_helper(helpers_dir, "empty", 'echo "credentials not found in native keychain"; exit 1')
    config = RegistryConfig(
        docker_config=docker_config(
            tmp_path,
            # docker ignores auths entries for a host its helper answers for: so does shipflow
            {"credHelpers": {auth_registry.host: "empty"}, "auths": {auth_registry.host: {"auth": "eDp5"}}},
        )
    )
    assert resolve_credentials(auth_registry.host, config).is_anonymous
    store = _store(auth_registry, repo_name, config)
    try:
        with pytest.raises(AuthError, match="anonymously"):
            store.list_tags()
    finally:
        store.client.close()


def test_a_failing_helper_is_an_error_naming_it(helpers_dir: Path, tmp_path: Path) -> None:
    write_helper(helpers_dir, "broken", f'echo "keychain locked ({SENTINEL})" >&2; exit 3')
    config = RegistryConfig(docker_config=docker_config(tmp_path, {"credsStore": "broken"}))
    with pytest.raises(InfrastructureError, match=r"docker-credential-broken failed for ghcr\.io") as info:
        resolve_credentials("ghcr.io", config)
    assert "exit 3" in info.value.message and "keychain locked" in info.value.message

    write_helper(helpers_dir, "garbage", "echo 'this is not json'")
    config = RegistryConfig(docker_config=docker_config(tmp_path, {"credsStore": "garbage"}))
    with pytest.raises(InfrastructureError, match="not its JSON"):
        resolve_credentials("ghcr.io", config)


def test_a_hanging_helper_is_stopped_with_its_children(
    helpers_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = helpers_dir / "child.pid"
    write_helper(helpers_dir, "hangs", f'sleep 600 & echo $! > "{pid_file}"; wait')
    monkeypatch.setattr(credentials_module, "HELPER_TIMEOUT", 1.0)
    config = RegistryConfig(docker_config=docker_config(tmp_path, {"credsStore": "hangs"}))
    started = time.monotonic()
    with pytest.raises(InfrastructureError, match="did not answer within 1 s"):
        resolve_credentials("ghcr.io", config)
    assert time.monotonic() - started < 30
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # A killed child is a zombie until reaped: its state in /proc says so.
        status = Path(f"/proc/{child}/stat")
        if status.exists() and status.read_text().split(") ", 1)[1].startswith("Z"):
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the helper's child {child} survived: the process group was not killed")


def test_a_missing_helper_is_a_config_error_naming_it(helpers_dir: Path, tmp_path: Path) -> None:
    config = RegistryConfig(docker_config=docker_config(tmp_path, {"credHelpers": {"ghcr.io": "nowhere"}}))
    with pytest.raises(ConfigError, match="docker-credential-nowhere is not on PATH") as info:
        resolve_credentials("ghcr.io", config)
    assert info.value.exit_code == 2


def test_cli_never_shows_the_helper_secret(
    auth_registry: Registry, helpers_dir: Path, tmp_path: Path, repo_name: str
) -> None:
    # The helper's secret is the sentinel; the registry refuses it, at -vv, with every log on.
    write_helper(helpers_dir, "sentinel", answer(AUTH_USER, SENTINEL))
    config_path = docker_config(tmp_path, {"credHelpers": {auth_registry.host: "sentinel"}})
    script = Path(sys.executable).with_name("shipflow")
    env = {**os.environ, "DOCKER_CONFIG": str(config_path.parent)}
    done = subprocess.run(
        [str(script), "-vv", "tags", auth_registry.ref(repo_name)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert "credential-helper credentials" in done.stderr
    assert SENTINEL not in done.stdout and SENTINEL not in done.stderr
    assert calls(helpers_dir), "the helper was not run"
