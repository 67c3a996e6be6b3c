"""The canary: deploy a digest as ``:canary``, watch its health, roll back automatically.

    settings = CanarySettings.from_node(config.get("canary"), os.environ, flags=CanaryFlags(...))
    report = run_canary(
        CanaryRequest(image="ghcr.io/org/app", digest=D, actor="lead-login-1"),
        settings,
        Collaborators(store=store, target=make_target(settings.deploy, store=store),
                      history=history, signatures=KeySignatureCheck(store, policy), events=bus),
    )
    report.verdict, report.exit_code, report.state

    rollback(RollbackRequest(image=..., env="production"), Collaborators(...))

See :mod:`shipflow.release.canary.controller` for the run, :mod:`~.watch` for the trip rules,
:mod:`~.probe` for what one check is, :mod:`~.ports` for what the controller needs from the
pipeline (history, signature and promotion checks, notifier).
"""

from __future__ import annotations

from shipflow.release.canary.controller import (
    CanaryRequest,
    Collaborators,
    RollbackRequest,
    default_probe,
    rollback,
    run_canary,
)
from shipflow.release.canary.ports import (
    EnvironmentHistory,
    HeldDigest,
    KeySignatureCheck,
    MemoryHistory,
    Notifier,
    PromotionCheck,
    ReleaseEntry,
    SignatureCheck,
    StopFlag,
)
from shipflow.release.canary.probe import CheckStatus, HealthProbe, HttpProbe, Observation, classify
from shipflow.release.canary.report import ReleaseReport, RunVerdict
from shipflow.release.canary.settings import CanaryFlags, CanarySettings, Expectation, FlapRule, VersionCheck
from shipflow.release.canary.watch import Check, Trip, TripRule, WatchResult, watch

__all__ = [
    "CanaryFlags",
    "CanaryRequest",
    "CanarySettings",
    "Check",
    "CheckStatus",
    "Collaborators",
    "EnvironmentHistory",
    "Expectation",
    "FlapRule",
    "HealthProbe",
    "HeldDigest",
    "HttpProbe",
    "KeySignatureCheck",
    "MemoryHistory",
    "Notifier",
    "Observation",
    "PromotionCheck",
    "ReleaseEntry",
    "ReleaseReport",
    "RollbackRequest",
    "RunVerdict",
    "SignatureCheck",
    "StopFlag",
    "Trip",
    "TripRule",
    "VersionCheck",
    "WatchResult",
    "classify",
    "default_probe",
    "rollback",
    "run_canary",
    "watch",
]
