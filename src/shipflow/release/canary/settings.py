"""The canary's settings: the ``canary:`` section of shipflow.yaml, flags and environment.

::

    canary:
      health_url: "${CANARY_DEPLOY_URL}/api/health"   # the default when CANARY_DEPLOY_URL is set
      interval: 10s
      duration: 10m
      timeout: 5s                      # per check; must be shorter than the interval
      failure_threshold: 3             # consecutive failures that trip a rollback
      flap: {failures: 4, window: 10}  # optional: also trip on 4 failures among the last 10 checks
      expect: {status: 200, json: {status: ok}}          # optional; default: any 2xx
      version: {json_field: version, ready_within: 60s}  # optional: the canary must report D
      headers: {Authorization: "Bearer ${HEALTH_TOKEN}"} # optional, sent with every check
      recovery_timeout: 60s            # how long the previous version may take to answer again
      promoted_from: staging           # optional: D must carry a verified promotion record into it
      deploy: {target: local, port: 8080}
      notify: {webhook: "${ROLLBACK_WEBHOOK}", format: slack}

Precedence, one setting at a time: flag > ``SHIPFLOW_CANARY_*`` environment variable >
shipflow.yaml > default. The five watched settings have flags and variables
(``--health-url``/``SHIPFLOW_CANARY_HEALTH_URL``, ``--interval``/``SHIPFLOW_CANARY_INTERVAL``,
``--duration``, ``--timeout``, ``--failure-threshold``). The rules are checked after merging,
whatever each value came from: the timeout is shorter than the interval, the flap rule fits
its window, the version grace fits the duration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shipflow.errors import ConfigError
from shipflow.redact import register_secret, sanitize_url
from shipflow.release.deploy.settings import (
    DeploySettings,
    LocalSettings,
    TagSettings,
    deploy_settings_from_node,
)
from shipflow.release.notify.settings import NotifySettings, notify_settings_from_node

if TYPE_CHECKING:
    from shipflow.release.yamlconf import Node

__all__ = [
    "ENV_PREFIX",
    "CanaryFlags",
    "CanarySettings",
    "Expectation",
    "FlapRule",
    "JsonScalar",
    "NoHealthUrl",
    "VersionCheck",
]

ENV_PREFIX = "SHIPFLOW_CANARY_"
JsonScalar = str | int | float | bool | None

_KEYS = {
    "health_url",
    "interval",
    "duration",
    "timeout",
    "failure_threshold",
    "flap",
    "expect",
    "version",
    "headers",
    "recovery_timeout",
    "promoted_from",
    "deploy",
    "notify",
}
_MAX_DURATION = 24 * 3600.0


class NoHealthUrl(ConfigError):
    """No health URL anywhere (flag, variable, shipflow.yaml, CANARY_DEPLOY_URL, local port)."""


@dataclass(frozen=True)
class FlapRule:
    """Trip when at least ``failures`` of the last ``window`` checks failed."""

    failures: int
    window: int

    def describe(self) -> str:
        return f"{self.failures} failures among the last {self.window} checks"


@dataclass(frozen=True)
class Expectation:
    """What a healthy answer looks like: its status (None: any 2xx) and JSON fields that must
    equal given values (dotted paths: ``checks.db``)."""

    statuses: frozenset[int] | None = None
    json: tuple[tuple[str, JsonScalar], ...] = ()

    def describe(self) -> str:
        status = "2xx" if self.statuses is None else "/".join(str(s) for s in sorted(self.statuses))
        parts = [f"status {status}"] + [f"{path} == {value!r}" for path, value in self.json]
        return ", ".join(parts)


@dataclass(frozen=True)
class VersionCheck:
    """The health body must report the canary's version in ``json_field``; until
    ``ready_within`` has passed, another version counts as "not yet rolled out"."""

    json_field: str
    ready_within: float = 60.0
    expected: str | None = None  # None: the image's org.opencontainers.image.version label, else its digest


@dataclass(frozen=True)
class CanaryFlags:
    """The command-line values (None: not given)."""

    health_url: str | None = None
    interval: str | None = None
    duration: str | None = None
    timeout: str | None = None
    failure_threshold: int | None = None


@dataclass(frozen=True, kw_only=True)
class CanarySettings:
    health_url: str
    interval: float = 10.0
    duration: float = 600.0
    timeout: float = 5.0
    failure_threshold: int = 3
    flap: FlapRule | None = None
    expect: Expectation = field(default_factory=Expectation)
    version: VersionCheck | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    recovery_timeout: float = 60.0
    promoted_from: str | None = None  # demand a verified promotion record into this environment
    deploy: DeploySettings = field(default_factory=TagSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)  # setting -> where it came from

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """The cross-setting rules (each error names where the offending value came from)."""
        where = self.sources.get
        _check_url(self.health_url, where("health_url", "health_url"))
        if not 0 < self.interval <= _MAX_DURATION:
            raise ConfigError(f"{where('interval', 'interval')}: the interval must be > 0 and at most 24h")
        if not 0 < self.timeout < self.interval:
            raise ConfigError(
                f"{where('timeout', 'timeout')}: the check timeout ({self.timeout:g}s) must be shorter than "
                f"the interval ({self.interval:g}s, {where('interval', 'interval')})",
                hint="a check that may take longer than the interval would delay the next one; "
                "lower the timeout or raise the interval",
            )
        if not self.interval <= self.duration <= 7 * _MAX_DURATION:
            raise ConfigError(
                f"{where('duration', 'duration')}: the duration ({self.duration:g}s) must be at least one "
                f"interval ({self.interval:g}s) and at most 7 days"
            )
        if not 1 <= self.failure_threshold <= 1000:
            raise ConfigError(
                f"{where('failure_threshold', 'failure_threshold')}: must be between 1 and 1000"
            )
        if self.flap is not None and not 1 <= self.flap.failures <= self.flap.window <= 10_000:
            raise ConfigError(
                f"{where('flap', 'flap')}: flap.failures ({self.flap.failures}) must be between 1 and "
                f"flap.window ({self.flap.window})"
            )
        if self.version is not None and self.version.ready_within >= self.duration:
            raise ConfigError(
                f"{where('version', 'version')}: version.ready_within ({self.version.ready_within:g}s) "
                f"must be shorter than the duration ({self.duration:g}s)",
                hint="otherwise the canary could pass without ever reporting its version",
            )
        if self.recovery_timeout <= 0:
            raise ConfigError(f"{where('recovery_timeout', 'recovery_timeout')}: must be > 0")

    @property
    def display_url(self) -> str:
        return sanitize_url(self.health_url)

    def to_json(self) -> dict[str, Any]:
        return {
            "healthUrl": self.display_url,
            "interval": self.interval,
            "duration": self.duration,
            "timeout": self.timeout,
            "failureThreshold": self.failure_threshold,
            "flap": None
            if self.flap is None
            else {"failures": self.flap.failures, "window": self.flap.window},
            "expect": self.expect.describe(),
            "version": None
            if self.version is None
            else {"jsonField": self.version.json_field, "readyWithin": self.version.ready_within},
            "recoveryTimeout": self.recovery_timeout,
            "promotedFrom": self.promoted_from,
            "deployTarget": self.deploy.kind.value,
            "sources": dict(self.sources),
        }

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def from_node(
        cls,
        node: Node | None,
        environ: Mapping[str, str],
        *,
        flags: CanaryFlags | None = None,
        base_dir: Path | None = None,
    ) -> CanarySettings:
        """Settings from the ``canary:`` node of shipflow.yaml (None: no section), the
        ``SHIPFLOW_CANARY_*`` variables and ``flags``, in that order of increasing precedence."""
        return _build(node, environ, flags or CanaryFlags(), base_dir or Path("."))

    def with_health_url(self, url: str) -> CanarySettings:
        return replace(self, health_url=url)


def _check_url(url: str, where: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{where}: the health URL {sanitize_url(url)!r} is not an http(s) URL",
            hint="give the canary's health endpoint, e.g. https://canary.example.com/api/health",
        )


def _register_url_credentials(url: str) -> None:
    parts = urlsplit(url)
    if parts.password:
        register_secret(parts.password)


class _Source:
    """One setting's candidates, in precedence order."""

    def __init__(
        self, name: str, flag_name: str, flag: Any, environ: Mapping[str, str], node: Node | None
    ) -> None:
        self.name = name
        self.flag_name = flag_name
        self.flag = flag
        self.env_name = ENV_PREFIX + name.upper()
        self.env_value = environ.get(self.env_name) or None
        self.node = node.get(name) if node is not None else None

    def where(self) -> str | None:
        if self.flag is not None:
            return self.flag_name
        if self.env_value is not None:
            return f"${self.env_name}"
        if self.node is not None:
            return f"{self.node.where}: {self.node.path}"
        return None

    def duration(self, default: float) -> float:
        from shipflow.release.yamlconf import parse_duration

        for label, text in ((self.flag_name, self.flag), (f"${self.env_name}", self.env_value)):
            if text is None:
                continue
            try:
                return parse_duration(str(text))
            except ValueError:
                raise ConfigError(
                    f"{label}: {text!r} is not a duration",
                    hint="use a number of seconds or 250ms, 10s, 5m, 1h",
                ) from None
        if self.node is not None:
            return self.node.as_duration(min=0.001)
        return default

    def integer(self, default: int) -> int:
        if self.flag is not None:
            return int(self.flag)
        if self.env_value is not None:
            try:
                return int(self.env_value)
            except ValueError:
                raise ConfigError(f"${self.env_name}: {self.env_value!r} is not an integer") from None
        if self.node is not None:
            return self.node.as_int(min=1, max=1000)
        return default


