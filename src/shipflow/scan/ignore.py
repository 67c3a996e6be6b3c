"""Accepted risks: ``.shipflowignore.yaml`` and Trivy's ``.trivyignore``.

``.shipflowignore.yaml``::

    ignore:
      - id: CVE-2020-8203            # an advisory id or any of its aliases
        reason: zipObjectDeep is not reachable from our code   # required
        expires: 2026-12-31          # optional; the entry stops ignoring after this day
        package: lodash              # optional; or purl: pkg:npm/lodash@4.17.15

A bare list of entries is accepted too. ``.trivyignore`` holds one id per line, optionally
followed by ``exp:YYYY-MM-DD``; ``#`` starts a comment.

An expired entry ignores nothing and the report says so, so an exception nobody renews
turns back into a failing gate instead of silently living on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from shipflow.errors import ConfigError
from shipflow.scan.model import Finding, Suppression, SuppressionKind
from shipflow.scan.purls import purl_matches

_KEYS = {"id", "reason", "expires", "package", "purl"}


@dataclass(frozen=True, slots=True)
class IgnoreEntry:
    id: str
    reason: str
    source: str
    kind: SuppressionKind
    expires: date | None = None
    package: str | None = None
    purl: str | None = None

    def applies_to(self, finding: Finding) -> bool:
        if self.id not in finding.ids:
            return False
        if self.package is not None and self.package.lower() != finding.package.name.lower():
            return False
        return self.purl is None or purl_matches(self.purl, finding.package.purl)

    def expired(self, today: date) -> bool:
        return self.expires is not None and today > self.expires

    def suppression(self) -> Suppression:
        return Suppression(
            self.kind, self.reason, self.source, self.expires.isoformat() if self.expires else None
        )


def _date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{where}: expires must be a date (YYYY-MM-DD), got {value!r}")


def load_shipflowignore(path: Path) -> list[IgnoreEntry]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read ignore file {path}: {exc}") from exc
    if loaded is None:
        return []
    items = loaded.get("ignore") if isinstance(loaded, Mapping) else loaded
    if not isinstance(items, list):
        raise ConfigError(
            f"{path}: expected a list of entries under 'ignore'",
            hint="see `shipflow scan --help` for the .shipflowignore.yaml format",
        )
    entries = []
    for index, item in enumerate(items):
        where = f"{path}: entry {index + 1}"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where} is not a mapping")
        unknown = set(item) - _KEYS
        if unknown:
            raise ConfigError(f"{where} has unknown keys: {', '.join(sorted(map(str, unknown)))}")
        advisory_id, reason = item.get("id"), item.get("reason")
        if not isinstance(advisory_id, str) or not advisory_id.strip():
            raise ConfigError(f"{where} needs an 'id'")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(
                f"{where} ({advisory_id}) needs a 'reason'",
                hint="every accepted risk says why it is acceptable",
            )
        for key in ("package", "purl"):
            if item.get(key) is not None and not isinstance(item.get(key), str):
                raise ConfigError(f"{where}: '{key}' must be a string")
        entries.append(
            IgnoreEntry(
                id=advisory_id.strip(),
                reason=reason.strip(),
                source=str(path),
                kind="ignore-file",
                expires=_date(item.get("expires"), where),
                package=item.get("package"),
                purl=item.get("purl"),
            )
        )
    return entries


def load_trivyignore(path: Path) -> list[IgnoreEntry]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read ignore file {path}: {exc}") from exc
    entries = []
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        expires = None
        for extra in fields[1:]:
            if extra.startswith("exp:"):
                expires = _date(extra[4:], f"{path}:{number}")
        comment = raw.split("#", 1)[1].strip() if "#" in raw else ""
        entries.append(
            IgnoreEntry(
                id=fields[0],
                reason=comment or f"listed in {path.name}",
                source=str(path),
                kind="trivyignore",
                expires=expires,
            )
        )
    return entries


def load_ignore_file(path: Path) -> list[IgnoreEntry]:
    """Either format, chosen by file name (``*.yaml``/``*.yml`` is shipflow's)."""
    if not path.is_file():
        raise ConfigError(f"ignore file {path} does not exist")
    if path.suffix in (".yaml", ".yml"):
        return load_shipflowignore(path)
    return load_trivyignore(path)


@dataclass(frozen=True, slots=True)
class IgnoreDecision:
    active: IgnoreEntry | None
    expired: tuple[IgnoreEntry, ...]


class IgnoreRules:
    def __init__(self, entries: Iterable[IgnoreEntry]) -> None:
        self.entries = tuple(entries)

    def decide(self, finding: Finding, today: date) -> IgnoreDecision:
        active: IgnoreEntry | None = None
        expired = []
        for entry in self.entries:
            if not entry.applies_to(finding):
                continue
            if entry.expired(today):
                expired.append(entry)
            elif active is None:
                active = entry
        return IgnoreDecision(active, tuple(expired))
