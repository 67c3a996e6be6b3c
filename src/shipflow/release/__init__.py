"""The pipeline: shipflow.yaml, promotion with gates, records and history, canary, rollback.

Built on ``oci/``, ``signing/``, ``sbom/`` and ``scan/`` through their library entry points and
the gate protocol in :mod:`shipflow.gate`; never on ``cli/``.
"""

from __future__ import annotations

__all__: list[str] = []