def _build(
    node: Node | None, environ: Mapping[str, str], flags: CanaryFlags, base_dir: Path
) -> CanarySettings:
    if node is not None:
        node.mapping(_KEYS)
    sources: dict[str, str] = {}

    def src(name: str, flag: Any) -> _Source:
        source = _Source(name, "--" + name.replace("_", "-"), flag, environ, node)
        where = source.where()
        if where is not None:
            sources[name] = where
        return source

    interval = src("interval", flags.interval).duration(10.0)
    duration = src("duration", flags.duration).duration(600.0)
    timeout = src("timeout", flags.timeout).duration(5.0)
    threshold = src("failure_threshold", flags.failure_threshold).integer(3)

    deploy_node = node.get("deploy") if node is not None else None
    deploy = deploy_settings_from_node(deploy_node, environ, base_dir=base_dir)
    if deploy_node is not None:
        sources["deploy"] = f"{deploy_node.where}: {deploy_node.path}"

    url_source = src("health_url", flags.health_url)
    if url_source.flag is not None:
        url = str(url_source.flag)
    elif url_source.env_value is not None:
        url = url_source.env_value
    elif url_source.node is not None:
        url = url_source.node.expand_env(environ)
    elif environ.get("CANARY_DEPLOY_URL"):
        url = environ["CANARY_DEPLOY_URL"].rstrip("/") + "/api/health"
        sources["health_url"] = "$CANARY_DEPLOY_URL + /api/health"
    elif isinstance(deploy, LocalSettings) and deploy.port is not None:
        url = f"http://127.0.0.1:{deploy.port}/api/health"
        sources["health_url"] = "deploy.port (local target) + /api/health"
    else:
        raise NoHealthUrl(
            "no health URL for the canary",
            hint="set canary.health_url in shipflow.yaml, pass --health-url, or set CANARY_DEPLOY_URL",
        )
    _register_url_credentials(url)

    flap = None
    expect = Expectation()
    version = None
    headers: dict[str, str] = {}
    recovery = 60.0
    promoted_from = None
    if node is not None:
        promoted_node = node.get("promoted_from")
        if promoted_node is not None:
            promoted_from = promoted_node.as_str()
        flap = _flap(node.get("flap"))
        expect = _expect(node.get("expect"))
        version = _version(node.get("version"))
        headers = _headers(node.get("headers"), environ)
        recovery_node = node.get("recovery_timeout")
        if recovery_node is not None:
            recovery = recovery_node.as_duration(min=0.1, max=3600)
        for name in ("flap", "version", "expect"):
            child = node.get(name)
            if child is not None:
                sources[name] = f"{child.where}: {child.path}"
    notify = notify_settings_from_node(node.get("notify") if node is not None else None, environ)
    return CanarySettings(
        health_url=url,
        interval=interval,
        duration=duration,
        timeout=timeout,
        failure_threshold=threshold,
        flap=flap,
        expect=expect,
        version=version,
        headers=headers,
        recovery_timeout=recovery,
        promoted_from=promoted_from,
        deploy=deploy,
        notify=notify,
        sources=sources,
    )


