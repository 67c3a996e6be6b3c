"""Settings for talking to registries: one keyword-only, immutable settings object.

Precedence (as everywhere in shipflow): explicit arguments (CLI flags) > ``SHIPFLOW_*`` and
the pipeline spec's own environment variables > defaults. :meth:`RegistryConfig.from_env`
applies it; the CLI passes its flags in as arguments.

Environment variables read:

=================================  ==========================================================
``SHIPFLOW_INSECURE_REGISTRIES``   comma list of hosts spoken to over plain HTTP
``SHIPFLOW_REGISTRY_TIMEOUT``       seconds one registry operation may take, every retry and
                                   wait included (default 30): a dead or silent registry is
                                   given up on after this long
``SHIPFLOW_REGISTRY_MIN_RATE``      bytes per second a blob transfer must average over every
                                   ``TIMEOUT`` seconds of waiting on the network (default 4096);
                                   transfers at least that fast never time out
``SHIPFLOW_REGISTRY_CONNECT_TIMEOUT`` seconds (default 10)
``SHIPFLOW_REGISTRY_READ_TIMEOUT``  seconds between bytes (default 60)
``SHIPFLOW_REGISTRY_MAX_ATTEMPTS``  attempts per idempotent request (default 4)
``REGISTRY_URL``                   the registry the ``REGISTRY_*`` credentials belong to
                                   (default ``ghcr.io``)
``REGISTRY_USERNAME``/``_PASSWORD`` credentials for ``REGISTRY_URL``
``GITHUB_ACTIONS``/``GITHUB_ACTOR``/``GITHUB_TOKEN``  defaults for ghcr.io inside Actions
``DOCKER_CONFIG``                  directory holding docker's ``config.json``
=================================  ==========================================================

The object is frozen and hashable: :meth:`RegistryClient.shared` caches one client per
(host, config). Secrets are excluded from ``repr`` so a logged config never shows them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shipflow.errors import ConfigError

DEFAULT_REGISTRY_URL = "ghcr.io"
MIB = 1024 * 1024
DEFAULT_TIMEOUT = 30.0
"""Seconds one registry operation may take, retries included (see :mod:`.deadline`)."""
DEFAULT_MIN_RATE = 4096
"""Bytes per second a blob transfer must average over every ``timeout`` seconds."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True, kw_only=True)
class RegistryConfig:
    """How shipflow connects and authenticates to registries (all fields have defaults)."""

    # Transport
    insecure_registries: frozenset[str] = frozenset()
    """Hosts (``host[:port]``) spoken to over plain HTTP; everything else is HTTPS, verified."""
    plain_http_loopback: bool = True
    """Loopback hosts (127.0.0.0/8, ``localhost``, ``::1``) use plain HTTP, as docker does."""
    ca_bundle: Path | None = None
    """Extra CA bundle (PEM) to verify registry certificates with; None = system store."""
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    timeout: float = DEFAULT_TIMEOUT
    """Overall deadline of one registry operation (a request and its answer, every retry and
    backoff wait included). A dead, silent or dripping registry fails within this time."""
    min_rate: int = DEFAULT_MIN_RATE
    """A blob transfer (download or upload body) must move at least ``min_rate * timeout``
    bytes for every ``timeout`` seconds it spends waiting on the network; however big the
    blob, a transfer that keeps this pace never times out."""
    user_agent: str = "shipflow"

    # Retries
    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 10.0
    retry_after_cap: float = 60.0

    # Uploads
    monolithic_threshold: int = 16 * MIB
    """Blobs up to this size are sent in one PUT (buffered, so a failed upload can restart)."""
    upload_chunk_size: int = 32 * MIB
    """Size of each PATCH of a chunked upload (streamed, not buffered)."""

    # Credentials (see credentials.py for the precedence between them)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    credentials_host: str | None = None
    """The registry explicit ``username``/``password`` are for; None = every registry."""
    registry_url: str = DEFAULT_REGISTRY_URL
    registry_username: str | None = None
    registry_password: str | None = field(default=None, repr=False)
    github_actions: bool = False
    github_actor: str | None = None
    github_token: str | None = field(default=None, repr=False)
    docker_config: Path | None = None
    """docker's config.json; None = ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("connect_timeout", "read_timeout", "timeout"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(
                    f"{name} must be a positive number of seconds, got {value!r}",
                    hint="timeouts are finite on purpose; give e.g. 30",
                )
        if self.min_rate < 1:
            raise ConfigError(
                f"min_rate must be at least 1 byte per second, got {self.min_rate!r}",
                hint="give e.g. 4096 (SHIPFLOW_REGISTRY_MIN_RATE)",
            )
        if self.upload_chunk_size < 1 or self.monolithic_threshold < 0:
            raise ConfigError("upload sizes must be positive")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        insecure_registries: Iterable[str] = (),
        username: str | None = None,
        password: str | None = None,
        credentials_host: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        timeout: float | None = None,
        min_rate: int | None = None,
        max_attempts: int | None = None,
        docker_config: Path | None = None,
        ca_bundle: Path | None = None,
    ) -> RegistryConfig:
        """Settings from explicit arguments (flags) over the environment over defaults.

        ``insecure_registries`` given here are *added* to ``SHIPFLOW_INSECURE_REGISTRIES``.
        """
        env = os.environ if environ is None else environ
        insecure = {normalize_host(h) for h in insecure_registries if h.strip()}
        insecure |= {
            normalize_host(h) for h in env.get("SHIPFLOW_INSECURE_REGISTRIES", "").split(",") if h.strip()
        }
        docker_dir = env.get("DOCKER_CONFIG")
        return cls(
            insecure_registries=frozenset(insecure),
            ca_bundle=ca_bundle,
            connect_timeout=connect_timeout
            if connect_timeout is not None
            else _env_float(env, "SHIPFLOW_REGISTRY_CONNECT_TIMEOUT", 10.0),
            read_timeout=read_timeout
            if read_timeout is not None
            else _env_float(env, "SHIPFLOW_REGISTRY_READ_TIMEOUT", 60.0),
            timeout=timeout
            if timeout is not None
            else _env_float(env, "SHIPFLOW_REGISTRY_TIMEOUT", DEFAULT_TIMEOUT),
            min_rate=min_rate
            if min_rate is not None
            else _env_int(env, "SHIPFLOW_REGISTRY_MIN_RATE", DEFAULT_MIN_RATE),
            max_attempts=max_attempts
            if max_attempts is not None
            else _env_int(env, "SHIPFLOW_REGISTRY_MAX_ATTEMPTS", 4),
            username=username,
            password=password,
            credentials_host=normalize_host(credentials_host) if credentials_host else None,
            registry_url=normalize_host(env.get("REGISTRY_URL") or DEFAULT_REGISTRY_URL),
            registry_username=env.get("REGISTRY_USERNAME") or None,
            registry_password=env.get("REGISTRY_PASSWORD") or None,
            github_actions=_env_bool(env, "GITHUB_ACTIONS"),
            github_actor=env.get("GITHUB_ACTOR") or None,
            github_token=env.get("GITHUB_TOKEN") or None,
            docker_config=docker_config
            if docker_config is not None
            else (Path(docker_dir) / "config.json" if docker_dir else None),
        )

    def is_insecure(self, host: str) -> bool:
        """Whether ``host`` is spoken to over plain HTTP (marked insecure, or loopback)."""
        host = normalize_host(host)
        if host in self.insecure_registries:
            return True
        return self.plain_http_loopback and is_loopback(host)


def normalize_host(value: str) -> str:
    """``https://GHCR.io/org/`` → ``ghcr.io``; Docker Hub's aliases → ``docker.io``.

    Accepts what users and docker's config.json write: a bare host, ``host:port``, a URL.
    """
    text = value.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0].lower()
    if text in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        return "docker.io"
    return text


def split_host_port(host: str) -> tuple[str, str | None]:
    """``[::1]:5000`` → (``::1``, ``5000``); ``localhost`` → (``localhost``, None)."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name, rest[1:] if rest.startswith(":") else None
    if host.count(":") == 1:
        name, _, port = host.partition(":")
        return name, port
    return host, None


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ``localhost`` and ``::1``, with or without a port."""
    import ipaddress

    name, _ = split_host_port(normalize_host(host))
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _env_bool(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(
        f"{name}={env[name]!r} is not a boolean", hint=f"set {name} to true/false (or 1/0, yes/no)"
    )


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number", hint=f"set {name} to seconds, e.g. 30") from None
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(
            f"{name}={raw!r} must be a positive, finite number", hint=f"set {name} to seconds, e.g. 30"
        )
    return value


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number", hint=f"set {name} to e.g. 4") from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r} must be at least 1", hint=f"set {name} to e.g. 4")
    return value
