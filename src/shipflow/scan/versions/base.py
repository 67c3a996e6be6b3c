"""The version-scheme interface (a leaf: every scheme module imports it, it imports none)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any


class InvalidVersion(ValueError):
    """A version string that the ecosystem's own tooling would reject."""


@dataclass(frozen=True, slots=True)
class VersionScheme:
    """One ecosystem's ordering. ``compare`` returns <0, 0, >0 like C's strcmp."""

    name: str
    compare: Callable[[str, str], int]

    def sort_key(self) -> Callable[[str], Any]:
        return cmp_to_key(self.compare)
