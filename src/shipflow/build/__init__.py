"""Building images: builder backends (buildah, docker buildx) and SLSA provenance."""

from __future__ import annotations

__all__: list[str] = []