def _flap(node: Node | None) -> FlapRule | None:
    if node is None:
        return None
    children = node.mapping({"failures", "window"})
    if "failures" not in children or "window" not in children:
        raise node.error("needs both failures and window", allowed="{failures: N, window: M} with N <= M")
    failures = children["failures"].as_int(min=1, max=10_000)
    window = children["window"].as_int(min=1, max=10_000)
    if failures > window:
        raise children["failures"].error(f"must not exceed flap.window ({window})")
    return FlapRule(failures, window)


def _expect(node: Node | None) -> Expectation:
    if node is None:
        return Expectation()
    children = node.mapping({"status", "json"})
    statuses = None
    status_node = node.get("status")
    if status_node is not None:
        statuses = frozenset(item.as_int(min=100, max=599) for item in status_node.as_list())
    pairs: list[tuple[str, JsonScalar]] = []
    json_node = children.get("json")
    if json_node is not None:
        _flatten(json_node, "", pairs)
    return Expectation(statuses=statuses, json=tuple(pairs))


def _flatten(node: Node, prefix: str, out: list[tuple[str, JsonScalar]]) -> None:
    for key, child in node.mapping().items():
        path = f"{prefix}.{key}" if prefix else key
        if child.kind == "mapping":
            _flatten(child, path, out)
        elif child.kind == "sequence":
            raise child.error("must be a value, not a list", allowed="a string, number, true/false or null")
        else:
            value = child.value
            if not isinstance(value, str | int | float | bool) and value is not None:
                value = str(value)
            out.append((path, value))


def _version(node: Node | None) -> VersionCheck | None:
    if node is None:
        return None
    children = node.mapping({"json_field", "ready_within", "expected"})
    field_node = children.get("json_field")
    if field_node is None:
        raise node.error("json_field is required", allowed="{json_field: version, ready_within: 60s}")
    ready = children.get("ready_within")
    expected = children.get("expected")
    return VersionCheck(
        json_field=field_node.as_str(),
        ready_within=ready.as_duration(min=0, max=_MAX_DURATION) if ready is not None else 60.0,
        expected=expected.as_str() if expected is not None else None,
    )


def _headers(node: Node | None, environ: Mapping[str, str]) -> dict[str, str]:
    if node is None:
        return {}
    headers: dict[str, str] = {}
    for key, child in node.mapping().items():
        value = child.expand_env(environ)
        if key.lower() in ("authorization", "cookie", "x-api-key") or child.references():
            register_secret(value)
        headers[key] = value
    return headers
