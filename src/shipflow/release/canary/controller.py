"""The canary controller and the rollback: library functions, no printing, no exiting.

:func:`run_canary` is the specification's ``canary-deploy.yml``::

    verify D (signature; a promotion record into staging when asked)     nothing changed yet
    find the rollback target P (:canary now, else its history, else :production), verify P
    tag :canary -> D, run the deploy target
    watch (watch.py) until the duration passes or a trip rule fires
    passed: record, notify                                     exit 0
    tripped / interrupted / deploy failed: roll back to P     exit 1
        verify P again, tag :canary -> P, deploy target rollback(P),
        probe until P answers healthy, notify, record

:func:`rollback` is ``shipflow rollback --env ENV [--to DIGEST]``: the same roll-back steps for
any environment, to the previous digest of its history or a named one it held before.

Every outcome is a :class:`~shipflow.release.canary.report.ReleaseReport` with a verdict, an
exit code and one plain sentence saying what is deployed. Decisions are never exceptions; only
a programming error escapes. The clock, the sleep, the stop flag, the probe, the store, the
target, the history, the signature check and the notifier are all passed in
(:class:`Collaborators`): unit tests run a whole canary on a fake clock in milliseconds.

The tag is only ever *moved* (one manifest PUT by digest), never deleted: ``:canary`` names D
or P at every moment. Timings come from the injected monotonic clock: detection is first
failing check → trip, rollback is trip → P answering healthy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from shipflow.errors import EXIT_INFRA, CheckFailed, ManifestNotFound, ShipflowError
from shipflow.events import EventSink, NullSink
from shipflow.oci.digest import Digest
from shipflow.oci.store import Store
from shipflow.release.canary.ports import (
    EnvironmentHistory,
    Notifier,
    PromotionCheck,
    ReleaseEntry,
    SignatureCheck,
    StopFlag,
)
from shipflow.release.canary.probe import (
    CheckStatus,
    HealthProbe,
    HttpProbe,
    Observation,
    VersionExpectation,
    classify,
    version_matches,
)
from shipflow.release.canary.report import ReleaseReport, RunVerdict
from shipflow.release.canary.settings import CanarySettings
from shipflow.release.canary.watch import Check, WatchOutcome, watch
from shipflow.release.deploy.base import DeployError, DeployRequest, DeployTarget, validate_env_name
from shipflow.timeutil import utc_timestamp

__all__ = ["CanaryRequest", "Collaborators", "RollbackRequest", "default_probe", "rollback", "run_canary"]

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]
_RECOVERY_POLL = 0.25  # seconds between checks while waiting for the previous version


def default_probe(settings: CanarySettings) -> HealthProbe:
    return HttpProbe(settings.health_url, timeout=settings.timeout, headers=settings.headers)


def _never() -> StopFlag:
    return threading.Event()


@dataclass(frozen=True)
class Collaborators:
    """Everything the controller talks to; tests replace any of them."""

    store: Store
    target: DeployTarget
    history: EnvironmentHistory
    signatures: SignatureCheck
    promotion: PromotionCheck | None = None
    notifier: Notifier | None = None
    events: EventSink = field(default_factory=NullSink)
    clock: Clock = time.monotonic
    sleep: Sleep = time.sleep
    # The watch's waits, which a stop (SIGINT/SIGTERM) must cut short, e.g. ``stop_event.wait``;
    # None: ``sleep`` (then the stop flag is seen after each wait). Rollback waits use ``sleep``.
    wait: Sleep | None = None
    stop: StopFlag = field(default_factory=_never)
    probe_factory: Callable[[CanarySettings], HealthProbe] = default_probe
    version_of: Callable[[Digest], str | None] | None = None  # default: the image's version label


@dataclass(frozen=True)
class CanaryRequest:
    image: str  # the repository, as shown and as given to deploy templates
    digest: Digest
    env: str = "canary"
    fallback_env: str = "production"  # where the rollback target comes from when ENV holds nothing
    actor: str = "unknown"
    promoted_from: str | None = None  # demand a verified promotion record into this environment
    expected_version: str | None = None
    # The very first canary has nothing to roll back to: allowed only when asked for; a trip
    # then stops the canary's deployment instead of rolling back.
    first_release: bool = False

    def __post_init__(self) -> None:
        validate_env_name(self.env)
        validate_env_name(self.fallback_env)


@dataclass(frozen=True)
class RollbackRequest:
    image: str
    env: str
    to: Digest | None = None
    actor: str = "unknown"
    reason: str = "manual rollback"

    def __post_init__(self) -> None:
        validate_env_name(self.env)


def _version_of(deps: Collaborators, digest: Digest) -> str | None:
    if deps.version_of is not None:
        return deps.version_of(digest)
    from shipflow.release.deploy.rootfs import image_runtime

    try:
        return image_runtime(deps.store, digest).version
    except ShipflowError as exc:
        log.info("cannot read the version label of %s: %s", digest.short, exc.message)
        return None


def _read_tag(store: Store, env: str) -> tuple[Digest | None, str | None]:
    """(digest the tag names, None) or (None, why it is unknown)."""
    try:
        return store.resolve(env).digest, None
    except ManifestNotFound:
        return None, "absent"
    except ShipflowError as exc:
        return None, exc.message


def _describe_state(report: ReleaseReport, deps: Collaborators) -> None:
    """Read back what the tag names and what the target runs; say it in one sentence."""
    tag, why = _read_tag(deps.store, report.env)
    report.tag_digest = tag
    try:
        report.target_state = deps.target.current(report.env)
    except ShipflowError as exc:
        report.target_state = None
        report.notes.append(f"the {deps.target.name} target cannot tell what runs: {exc.message}")
    tag_text = f":{report.env} names {tag}" if tag is not None else f":{report.env} is unknown ({why})"
    parts = [tag_text]
    target = report.target_state
    if target is not None and target.digest is not None:
        parts.append(target.describe())
        if tag is not None and target.digest != tag:
            parts.append(
                "THE TAG AND THE TARGET DISAGREE: fix it by hand (shipflow rollback --env "
                f"{report.env} --to DIGEST)"
            )
    elif target is not None and deps.target.name != "tag":
        parts.append(target.describe())
    report.state = "; ".join(parts)


def _finish(
    report: ReleaseReport, deps: Collaborators, verdict: RunVerdict, reason: str, t0: float
) -> ReleaseReport:
    report.finish(verdict, reason)
    _describe_state(report, deps)
    report.timings["total"] = deps.clock() - t0
    report.finished_at = utc_timestamp()
    deps.events.emit(
        f"{report.kind}.finished",
        f"{report.verdict.value}: {reason}",
        verdict=report.verdict.value,
        exit_code=report.exit_code,
        state=report.state,
    )
    return report


def _notify(report: ReleaseReport, deps: Collaborators, settings: CanarySettings | None) -> None:
    if deps.notifier is None or settings is None or settings.notify.webhook is None:
        return
    if report.verdict.value not in settings.notify.on:
        return
    try:
        deps.notifier.notify(report)
    except Exception as exc:  # a notifier never stands between a rollback and its record
        log.warning("notification failed to start: %s", exc)
        report.notes.append(f"notification not sent: {exc}")


def _record(
    report: ReleaseReport, deps: Collaborators, *, digest: Digest | None, previous: Digest | None
) -> None:
    if digest is None:
        report.notes.append("nothing recorded: what the environment holds is unknown")
        return
    entry = ReleaseEntry(
        kind=report.kind,
        env=report.env,
        digest=digest,
        previous=previous,
        candidate=report.candidate,
        actor=report.actor,
        outcome=report.verdict.value,
        reason=report.reason,
        started_at=report.started_at,
        finished_at=report.finished_at or utc_timestamp(),
        deploy_target=deps.target.name,
        timings=dict(report.timings),
        checks=report.counts,
        details={"trip": None if report.trip is None else report.trip.rule, "state": report.state},
    )
    try:
        deps.history.record(entry)
    except ShipflowError as exc:
        report.notes.append(f"the history entry could not be written: {exc.message}")
        deps.events.emit("history.record.failed", exc.message, env=report.env)
        return
    report.recorded = bool(getattr(deps.history, "persistent", True))
    if not report.recorded:
        report.notes.append("no persistent history configured: this run was not recorded")


def _rollback_target(request: CanaryRequest, deps: Collaborators) -> tuple[Digest | None, str | None]:
    current, _ = _read_tag(deps.store, request.env)
    if current is not None and current != request.digest:
        return current, f":{request.env} before this canary"
    for held in deps.history.held(request.env):
        if held.digest != request.digest:
            return held.digest, f"{request.env} history ({held.since or 'earlier'})"
    fallback, _ = _read_tag(deps.store, request.fallback_env)
    if fallback is not None and fallback != request.digest:
        return fallback, f":{request.fallback_env} ({request.env} held nothing else)"
    return None, None


def _version_expectation(
    settings: CanarySettings, expected: str | None, digest: Digest, old: str | None
) -> VersionExpectation | None:
    if settings.version is None:
        return None
    return VersionExpectation(settings.version, expected or str(digest), digest, old)


# -- the canary ------------------------------------------------------------------------------------


def run_canary(request: CanaryRequest, settings: CanarySettings, deps: Collaborators) -> ReleaseReport:
    """Deploy ``request.digest`` as the canary, watch it, and keep it or roll it back."""
    clock, events = deps.clock, deps.events
    t0 = clock()
    digest = request.digest
    report = ReleaseReport(
        kind="canary",
        env=request.env,
        image=request.image,
        candidate=digest,
        actor=request.actor,
        started_at=utc_timestamp(),
    )
    report.settings = settings.to_json()
    events.emit("canary.started", f"canary {digest} on {request.env}", digest=str(digest), env=request.env)

    # 1. Before anything changes: the candidate, its rollback target, both verified.
    try:
        deps.store.resolve(str(digest))
        report.evidence.append(deps.signatures.verify(digest))
        events.emit("canary.verified", f"{digest.short}: signature verified", digest=str(digest))
        if request.promoted_from is not None:
            if deps.promotion is None:
                report.notes.append("promotion records cannot be checked here: no promotion check configured")
            else:
                report.evidence.append(deps.promotion.verify_promoted(digest, request.promoted_from))
        previous, source = _rollback_target(request, deps)
        if previous is None and not request.first_release:
            return _finish(
                report,
                deps,
                RunVerdict.REFUSED,
                f"there is nothing to roll back to: neither :{request.env} nor :{request.fallback_env} "
                "holds another digest, so an unhealthy canary could not be undone "
                "(for the very first release, pass --first-release: a trip then stops the canary)",
                t0,
            )
        report.previous, report.previous_source = previous, source
        if previous is None:
            report.notes.append("first release: nothing to roll back to; a trip stops the canary")
            events.emit("canary.rollback_target", "no rollback target: a first release")
        else:
            events.emit(
                "canary.rollback_target",
                f"rollback target {previous.short} ({source})",
                previous=str(previous),
            )
        try:
            if previous is not None:
                report.evidence.append(deps.signatures.verify(previous))
        except CheckFailed as exc:
            return _finish(
                report,
                deps,
                RunVerdict.REFUSED,
                f"the rollback target {previous} does not verify, so a rollback could not be done safely: "
                f"{exc.message}",
                t0,
            )
        report.expected_version = request.expected_version or (
            settings.version.expected if settings.version is not None else None
        )
        if settings.version is not None and report.expected_version is None:
            report.expected_version = _version_of(deps, digest)
        report.previous_version = (
            _version_of(deps, previous) if settings.version is not None and previous is not None else None
        )
    except CheckFailed as exc:
        return _finish(report, deps, RunVerdict.REFUSED, f"{digest} may not be deployed: {exc.message}", t0)
    except ShipflowError as exc:
        return _finish(report, deps, RunVerdict.ERROR, f"before anything changed: {exc.message}", t0)
    if deps.stop.is_set():
        return _finish(report, deps, RunVerdict.REFUSED, "interrupted before anything changed", t0)

    probe = deps.probe_factory(settings)  # made before the deploy: it loads its HTTP stack now

    # 2. Tag, then deploy.
    try:
        deps.store.tag(digest, request.env)
        found, _ = _read_tag(deps.store, request.env)
        if found != digest:
            raise ShipflowError(f":{request.env} names {found} right after it was tagged {digest}")
    except ShipflowError as exc:
        return _finish(report, deps, RunVerdict.ERROR, f"tagging :{request.env} failed: {exc.message}", t0)
    events.emit("canary.tagged", f":{request.env} -> {digest.short}", digest=str(digest))
    deploy_request = DeployRequest(request.env, request.image, digest, previous)
    try:
        report.deploy = deps.target.deploy(deploy_request)
        events.emit("canary.deployed", report.deploy.summary, seconds=report.deploy.seconds)
    except DeployError as exc:
        report.notes.append(
            f"deploy output:\n{exc.output}" if exc.output else "the deploy failed without output"
        )
        return _roll_back_canary(
            report, settings, deps, request, previous, f"the deploy failed: {exc.message}", t0
        )
    if deps.stop.is_set():
        return _roll_back_canary(
            report, settings, deps, request, previous, "interrupted after the deploy", t0
        )

    # 3. Watch.
    version = _version_expectation(settings, report.expected_version, digest, report.previous_version)
    deployed_at = clock()
    result = watch(
        probe=probe,
        settings=settings,
        version=version,
        clock=clock,
        sleep=deps.wait or deps.sleep,
        stop=deps.stop,
        events=events,
        deployed_at=deployed_at,
    )
    report.checks = result.checks
    report.trip = result.trip
    report.missed_slots = result.missed_slots
    report.timings["watch"] = result.seconds
    if result.outcome == WatchOutcome.PASSED:
        counts = report.counts
        _finish(
            report,
            deps,
            RunVerdict.PASSED,
            f"healthy for {settings.duration:g}s: {counts['pass']} of {counts['total']} checks passed",
            t0,
        )
        _notify(report, deps, settings)
        _record(report, deps, digest=report.tag_digest, previous=previous)
        if report.recorded is False and getattr(deps.history, "persistent", True):
            report.exit_code = 3  # passed, but the history does not know: infrastructure
        return report
    if result.outcome == WatchOutcome.INTERRUPTED:
        reason = "interrupted (SIGINT/SIGTERM) during the watch: the canary was not proven"
    else:
        assert result.trip is not None
        reason = f"tripped: {result.trip.description}"
        events.emit("canary.tripped", reason, rule=result.trip.rule)
    return _roll_back_canary(report, settings, deps, request, previous, reason, t0)


def _roll_back_canary(
    report: ReleaseReport,
    settings: CanarySettings,
    deps: Collaborators,
    request: CanaryRequest,
    previous: Digest | None,
    reason: str,
    t0: float,
) -> ReleaseReport:
    trip_at = deps.clock()
    trip = report.trip
    if trip is not None and trip.first_failure is not None and trip.tripping is not None:
        report.timings["detection"] = trip.tripping.finished - trip.first_failure.started
    if previous is None:
        # A first release: there is no earlier digest to go back to. Stop what the target
        # runs; the tag keeps naming the candidate (never nothing), and the report says so.
        try:
            deps.target.stop(request.env)
            stopped = f"its deployment was stopped; :{request.env} still names {request.digest}"
        except ShipflowError as exc:
            stopped = f"stopping its deployment failed ({exc.message}); :{request.env} names {request.digest}"
        _finish(report, deps, RunVerdict.STOPPED, f"{reason}; nothing to roll back to: {stopped}", t0)
        _notify(report, deps, settings)
        _record(report, deps, digest=report.tag_digest, previous=None)
        return report
    failed = _roll_back(
        report,
        deps,
        settings,
        env=request.env,
        image=request.image,
        to=previous,
        away_from=request.digest,
        reason=reason,
    )
    if failed is None:
        recovered = (
            report.recovery[-1].finished
            if report.recovery and report.recovery[-1].status is CheckStatus.PASS
            else None
        )
        report.timings["rollback"] = None if recovered is None else recovered - trip_at
        if recovered is not None and trip is not None and trip.first_failure is not None:
            report.timings["first_failure_to_recovered"] = recovered - trip.first_failure.started
        _finish(report, deps, RunVerdict.ROLLED_BACK, f"{reason}; rolled back to {previous}", t0)
    else:
        _finish(report, deps, RunVerdict.ROLLBACK_FAILED, f"{reason}; {report.reason}", t0)
    _notify(report, deps, settings)
    _record(report, deps, digest=report.tag_digest, previous=previous)
    return report


def _roll_back(
    report: ReleaseReport,
    deps: Collaborators,
    settings: CanarySettings | None,
    *,
    env: str,
    image: str,
    to: Digest,
    away_from: Digest | None,
    reason: str,
) -> RunVerdict | None:
    """Verify, re-tag, redeploy, confirm health. None when all went well; else REFUSED (the
    target did not verify: nothing changed) or ROLLBACK_FAILED, with ``report.reason`` set.
    The caller states what is deployed."""
    events = deps.events
    events.emit("rollback.started", f"rolling {env} back to {to.short}: {reason}", env=env, to=str(to))
    try:
        report.evidence.append(deps.signatures.verify(to))
    except CheckFailed as exc:
        report.reason = f"the rollback target {to} did not verify, so it was not deployed: {exc.message}"
        return RunVerdict.REFUSED
    except ShipflowError as exc:
        report.reason = (
            f"the rollback target {to} could not be verified, so it was not deployed: {exc.message}"
        )
        return RunVerdict.ROLLBACK_FAILED
    try:
        deps.store.tag(to, env)
    except ShipflowError as exc:
        report.reason = f"re-tagging :{env} to {to.short} failed: {exc.message}"
        return RunVerdict.ROLLBACK_FAILED
    events.emit("rollback.tagged", f":{env} -> {to.short}", digest=str(to))
    try:
        report.rollback_deploy = deps.target.rollback(DeployRequest(env, image, to, away_from))
    except DeployError as exc:
        if exc.output:
            report.notes.append(f"rollback deploy output:\n{exc.output}")
        report.reason = f"the deploy target could not roll back: {exc.message}"
        return RunVerdict.ROLLBACK_FAILED
    events.emit("rollback.deployed", report.rollback_deploy.summary, seconds=report.rollback_deploy.seconds)
    if settings is None or _confirm_recovery(report, deps, settings, to, away_from):
        return None
    return RunVerdict.ROLLBACK_FAILED


def _recovery_verdict(
    seen: Observation,
    settings: CanarySettings,
    previous_version: str | None,
    to: Digest,
    away_from: Digest | None,
    expected_away: str | None,
) -> tuple[CheckStatus, str, str | None]:
    """Healthy, and — with a version check — reporting the previous version (or at least not
    the one rolled away from, when the previous one has no label)."""
    version = None
    if settings.version is not None:
        version = VersionExpectation(
            replace(settings.version, ready_within=0.0), previous_version or str(to), to
        )
    verdict = classify(seen, settings.expect, version, elapsed=1e12)
    unlabelled = verdict.kind == "version" and previous_version is None and verdict.version
    if unlabelled and (
        away_from is None
        or not version_matches(verdict.version or "", expected_away or str(away_from), away_from)
    ):
        # P has no version label: accept any version but the candidate's.
        base = classify(seen, settings.expect, None, elapsed=1e12)
        return base.status, base.reason, verdict.version
    return verdict.status, verdict.reason, verdict.version


def _confirm_recovery(
    report: ReleaseReport, deps: Collaborators, settings: CanarySettings, to: Digest, away_from: Digest | None
) -> bool:
    clock = deps.clock
    probe = deps.probe_factory(settings)
    start = clock()
    deadline = start + settings.recovery_timeout
    poll = min(settings.interval, _RECOVERY_POLL)
    seq = 0
    while True:
        seq += 1
        started = clock()
        seen = probe.probe()
        finished = clock()
        status, reason, version = _recovery_verdict(
            seen, settings, report.previous_version, to, away_from, report.expected_version
        )
        check = Check(
            seq=seq,
            started=started,
            finished=finished,
            offset=started - start,
            status=status,
            kind="recovery",
            reason=reason,
            latency=seen.latency,
            http_status=seen.status,
            version=version,
            at=utc_timestamp(),
        )
        report.recovery.append(check)
        deps.events.emit(
            "rollback.check", f"recovery check {seq}: {status.value} — {reason}", check=check.to_json()
        )
        if status is CheckStatus.PASS:
            deps.events.emit(
                "rollback.recovered", f"{to.short} answers healthy again", seconds=finished - start
            )
            return True
        if finished >= deadline:
            report.reason = (
                f"the previous version {to.short} did not answer healthy within "
                f"{settings.recovery_timeout:g}s (last: {reason})"
            )
            return False
        # No stop check here: a signal is what started many rollbacks, and this wait is what
        # proves the rollback worked; it is bounded by recovery_timeout.
        deps.sleep(min(poll, max(0.0, deadline - clock())))


# -- manual rollback -------------------------------------------------------------------------------


def rollback(
    request: RollbackRequest, deps: Collaborators, *, health: CanarySettings | None = None
) -> ReleaseReport:
    """Put ``request.env`` back to its previous digest (or ``request.to``, which it must have
    held before). With ``health``, wait until the environment answers healthy again."""
    t0 = deps.clock()
    report = ReleaseReport(
        kind="rollback",
        env=request.env,
        image=request.image,
        candidate=None,
        actor=request.actor,
        started_at=utc_timestamp(),
    )
    if health is not None:
        report.settings = health.to_json()
    try:
        current, why = _read_tag(deps.store, request.env)
        if current is None and why != "absent":
            return _finish(report, deps, RunVerdict.ERROR, f"cannot read :{request.env}: {why}", t0)
        report.candidate = current
        held_digests = list(deps.history.held(request.env))
        held = [h.digest for h in held_digests]
        if request.to is not None:
            to = request.to
            if to == current:
                report.previous = to
                if held_digests and held_digests[0].kind == "tag" and held_digests[0].outcome == "unrecorded":
                    return _record_earlier_rollback(report, deps, to, held[1] if len(held) > 1 else None, t0)
                return _finish(
                    report, deps, RunVerdict.PASSED, f":{request.env} already names {to}; nothing to do", t0
                )
            if to not in held:
                if getattr(deps.history, "knows_past", True):
                    listing = ", ".join(d.short for d in held[:10]) or "none known"
                    return _finish(
                        report,
                        deps,
                        RunVerdict.REFUSED,
                        f"{to} is not a digest {request.env} held before; it held: {listing}",
                        t0,
                    )
                report.notes.append(
                    f"no history configured: whether {request.env} held {to.short} before cannot be checked "
                    "(its signature still is)"
                )
        else:
            candidates = [d for d in held if d != current]
            if not candidates:
                return _finish(
                    report,
                    deps,
                    RunVerdict.REFUSED,
                    f"{request.env} has no previous digest to roll back to"
                    + (
                        ""
                        if getattr(deps.history, "knows_past", True)
                        else " (no history configured: give --to DIGEST)"
                    ),
                    t0,
                )
            to = candidates[0]
        report.previous = to
        report.previous_source = "--to" if request.to is not None else f"{request.env} history"
        deps.store.resolve(str(to))
        if health is not None and health.version is not None:
            report.previous_version = _version_of(deps, to)
            report.expected_version = _version_of(deps, current) if current is not None else None
    except CheckFailed as exc:
        return _finish(report, deps, RunVerdict.REFUSED, exc.message, t0)
    except ShipflowError as exc:
        return _finish(report, deps, RunVerdict.ERROR, f"before anything changed: {exc.message}", t0)
    started = deps.clock()
    failed = _roll_back(
        report,
        deps,
        health,
        env=request.env,
        image=request.image,
        to=to,
        away_from=current,
        reason=request.reason,
    )
    if failed is None:
        done = report.recovery[-1].finished if report.recovery else deps.clock()
        report.timings["rollback"] = done - started
        _finish(report, deps, RunVerdict.ROLLED_BACK, f"{request.env} rolled back to {to}", t0)
    else:
        _finish(report, deps, failed, report.reason, t0)
    _notify(report, deps, health)
    _record(report, deps, digest=report.tag_digest, previous=current)
    persistent = getattr(deps.history, "persistent", True)
    if report.verdict is RunVerdict.ROLLED_BACK and not report.recorded and persistent:
        # Rolled back, but the history does not know: infrastructure, and said so. Running the
        # same rollback again (it finds the tag already there) writes the entry.
        report.exit_code = EXIT_INFRA
        report.reason += (
            f"; its history entry could not be written: run `shipflow rollback --env {request.env} "
            f"--to {to}` again to record it"
        )
    return report


def _record_earlier_rollback(
    report: ReleaseReport, deps: Collaborators, to: Digest, before: Digest | None, t0: float
) -> ReleaseReport:
    """``:env`` already names ``to``, but no history entry moved it there (an earlier rollback
    could not write its entry): write it now, as that rollback's."""
    _finish(
        report,
        deps,
        RunVerdict.ROLLED_BACK,
        f":{report.env} already names {to}; the history entry of the rollback that moved it there "
        "is written now",
        t0,
    )
    _record(report, deps, digest=to, previous=before)
    if not report.recorded and getattr(deps.history, "persistent", True):
        report.exit_code = EXIT_INFRA
    return report
