"""npm packages installed in ``node_modules`` (every ``package.json`` at a package root).

Only ``node_modules/NAME/package.json`` and ``node_modules/@SCOPE/NAME/package.json`` count,
at any nesting depth; other ``package.json`` files inside a package (sub-path exports, test
fixtures) do not describe an installed package.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from shipflow.sbom.catalogers.base import Cataloged
from shipflow.sbom.catalogers.packages import npm_package
from shipflow.sbom.catalogers.parsing import Unreadable, load_json_object
from shipflow.sbom.model import Distro
from shipflow.sbom.source import FileSource

log = logging.getLogger(__name__)

_PACKAGE_ROOT = re.compile(r"(?:^|/)node_modules/(?:@[^/]+/)?[^/@.][^/]*/package\.json$")


def npm_licenses(doc: dict[str, Any]) -> tuple[str, ...]:
    """``license`` (a string, or the old ``{"type": …}`` object) or the legacy ``licenses``
    list."""
    value = doc.get("license")
    if isinstance(value, dict):
        value = value.get("type")
    if isinstance(value, str) and value.strip():
        return (value.strip(),)
    legacy = doc.get("licenses")
    if isinstance(legacy, list):
        names = [item.get("type") if isinstance(item, dict) else item for item in legacy]
        return tuple(n.strip() for n in names if isinstance(n, str) and n.strip())
    return ()


class NpmCataloger:
    name = "npm"
    wanted_names = frozenset({"package.json"})

    def wants(self, path: str) -> bool:
        return path.endswith("/package.json") and _PACKAGE_ROOT.search(path) is not None

    def catalog(self, source: FileSource, distro: Distro | None) -> Cataloged:
        result = Cataloged()
        for found in source.find(self.wants):
            try:
                doc = load_json_object(found.data)
            except Unreadable as exc:
                result.skip(found.location, self.name, str(exc))
                continue
            name, version = doc.get("name"), doc.get("version")
            if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
                result.skip(found.location, self.name, 'no "name" and "version" strings')
                continue
            result.packages.append(npm_package(name, version, found.location, npm_licenses(doc)))
        return result
