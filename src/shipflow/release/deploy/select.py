"""Choosing a deploy target: one enum, one function, every choice wired (checked by a test)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import assert_never

from shipflow.oci.store import Store
from shipflow.release.deploy.base import DeployTarget
from shipflow.release.deploy.settings import CommandSettings, DeploySettings, LocalSettings, TagSettings

__all__ = ["make_target"]


def make_target(
    settings: DeploySettings, *, store: Store, environ: Mapping[str, str] | None = None
) -> DeployTarget:
    """The deploy target ``settings`` describe, working on ``store`` (the image's repository)."""
    if isinstance(settings, TagSettings):
        from shipflow.release.deploy.tag import TagTarget

        return TagTarget(store)
    if isinstance(settings, CommandSettings):
        from shipflow.release.deploy.command import CommandTarget

        return CommandTarget(settings, environ=os.environ if environ is None else environ)
    if isinstance(settings, LocalSettings):
        from shipflow.release.deploy.local import LocalTarget

        return LocalTarget(store, settings)
    assert_never(settings)
