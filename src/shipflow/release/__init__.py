"""The pipeline: shipflow.yaml, promotion with gates, records and history, canary, rollback.

Built on ``oci/``, ``signing/``, ``sbom/`` and ``scan/`` through their library entry points and
the gate protocol in :mod:`shipflow.gate`; never on ``cli/``. The public API::

    config = load_config(find_config())                      # shipflow.yaml, validated
    pipeline = Pipeline(config, store, parse_reference(config.image))
    result = promote(pipeline, PromotionRequest(digest, "dev", "staging", "alice"), signer=key)
    approve(store, digest, "production", key, approver="bob", subject_name=pipeline.name)
    history(store, "production")                              # list of HistoryEntry
    environment_status(store, config.environments)            # what each environment holds
    release(ReleaseSettings(...))                             # build once -> sign -> ... -> :dev

The canary controller is :mod:`shipflow.release.canary`, the migration dry run
:mod:`shipflow.release.migration`. Names are loaded on first use, so importing the package costs
nothing a command does not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipflow._lazy import lazy_names

if TYPE_CHECKING:
    from shipflow.release.approvals import approve
    from shipflow.release.config import PipelineConfig, find_config, load_config
    from shipflow.release.history import HistoryEntry, environment_status, history, where
    from shipflow.release.promote import Pipeline, PromotionRequest, PromotionResult, promote
    from shipflow.release.records import verify_chain
    from shipflow.release.release import ReleaseFailed, ReleaseResult, ReleaseSettings, release
    from shipflow.release.verify_image import VerifyImageSettings, verify_image

_MODULE_OF = {
    "approve": "shipflow.release.approvals",
    "PipelineConfig": "shipflow.release.config",
    "find_config": "shipflow.release.config",
    "load_config": "shipflow.release.config",
    "HistoryEntry": "shipflow.release.history",
    "environment_status": "shipflow.release.history",
    "history": "shipflow.release.history",
    "where": "shipflow.release.history",
    "Pipeline": "shipflow.release.promote",
    "PromotionRequest": "shipflow.release.promote",
    "PromotionResult": "shipflow.release.promote",
    "promote": "shipflow.release.promote",
    "verify_chain": "shipflow.release.records",
    "ReleaseFailed": "shipflow.release.release",
    "ReleaseResult": "shipflow.release.release",
    "ReleaseSettings": "shipflow.release.release",
    "release": "shipflow.release.release",
    "VerifyImageSettings": "shipflow.release.verify_image",
    "verify_image": "shipflow.release.verify_image",
}

__getattr__, __dir__ = lazy_names(__name__, _MODULE_OF)

__all__ = [
    "HistoryEntry",
    "Pipeline",
    "PipelineConfig",
    "PromotionRequest",
    "PromotionResult",
    "ReleaseFailed",
    "ReleaseResult",
    "ReleaseSettings",
    "VerifyImageSettings",
    "approve",
    "environment_status",
    "find_config",
    "history",
    "load_config",
    "promote",
    "release",
    "verify_chain",
    "verify_image",
    "where",
]
