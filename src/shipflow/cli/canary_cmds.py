"""``shipflow canary`` and ``shipflow rollback``: the specification's canary-deploy.yml and its
manual rollback.

Configuration comes from the ``canary:`` section of shipflow.yaml (``image``, ``keys.trusted``
and ``environments.ENV.deploy`` are read from the same file), every watched setting also a
flag. Exit codes: 0 the canary passed (rollback: done), 1 rolled back or refused before
deploying, 2 usage or configuration, 3 infrastructure failed — then the output says plainly
what is deployed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from shipflow.cli.common import RegistryOptions, json_option, open_ref, registry_options_own_timeout
from shipflow.cli.output import github_output, note, print_json, stderr, stdout, step_summary
from shipflow.errors import UsageError

if TYPE_CHECKING:
    from shipflow.events import Event
    from shipflow.oci.reference import Reference
    from shipflow.oci.store import Store
    from shipflow.release.canary import CanarySettings, ReleaseReport
    from shipflow.release.config import PipelineConfig
    from shipflow.release.deploy import DeploySettings
    from shipflow.release.yamlconf import Node

CONFIG_NAME = "shipflow.yaml"
NOTIFY_GRACE = 15.0  # at most this long for webhooks in flight before the process exits


# -- configuration ----------------------------------------------------------------------------------


@dataclass
class _Config:
    """The validated shipflow.yaml (the promotion layer's loader), or nothing (flags only)."""

    pipeline: PipelineConfig | None
    base_dir: Path

    def section(self, *keys: str) -> Node | None:
        node = self.pipeline.node if self.pipeline is not None else None
        for key in keys:
            if node is None or node.kind != "mapping":
                return None
            node = node.get(key)
        return node


def _load_config(path: Path | None) -> _Config:
    """shipflow.yaml from ``--config``, ``$SHIPFLOW_CONFIG`` or the working directory, validated
    as every pipeline command validates it; without one, everything comes from flags."""
    from shipflow.release.config import ENV_CONFIG, find_config, load_config

    if path is None and not os.environ.get(ENV_CONFIG) and not (Path.cwd() / CONFIG_NAME).is_file():
        return _Config(None, Path.cwd())
    pipeline = load_config(find_config(path))
    return _Config(pipeline, pipeline.root)


def _image(config: _Config, flag: str | None) -> str:
    if flag:
        return flag
    if config.pipeline is not None:
        return config.pipeline.image
    raise UsageError(
        "which image? no --image and no shipflow.yaml",
        hint="pass --image ghcr.io/org/app (or oci:./store), or run where shipflow.yaml is",
    )


def _key_paths(config: _Config, flags: tuple[Path, ...]) -> list[Path]:
    if flags:
        return list(flags)
    if config.pipeline is not None:
        return list(config.pipeline.trusted_keys)
    raise UsageError(
        "no trusted keys: a canary never deploys an image whose signature it cannot check",
        hint="pass --key cosign.pub or list them under keys.trusted in shipflow.yaml",
    )


def _record_key_paths(config: _Config, trusted: list[Path]) -> list[Path]:
    if config.pipeline is not None:
        return list(config.pipeline.record_keys)
    return trusted


def _open_image(image: str, registry: RegistryOptions) -> tuple[Reference, Store]:
    ref, store = open_ref(image, registry)
    if ref.tag is not None or ref.digest is not None:
        raise UsageError(
            f"{image} names a tag or digest; give the repository only",
            hint="e.g. --image ghcr.io/org/app (the environments are its tags)",
        )
    return ref, store


def _actor(flag: str | None) -> str:
    """``--actor``, else ``$GITHUB_ACTOR`` (in Actions a different ``--actor`` is refused, as for
    promotions), else the local user."""
    if flag or os.environ.get("GITHUB_ACTOR"):
        from shipflow.release.promote import resolve_actor

        return resolve_actor(flag)
    return os.environ.get("USER") or "unknown"


# -- live progress --------------------------------------------------------------------------------


def _minutes(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """Renders the event stream: a live status line on a terminal, plain lines otherwise."""

    def __init__(self, *, live: bool) -> None:
        self._live = live and stderr.is_terminal
        self._status: Any = None
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop_status()

    def _stop_status(self) -> None:
        with self._lock:
            if self._status is not None:
                self._status.stop()
                self._status = None

    def _line(self, text: str) -> None:
        stderr.print(text, markup=False, highlight=False)

    def on_event(self, event: Event) -> None:
        data = event.data
        if event.kind == "canary.check":
            check = data["check"]
            flap = data.get("flap")
            line = (
                f"check {check['seq']}/{data['planned_checks']}: {check['status']} "
                f"({check['latencyMs']:.0f} ms) {check['reason']} · consecutive failures "
                f"{data['consecutive_failures']}/{data['failure_threshold']}"
            )
            if flap:
                line += f" · flap {data['window_failures']}/{flap['failures']} in {flap['window']}"
            line += f" · {_minutes(data['seconds_left'])} left"
            if not self._live:
                self._line(line)
                return
            if check["status"] != "pass":
                self._line(line)
            with self._lock:
                if self._status is None:
                    self._status = stderr.status("", spinner="dots")
                    self._status.start()
                self._status.update(line)
            return
        if event.kind in ("canary.tripped", "rollback.started", "canary.finished", "rollback.finished"):
            self._stop_status()
        self._line(event.message)


# -- signals --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set the stop flag: the watch ends and the canary is rolled back.
    Later signals are acknowledged but do not cut a rollback short."""
    stop = threading.Event()
    count = 0

    def handler(signum: int, frame: object) -> None:
        nonlocal count
        count += 1
        name = signal.Signals(signum).name
        if count == 1:
            note(f"{name}: stopping the watch; the canary is rolled back before shipflow exits")
        else:
            note(f"{name}: a rollback is in progress; shipflow exits as soon as it is done")
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# -- output ---------------------------------------------------------------------------------------


def _render(report: ReleaseReport, as_json: bool) -> None:
    from shipflow.release.notify import render_summary

    if as_json:
        print_json(report.to_json())
    else:
        stdout.print(f"{report.verdict.headline}: {report.reason}", markup=False, highlight=False)
        for label, key in (("detection", "detection"), ("rollback", "rollback"), ("total", "total")):
            value = report.timings.get(key)
            if value is not None:
                stdout.print(f"  {label}: {value:.2f}s", markup=False, highlight=False)
        stdout.print(f"  deployed: {report.state}", markup=False, highlight=False)
        for item in report.notes:
            stdout.print(f"  note: {item}", markup=False, highlight=False)
    step_summary(render_summary(report))
    github_output("verdict", report.verdict.value)
    github_output("deployed", str(report.deployed or ""))
    github_output("previous", str(report.previous or ""))
    github_output("rolled_back", "true" if report.verdict.value == "rolled-back" else "false")
    if report.candidate is not None:
        github_output("digest", str(report.candidate))


def _deploy_settings_for(config: _Config, env: str) -> DeploySettings:
    from shipflow.release.deploy import TagSettings, deploy_settings_from_node

    node = config.section("environments", env, "deploy")
    if node is None and env == "canary":
        node = config.section("canary", "deploy")
    if node is None:
        return TagSettings()
    return deploy_settings_from_node(node, os.environ, base_dir=config.base_dir)


def _settings(config: _Config, flags: Any, *, require_url: bool = True) -> CanarySettings | None:
    """The canary settings; None when no health URL is known and none is required (any other
    configuration error is raised)."""
    from shipflow.release.canary import CanarySettings
    from shipflow.release.canary.settings import NoHealthUrl

    try:
        return CanarySettings.from_node(
            config.section("canary"), os.environ, flags=flags, base_dir=config.base_dir
        )
    except NoHealthUrl:
        if require_url:
            raise
        return None


_watch_options = [
    click.option("--health-url", help="The health endpoint (default: $CANARY_DEPLOY_URL/api/health)."),
    click.option("--interval", help="Time between checks, e.g. 10s (default 10s)."),
    click.option("--duration", help="How long the canary must stay healthy, e.g. 10m (default 10m)."),
    click.option("--timeout", help="Timeout of one check, shorter than the interval (default 5s)."),
    click.option(
        "--failure-threshold",
        type=click.IntRange(1, 1000),
        help="Consecutive failures that trip (default 3).",
    ),
]


def _watch_flags(func: Any) -> Any:
    for option in reversed(_watch_options):
        func = option(func)
    return func


def _common_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--config",
                "config_path",
                type=click.Path(path_type=Path, dir_okay=False),
                help="shipflow.yaml (default: ./shipflow.yaml).",
            ),
            click.option(
                "--image", help="The repository (default: `image:` in shipflow.yaml), e.g. ghcr.io/org/app."
            ),
            click.option(
                "--key",
                "keys",
                multiple=True,
                type=click.Path(path_type=Path),
                help="Trusted public key (default: keys.trusted); repeatable.",
            ),
            click.option("--actor", help="Who runs this (default: $GITHUB_ACTOR)."),
        ]
    ):
        func = option(func)
    return func


def _wait(stop: threading.Event, seconds: float) -> None:
    """The watch's wait between checks: returns early when SIGINT/SIGTERM set ``stop``."""
    stop.wait(seconds)


def _collaborators(
    store: Store,
    settings_deploy: DeploySettings,
    key_paths: list[Path],
    record_keys: list[Path],
    bus: Any,
    stop: threading.Event,
    notifier: Any,
) -> Any:
    from shipflow.release.canary import Collaborators, KeySignatureCheck
    from shipflow.release.canary.pipeline import LedgerHistory, RecordPromotionCheck
    from shipflow.release.deploy import make_target
    from shipflow.signing.policy import trusted_keys_from_paths

    return Collaborators(
        store=store,
        target=make_target(settings_deploy, store=store),
        history=LedgerHistory(store),
        signatures=KeySignatureCheck(store, trusted_keys_from_paths(key_paths)),
        promotion=RecordPromotionCheck(store, trusted_keys_from_paths(record_keys)),
        notifier=notifier,
        events=bus,
        stop=stop,
        wait=lambda seconds: _wait(stop, seconds),
    )


def _finish(report: ReleaseReport, as_json: bool, notifier: Any) -> None:
    _render(report, as_json)
    if notifier is not None and not notifier.wait(NOTIFY_GRACE):
        note("the webhook did not answer in time; shipflow exits without waiting longer")
    if report.exit_code != 0:
        sys.exit(report.exit_code)


# -- commands -------------------------------------------------------------------------------------


@click.command("canary")
@click.option("--digest", required=True, help="The digest to deploy as the canary (sha256:…).")
@click.option("--env", default="canary", show_default=True, help="The canary environment (its tag).")
@click.option(
    "--fallback-env",
    default="production",
    show_default=True,
    help="Rollback target source when ENV holds nothing.",
)
@click.option(
    "--expect-version", help="The version the canary must report (default: the image's version label)."
)
@click.option(
    "--promoted-from",
    help="Demand a verified promotion record of DIGEST into this environment, e.g. staging "
    "(default: canary.promoted_from).",
)
@click.option(
    "--first-release",
    is_flag=True,
    help="Allow a canary with nothing to roll back to (the very first release): a trip then stops it.",
)
@_common_options
@_watch_flags
@registry_options_own_timeout
@json_option
def canary_cmd(
    digest: str,
    env: str,
    fallback_env: str,
    expect_version: str | None,
    promoted_from: str | None,
    first_release: bool,
    config_path: Path | None,
    image: str | None,
    keys: tuple[Path, ...],
    actor: str | None,
    health_url: str | None,
    interval: str | None,
    duration: str | None,
    timeout: str | None,
    failure_threshold: int | None,
    registry: RegistryOptions,
    as_json: bool,
) -> None:
    """Deploy DIGEST as the canary, watch its health, roll back automatically.

    Verifies DIGEST's signature, remembers what the canary (else production) runs now as the
    rollback target (and verifies it too), tags :canary -> DIGEST, runs the deploy target and
    polls the health URL every interval for the duration. After failure-threshold consecutive
    failed checks (or the flap rule), or on SIGINT/SIGTERM, it re-tags :canary to the previous
    digest, redeploys it, waits until it answers healthy, notifies and records.

    Settings: flag > SHIPFLOW_CANARY_* variable > shipflow.yaml `canary:` > default.
    Exit codes: 0 passed, 1 rolled back or refused, 2 usage/config, 3 infrastructure (the
    output then says what is deployed).
    """
    from shipflow.events import EventBus
    from shipflow.oci.digest import Digest
    from shipflow.release.canary import CanaryFlags, CanaryRequest, run_canary
    from shipflow.release.notify import WebhookNotifier

    config = _load_config(config_path)
    flags = CanaryFlags(health_url, interval, duration, timeout, failure_threshold)
    settings = _settings(config, flags)
    assert settings is not None
    image_text = _image(config, image)
    ref, store = _open_image(image_text, registry)
    key_paths = _key_paths(config, keys)
    bus = EventBus()
    notifier = WebhookNotifier(settings.notify, events=bus) if settings.notify.webhook else None
    with _stop_on_signals() as stop, Progress(live=True) as progress:
        bus.subscribe(progress.on_event)
        deps = _collaborators(
            store, settings.deploy, key_paths, _record_key_paths(config, key_paths), bus, stop, notifier
        )
        request = CanaryRequest(
            image=ref.name,
            digest=Digest.parse(digest),
            env=env,
            fallback_env=fallback_env,
            actor=_actor(actor),
            promoted_from=promoted_from or settings.promoted_from,
            expected_version=expect_version,
            first_release=first_release,
        )
        report = run_canary(request, settings, deps)
    _finish(report, as_json, notifier)


@click.command("rollback")
@click.option("--env", required=True, help="The environment to roll back (its tag), e.g. production.")
@click.option("--to", "to", help="A digest ENV held before (default: the previous one of its history).")
@click.option("--reason", default="manual rollback", show_default=True, help="Why, for the record.")
@click.option("--no-health-check", is_flag=True, help="Do not wait for the environment to answer healthy.")
@_common_options
@click.option("--health-url", help="Wait until this answers healthy (default for canary: canary.health_url).")
@registry_options_own_timeout
@json_option
def rollback_cmd(
    env: str,
    to: str | None,
    reason: str,
    no_health_check: bool,
    config_path: Path | None,
    image: str | None,
    keys: tuple[Path, ...],
    actor: str | None,
    health_url: str | None,
    registry: RegistryOptions,
    as_json: bool,
) -> None:
    """Put ENV back to its previous digest (or --to DIGEST, one it held before).

    The target's signature is verified first (a rollback never deploys an unsigned image),
    then :ENV is re-tagged (one manifest PUT by digest), the environment's deploy target runs
    (environments.ENV.deploy; for canary canary.deploy; else tag only), the environment is
    health-checked until healthy when a health URL is known, and the rollback is recorded.

    Exit codes: 0 rolled back (or already there), 1 refused, 2 usage/config, 3 infrastructure.
    """
    from shipflow.events import EventBus
    from shipflow.oci.digest import Digest
    from shipflow.release.canary import CanaryFlags, RollbackRequest, rollback
    from shipflow.release.notify import WebhookNotifier

    config = _load_config(config_path)
    health = None
    if not no_health_check and (health_url or env == "canary"):
        health = _settings(config, CanaryFlags(health_url=health_url), require_url=health_url is not None)
    image_text = _image(config, image)
    ref, store = _open_image(image_text, registry)
    key_paths = _key_paths(config, keys)
    bus = EventBus()
    notify_settings = health.notify if health is not None else None
    notifier = (
        WebhookNotifier(notify_settings, events=bus) if notify_settings and notify_settings.webhook else None
    )
    with _stop_on_signals() as stop, Progress(live=True) as progress:
        bus.subscribe(progress.on_event)
        deps = _collaborators(
            store,
            _deploy_settings_for(config, env),
            key_paths,
            _record_key_paths(config, key_paths),
            bus,
            stop,
            notifier,
        )
        request = RollbackRequest(
            image=ref.name,
            env=env,
            to=Digest.parse(to) if to else None,
            actor=_actor(actor),
            reason=reason,
        )
        report = rollback(request, deps, health=health)
    _finish(report, as_json, notifier)


COMMANDS = [canary_cmd, rollback_cmd]
