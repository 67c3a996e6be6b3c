"""shipflow: build once, sign, scan, promote by digest, roll back automatically."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
