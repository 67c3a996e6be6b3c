"""Where the committed test data lives (tests/data), for test modules at any depth."""

from __future__ import annotations

from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = TESTS_DIR / "data"
