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
   ``identitytoken`` (an OAuth refresh token). Credential helpers (``credsStore``,
   ``credHelpers``) are not run: shipflow logs that at debug level and goes on anonymously.
5. Anonymous.

Secrets never appear in ``repr``, logs or error messages.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shipflow.errors import ConfigError
from shipflow.oci.registry.config import RegistryConfig, normalize_host

log = logging.getLogger(__name__)

Source = Literal["explicit", "environment", "github-actions", "docker-config", "anonymous"]

GHCR = "ghcr.io"


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

    helpers = doc.get("credHelpers") or {}
    if isinstance(helpers, dict) and any(normalize_host(k) == host for k in helpers):
        log.debug("docker config names a credential helper for %s; helpers are not run", host)
    elif doc.get("credsStore"):
        log.debug("docker config has credsStore %r; credential stores are not run", doc.get("credsStore"))

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
