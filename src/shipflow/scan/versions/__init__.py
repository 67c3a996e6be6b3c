"""Version ordering per ecosystem: what "introduced", "fixed" and "last_affected" mean.

Each scheme is a ``compare(a, b) -> int`` that raises :class:`InvalidVersion` for a string the
ecosystem would not accept. :func:`scheme_for` maps an OSV ecosystem name to its scheme.
"""

from __future__ import annotations

from shipflow.scan.versions.base import InvalidVersion, VersionScheme, scheme_for

__all__ = ["InvalidVersion", "VersionScheme", "scheme_for"]
