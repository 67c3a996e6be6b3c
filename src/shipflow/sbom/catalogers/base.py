"""The cataloger interface: which files a cataloger wants, and what packages it finds.

Most catalogers read small files whole (``wants`` a path; the file's bytes arrive in
:meth:`FileSource.find`). Catalogers of big files that only a small part of is needed (Go
executables, Java archives) also implement :class:`~shipflow.sbom.source.Reducer`: the
source calls ``reduce`` on each candidate as it streams past, keeps only the small result,
and hands that to ``catalog`` through :meth:`FileSource.find_reduced`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from shipflow.sbom.model import Distro, Location, NotRead, Package
from shipflow.sbom.source import FileSource


@dataclass(slots=True)
class Cataloged:
    """What one cataloger found: packages, and the recognised files it could not read."""

    packages: list[Package] = field(default_factory=list)
    not_read: list[NotRead] = field(default_factory=list)

    def skip(self, location: Location, cataloger: str, reason: str) -> None:
        self.not_read.append(NotRead(location=location, cataloger=cataloger, reason=reason))


class Cataloger(Protocol):
    """A cataloger. It may also set ``wanted_names`` (a ``frozenset`` of file names): every
    path its ``wants`` accepts then ends in one of them, and the layer reader asks it only
    about such paths (``wants`` keeps the last word). Without it, it is asked about every
    path."""

    name: str  # short, for summaries, logs and "not read" warnings: "dpkg", "npm-lock"

    def wants(self, path: str) -> bool:
        """Whether the file at ``path`` (relative, no leading slash) must be read."""
        ...

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged: ...
