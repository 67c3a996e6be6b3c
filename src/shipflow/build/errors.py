"""The build layer's errors, in shipflow's one tree (:mod:`shipflow.errors`)::

    CheckFailed (exit 1)
    └── BuildFailed            the builder ran and the build failed (a RUN step, a COPY of a
                               missing file, a Dockerfile error): the inputs are at fault
    InfrastructureError (exit 3)
    └── BuilderUnavailable     no usable builder: buildah not installed, no Docker daemon

A reuse refused because the store is inconsistent (a ``build-<fingerprint>`` tag naming an image
whose fingerprint label differs) is a :class:`BuildFailed` too: the fix is ``--rebuild``.
"""

from __future__ import annotations

from shipflow.errors import CheckFailed, InfrastructureError

__all__ = ["BuildFailed", "BuilderUnavailable"]


class BuildFailed(CheckFailed):
    """The build ran and failed; ``output`` holds the builder's last lines (redacted)."""

    def __init__(self, message: str, *, output: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.output = output


class BuilderUnavailable(InfrastructureError):
    """No builder that can run here (not installed, or its daemon does not answer)."""
