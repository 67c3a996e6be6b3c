"""Validated content digests (``sha256:<64 hex>``, ``sha512:<128 hex>``)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from shipflow.errors import DigestError

Algorithm = Literal["sha256", "sha512"]

_HEX_LENGTH: dict[str, int] = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"^[a-f0-9]+$")


@dataclass(frozen=True, slots=True)
class Digest:
    """A content digest. Construct with :meth:`parse` or :meth:`of`; both validate."""

    algorithm: Algorithm
    hex: str

    def __post_init__(self) -> None:
        expected = _HEX_LENGTH.get(self.algorithm)
        if expected is None:
            raise DigestError(
                f"unsupported digest algorithm {self.algorithm!r}",
                hint="use a sha256:… or sha512:… digest",
            )
        if len(self.hex) != expected or not _HEX.match(self.hex):
            raise DigestError(
                f"malformed {self.algorithm} digest {f'{self.algorithm}:{self.hex}'!r}: "
                f"expected {expected} lowercase hex characters",
                hint="copy the full digest, e.g. from `shipflow digest IMAGE`",
            )

    @classmethod
    def parse(cls, text: str) -> Digest:
        algorithm, sep, encoded = text.partition(":")
        if not sep:
            raise DigestError(
                f"malformed digest {text!r}: expected ALGORITHM:HEX",
                hint="a digest looks like sha256:<64 hex characters>",
            )
        if algorithm not in _HEX_LENGTH:
            raise DigestError(
                f"unsupported digest algorithm {algorithm!r} in {text!r}",
                hint="use a sha256:… or sha512:… digest",
            )
        return cls(algorithm, encoded)  # type: ignore[arg-type]

    @classmethod
    def of(cls, data: bytes, algorithm: Algorithm = "sha256") -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> hashlib._Hash:
        """A fresh hash object of this digest's algorithm, for streaming verification."""
        return hashlib.new(self.algorithm)

    def matches(self, data: bytes) -> bool:
        return hashlib.new(self.algorithm, data).hexdigest() == self.hex

    @property
    def tag_form(self) -> str:
        """cosign's attachment tag prefix: ``sha256-<hex>`` (used for .sig/.att/.sbom tags)."""
        return f"{self.algorithm}-{self.hex}"

    @property
    def short(self) -> str:
        return f"{self.algorithm}:{self.hex[:12]}"

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"
