"""Accepted risks: ``.shipflowignore.yaml``, Trivy's ``.trivyignore`` and ``.trivyignore.yaml``.

``.shipflowignore.yaml``::

    ignore:
      - id: CVE-2020-8203            # an advisory id or any of its aliases
        reason: zipObjectDeep is not reachable from our code   # required
        expires: 2026-12-31          # optional; the entry stops ignoring after this day
        package: lodash              # optional; or purl: pkg:npm/lodash@4.17.15

A bare list of entries is accepted too. ``.trivyignore`` holds one id per line, optionally
followed by ``exp:YYYY-MM-DD``; ``#`` starts a comment.

``.trivyignore.yaml`` is Trivy's YAML ignore file (``trivy --ignorefile``)::

    vulnerabilities:
      - id: CVE-2022-40897
        paths: ["usr/local/lib/python3.9/site-packages/setuptools-58.1.0.dist-info/METADATA"]
        purls: ["pkg:pypi/setuptools@58.1.0"]
        statement: Accept the risk
        expired_at: 2026-01-01
    misconfigurations: [...]          # secrets, licenses: read and checked, but shipflow
                                      # has no such scanners, so they suppress nothing

As in Trivy, ``paths`` are glob patterns (``**`` for any number of directories, ``{a,b}``)
matched against where the package was found (the file that records it, without a leading
``/``), ``purls`` name packages (the version only when the purl has one), both optional; and
``expired_at`` is an instant: an entry ``expired_at: 2026-01-01`` ignores until the end of
2025-12-31. Unknown keys are an error rather than silently ignored (Trivy ignores them): a
misspelt ``vulnerabilites:`` would otherwise suppress nothing without a word.

An expired entry ignores nothing and the report says so, so an exception nobody renews
turns back into a failing gate instead of silently living on. Ignore files are at most
:data:`MAX_IGNORE_FILE_BYTES`; YAML ones nest at most 128 levels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from shipflow.errors import ConfigError
from shipflow.fsutil import read_capped
from shipflow.scan._purls import purl_matches
from shipflow.scan.model import Finding, Suppression, SuppressionKind
from shipflow.signing.jsondoc import parse_yaml

TRIVY_YAML_NAMES = frozenset({".trivyignore.yaml", ".trivyignore.yml"})
# Thousands of entries are a few hundred KB.
MAX_IGNORE_FILE_BYTES = 1024 * 1024

_KEYS = {"id", "reason", "expires", "package", "purl"}
_TRIVY_SECTIONS = ("vulnerabilities", "misconfigurations", "secrets", "licenses")
_TRIVY_KEYS = {"id", "paths", "purls", "expired_at", "statement"}


@dataclass(frozen=True, slots=True)
class IgnoreEntry:
    id: str
    reason: str
    source: str
    kind: SuppressionKind
    expires: date | None = None  # the last day the entry ignores
    package: str | None = None
    purl: str | None = None
    purls: tuple[str, ...] = ()  # .trivyignore.yaml: any of these packages
    paths: tuple[str, ...] = ()  # .trivyignore.yaml: glob patterns over where it was found

    def applies_to(self, finding: Finding) -> bool:
        if self.id not in finding.ids:
            return False
        if self.package is not None and self.package.lower() != finding.package.name.lower():
            return False
        if self.purl is not None and not purl_matches(self.purl, finding.package.purl):
            return False
        if self.purls and not any(purl_matches(p, finding.package.purl) for p in self.purls):
            return False
        return not self.paths or _paths_match(self.paths, finding.package.locations)

    def expired(self, today: date) -> bool:
        return self.expires is not None and today > self.expires

    def suppression(self) -> Suppression:
        return Suppression(
            self.kind, self.reason, self.source, self.expires.isoformat() if self.expires else None
        )


def _paths_match(patterns: Sequence[str], locations: Iterable[str]) -> bool:
    """Trivy's path rule (doublestar globs) over the package's locations, relative."""
    from wcmatch import glob  # ≈ 25 ms; only when an entry has paths

    flags = glob.GLOBSTAR | glob.BRACE | glob.DOTGLOB
    return any(glob.globmatch(location.lstrip("/"), list(patterns), flags=flags) for location in locations)


def _clip(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{where}: expires must be a date (YYYY-MM-DD), got {_clip(value)}")


def _read(path: Path) -> bytes:
    return read_capped(path, MAX_IGNORE_FILE_BYTES, what="ignore file")


def _yaml(path: Path) -> Any:
    return parse_yaml(
        _read(path),
        what=f"ignore file {path}",
        error=ConfigError,
        hint="see `shipflow scan --help` for the ignore file formats",
    )


def load_shipflowignore(path: Path, loaded: Any = None) -> list[IgnoreEntry]:
    if loaded is None:
        loaded = _yaml(path)
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
            raise ConfigError(f"{where} has unknown keys: {', '.join(sorted(map(_clip, unknown)))}")
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
        lines = _read(path).decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ConfigError(f"ignore file {path} is not UTF-8 text (byte {exc.start})") from exc
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


def _trivy_expiry(value: Any, where: str) -> date | None:
    """The last day an entry with Trivy's ``expired_at`` ignores: Trivy drops the entry once
    ``expired_at`` is before now, and a bare date is midnight UTC at its start."""
    if value is None:
        return None
    moment: datetime
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    elif isinstance(value, date):
        moment = datetime.combine(value, time(), tzinfo=UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigError(
                f"{where}: expired_at must be a date (YYYY-MM-DD) or a timestamp, got {_clip(value)}"
            ) from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    else:
        raise ConfigError(f"{where}: expired_at must be a date (YYYY-MM-DD), got {_clip(value)}")
    return (moment.astimezone(UTC) - timedelta(microseconds=1)).date()


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where} must be a list of non-empty strings")
    return tuple(value)


def load_trivyignore_yaml(path: Path, loaded: Any = None) -> list[IgnoreEntry]:
    """Trivy's ``.trivyignore.yaml``: the ``vulnerabilities`` entries (the other sections are
    checked but suppress nothing: shipflow finds vulnerabilities only)."""
    from packageurl import PackageURL

    if loaded is None:
        loaded = _yaml(path)
    if loaded is None:
        return []
    if not isinstance(loaded, Mapping):
        raise ConfigError(
            f"{path}: expected a mapping with {', '.join(_TRIVY_SECTIONS)}",
            hint="see Trivy's docs on .trivyignore.yaml (`trivy --ignorefile`)",
        )
    unknown = set(loaded) - set(_TRIVY_SECTIONS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown section(s) {', '.join(sorted(map(_clip, unknown)))}",
            hint=f"a .trivyignore.yaml has {', '.join(_TRIVY_SECTIONS)}",
        )
    entries: list[IgnoreEntry] = []
    for section in _TRIVY_SECTIONS:
        items = loaded.get(section)
        if items is None:
            continue
        if not isinstance(items, list):
            raise ConfigError(f"{path}: '{section}' must be a list of entries")
        for index, item in enumerate(items):
            where = f"{path}: {section} entry {index + 1}"
            if not isinstance(item, Mapping):
                raise ConfigError(f"{where} is not a mapping")
            extra = set(item) - _TRIVY_KEYS
            if extra:
                raise ConfigError(f"{where} has unknown keys: {', '.join(sorted(map(_clip, extra)))}")
            advisory_id = item.get("id")
            if not isinstance(advisory_id, str) or not advisory_id.strip():
                raise ConfigError(f"{where} needs an 'id'")
            statement = item.get("statement")
            if statement is not None and not isinstance(statement, str):
                raise ConfigError(f"{where}: 'statement' must be a string")
            paths = _strings(item.get("paths"), f"{where}: 'paths'")
            purls = _strings(item.get("purls"), f"{where}: 'purls'")
            for purl in purls:
                try:
                    PackageURL.from_string(purl)
                except ValueError as exc:
                    raise ConfigError(f"{where}: {_clip(purl)} is not a package URL ({exc})") from exc
            expires = _trivy_expiry(item.get("expired_at"), where)
            if section != "vulnerabilities":
                continue
            entries.append(
                IgnoreEntry(
                    id=advisory_id.strip(),
                    reason=(statement or "").strip() or f"listed in {path.name}",
                    source=str(path),
                    kind="trivyignore",
                    expires=expires,
                    purls=purls,
                    paths=paths,
                )
            )
    return entries


def load_ignore_file(path: Path) -> list[IgnoreEntry]:
    """Any of the three formats: ``.trivyignore.yaml``/``.yml`` by name, other ``*.yaml``/
    ``*.yml`` by content (Trivy's sections, or shipflow's ``ignore:`` list), else
    ``.trivyignore`` lines."""
    if not path.exists():
        raise ConfigError(f"ignore file {path}: no such file or directory")
    if path.name in TRIVY_YAML_NAMES:
        return load_trivyignore_yaml(path)
    if path.suffix in (".yaml", ".yml"):
        loaded = _yaml(path)
        if isinstance(loaded, Mapping) and "ignore" not in loaded and set(loaded) & set(_TRIVY_SECTIONS):
            return load_trivyignore_yaml(path, loaded)
        return load_shipflowignore(path, loaded)
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
