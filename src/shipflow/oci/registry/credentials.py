"""Which credentials to present to a registry, and where they came from.

Precedence, first match wins (:func:`resolve_credentials`):

1. Explicit ``username``/``password`` (CLI flags, library arguments). They apply to
   ``credentials_host`` if one is given, else to every registry the command talks to.
2. ``REGISTRY_USERNAME``/``REGISTRY_PASSWORD`` — but only for the registry named by
   ``REGISTRY_URL``, which defaults to ``ghcr.io`` as the pipeline spec's secrets table says.
   Decision: with ``REGISTRY_URL`` unset they are *not* sent to every registry. A CI secret
   meant for GHCR must never be offered to some other host a reference happens to name
   (a typo, a cross-registry copy source); set ``REGISTRY_URL`` to use them elsewhere.
3. Inside GitHub Actions (``GITHUB_ACTIONS=true``) and for ``ghcr.io`` only:
   ``GITHUB_ACTOR``/``GITHUB_TOKEN`` (again the spec's defaults). A username or password
   missing from level 2 for ghcr.io is filled from these.
4. docker's ``config.json`` (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``):
   ``auths.<host>.auth`` (base64 ``user:password``), ``username``/``password`` fields, or
   ``identitytoken`` (an OAuth refresh token). A credential helper, as docker, crane, skopeo
   and cosign run them: ``credHelpers.<host>`` names one for that host, else ``credsStore``
   one for every host; shipflow runs ``docker-credential-<name> get`` with the server
   address on stdin (the host, or ``https://index.docker.io/v1/`` for Docker Hub) and reads
   ``{"Username": …, "Secret": …}`` from stdout (a ``<token>`` user name means the secret is
   an identity token). As in docker, a helper configured for a host is the only source for
   it: its "credentials not found" means anonymous. The helper gets
   :data:`HELPER_TIMEOUT` seconds (its process group is killed after that) and at most
   :data:`HELPER_OUTPUT_LIMIT` bytes of output; a helper that is not on ``PATH`` is a
   configuration error naming it. The secret is registered for redaction as it is read.
5. Anonymous.

Secrets never appear in ``repr``, logs or error messages.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import selectors
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shipflow.errors import ConfigError, InfrastructureError
from shipflow.oci.registry.config import RegistryConfig, normalize_host
from shipflow.redact import redact, register_secret

log = logging.getLogger(__name__)

Source = Literal[
    "explicit", "environment", "github-actions", "docker-config", "credential-helper", "anonymous"
]

GHCR = "ghcr.io"
HELPER_TIMEOUT = 30.0
"""Seconds a docker credential helper may take to answer (then its process group is killed)."""
HELPER_OUTPUT_LIMIT = 64 * 1024
"""Bytes of output read from a credential helper; more is refused."""
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
"""The server address docker (and its helpers) file Docker Hub credentials under."""
HELPER_NOT_FOUND = "credentials not found in native keychain"
"""What docker-credential-helpers print when they have nothing for a server."""


@dataclass(frozen=True)
class Credentials:
    """A username/password pair or an identity (refresh) token. ``repr`` hides the secrets."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)
    source: Source = "anonymous"

    @property
    def is_anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token)

    @property
    def has_basic(self) -> bool:
        return self.username is not None and self.password is not None

    def secrets(self) -> list[str]:
        """The secret strings, so logging can redact them wherever they show up."""
        return [s for s in (self.password, self.identity_token) if s]


ANONYMOUS = Credentials()


def resolve_credentials(host: str, config: RegistryConfig) -> Credentials:
    """The credentials for registry ``host`` under ``config``'s precedence (module docstring)."""
    host = normalize_host(host)
    explicit = config.username is not None or config.password is not None
    if explicit and (config.credentials_host is None or normalize_host(config.credentials_host) == host):
        return Credentials(config.username, config.password, source="explicit")

    env_applies = normalize_host(config.registry_url) == host
    actions_apply = config.github_actions and host == GHCR
    if env_applies and (config.registry_username or config.registry_password):
        # In Actions a half-given pair is completed from the Actions defaults (spec table).
        return Credentials(
            config.registry_username or (config.github_actor if actions_apply else None),
            config.registry_password or (config.github_token if actions_apply else None),
            source="environment",
        )
    if actions_apply and (config.github_actor or config.github_token):
        return Credentials(config.github_actor, config.github_token, source="github-actions")

    found = _from_docker_config(host, config.docker_config)
    if found is not None:
        return found
    return ANONYMOUS


def _docker_config_path(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    return Path.home() / ".docker" / "config.json"


def _from_docker_config(host: str, path: Path | None) -> Credentials | None:
    config_path = _docker_config_path(path)
    try:
        raw = config_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(
            f"cannot read docker config {config_path}: {exc.strerror}",
            hint="fix its permissions or point DOCKER_CONFIG at another directory",
        ) from exc
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(
            f"docker config {config_path} is not valid JSON: {exc}",
            hint="repair the file (or `docker login` again) or point DOCKER_CONFIG elsewhere",
        ) from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"docker config {config_path} is not a JSON object")

    helper = _helper_for(doc, host, config_path)
    if helper is not None:
        return _from_helper(helper, host, config_path)

    auths = doc.get("auths") or {}
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        if normalize_host(str(key)) != host or not isinstance(entry, dict):
            continue
        return _entry_credentials(entry, config_path, str(key))
    return None


def _entry_credentials(entry: dict[str, Any], path: Path, key: str) -> Credentials | None:
    username = entry.get("username")
    password = entry.get("password")
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"docker config {path}: the 'auth' entry for {key!r} is not base64 of user:password",
                hint="run `docker login` again or remove that entry",
            ) from exc
        user_part, sep, pass_part = decoded.partition(":")
        if not sep:
            raise ConfigError(
                f"docker config {path}: the 'auth' entry for {key!r} has no ':' between user and password",
                hint="run `docker login` again or remove that entry",
            )
        username, password = user_part, pass_part
    token = entry.get("identitytoken")
    identity_token = token if isinstance(token, str) and token else None
    if not (username or password or identity_token):
        return None
    return Credentials(
        str(username) if username else None,
        str(password) if password else None,
        identity_token,
        source="docker-config",
    )


def _helper_for(doc: dict[str, Any], host: str, path: Path) -> str | None:
    """The credential helper docker would use for ``host``: ``credHelpers``, else ``credsStore``."""
    helpers = doc.get("credHelpers") or {}
    if not isinstance(helpers, dict):
        raise ConfigError(f"docker config {path}: 'credHelpers' is not an object of host: helper")
    for key, name in helpers.items():
        if normalize_host(str(key)) == host:
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"docker config {path}: the credential helper for {key!r} is not a name")
            return name.strip()
    store = doc.get("credsStore")
    if store is None or store == "":
        return None
    if not isinstance(store, str):
        raise ConfigError(f"docker config {path}: 'credsStore' is not a helper name")
    return store.strip()


def _from_helper(name: str, host: str, path: Path) -> Credentials | None:
    """Ask ``docker-credential-<name>`` for ``host``'s credentials (module docstring)."""
    program_name = f"docker-credential-{name}"
    if os.sep in name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError(f"docker config {path}: {name!r} is not a credential helper name")
    program = shutil.which(program_name)
    if program is None:
        raise ConfigError(
            f"docker config {path} names the credential helper {name!r} for {host}, "
            f"but {program_name} is not on PATH",
            hint=f"install {program_name}, or remove credsStore/credHelpers from {path} "
            "(or point DOCKER_CONFIG at another directory)",
        )
    server = DOCKER_HUB_SERVER if host == "docker.io" else host
    log.debug("asking %s for the credentials of %s", program_name, host)
    code, out, err = _run_bounded([program, "get"], server.encode() + b"\n", program_name)
    if code != 0:
        if HELPER_NOT_FOUND in out.decode("utf-8", "replace"):
            log.debug("%s has no credentials for %s: anonymous", program_name, host)
            return None
        detail = redact(" ".join(err.decode("utf-8", "replace").split())[:200]) or "no message"
        raise InfrastructureError(
            f"credential helper {program_name} failed for {host} (exit {code}): {detail}",
            hint=f"check the helper (logged in? keychain unlocked?), or remove it from {path}",
        )
    try:
        doc = json.loads(out)
        username, secret = doc.get("Username"), doc.get("Secret")
    except (ValueError, AttributeError) as exc:
        raise InfrastructureError(
            f"credential helper {program_name} answered something that is not its JSON for {host}",
            hint=f"check the helper, or remove it from {path}",
        ) from exc
    if not isinstance(username, str) or not isinstance(secret, str):
        raise InfrastructureError(
            f"credential helper {program_name} answered without a Username and Secret for {host}",
            hint=f"check the helper, or remove it from {path}",
        )
    register_secret(secret)
    if not secret:
        return None
    if username == "<token>":
        return Credentials(None, None, secret, source="credential-helper")
    return Credentials(username or None, secret, source="credential-helper")


def _run_bounded(argv: list[str], stdin: bytes, label: str) -> tuple[int, bytes, bytes]:
    """Run a helper with ``stdin``; (exit code, stdout, stderr), within :data:`HELPER_TIMEOUT`
    and :data:`HELPER_OUTPUT_LIMIT`, its whole process group killed if it overruns.

    Not :func:`shipflow.proc.run_bounded`, the house's runner for users' commands: that one
    gives the command no stdin (a helper reads the server address there), merges stderr into
    stdout and redacts what it captured — and the helper's stdout is the JSON carrying the
    very secret shipflow needs (registered for redaction the moment it is read).
    """
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot run {label}: {exc.strerror or exc}", hint="check the helper's installation"
        ) from exc
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    outputs = {out_fd: bytearray(), err_fd: bytearray()}
    deadline = time.monotonic() + HELPER_TIMEOUT
    problem: str | None = None
    code = -1
    try:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(stdin)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            selector.register(proc.stderr, selectors.EVENT_READ)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    problem = f"did not answer within {HELPER_TIMEOUT:g} s"
                    break
                for key, _ in selector.select(left):
                    data = os.read(key.fd, 65536)
                    if not data:
                        selector.unregister(key.fileobj)
                        continue
                    buffer = outputs[key.fd]
                    buffer += data
                    if len(buffer) > HELPER_OUTPUT_LIMIT:
                        problem = f"wrote more than {HELPER_OUTPUT_LIMIT} bytes"
                        break
                if problem:
                    break
        if problem is None:
            try:
                code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                problem = f"did not exit within {HELPER_TIMEOUT:g} s"
    finally:
        if problem is not None or proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    if problem is not None:
        raise InfrastructureError(
            f"credential helper {label} {problem}; it was stopped",
            hint="check the helper (is it waiting for a password prompt?), or remove it from docker config",
        )
    return code, bytes(outputs[out_fd]), bytes(outputs[err_fd])
