"""Is a version affected by one OSV ``affected`` entry? The schema's evaluation algorithm.

For each range of type SEMVER or ECOSYSTEM, events are sorted by version (``introduced: "0"``
first) and walked in order: ``introduced`` switches "affected" on, ``fixed`` (at or below the
version) and ``last_affected`` (below the version) switch it off. ``limit`` events cap the range
from above. A version listed in ``versions`` is affected whatever the ranges say. GIT ranges
are commit hashes and never match a package version.

Entries come from the database, which validates records at import; records imported before
that (or by another tool) may still be malformed, so nothing here assumes the shape: a range
whose ``events`` is not a list of objects with string versions is skipped and reported in the
verdict's ``problem`` (and so in the scan report's notes), never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Any

from shipflow.scan.versions import InvalidVersion, VersionScheme

_EVENT_ORDER = {"introduced": 0, "fixed": 1, "last_affected": 2, "limit": 3}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome for one version against one ``affected`` entry."""

    affected: bool
    # Versions that fix the range the version was found in (empty: no fix published).
    fixed: tuple[str, ...] = ()
    # Set when a range could not be evaluated (an event version the scheme rejects).
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class _Event:
    kind: str
    version: str


@dataclass(slots=True)
class _RangeResult:
    affected: bool = False
    fixed: list[str] = field(default_factory=list)


def _events(raw: Any) -> list[_Event]:
    """The events of one range; ValueError (with the reason) when they are malformed."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"'events' is {_kind(raw)}, not a list of events")
    out: list[_Event] = []
    for event in raw:
        if not isinstance(event, Mapping):
            raise ValueError(f"an event is {_kind(event)}, not an object")
        found = [(kind, event[kind]) for kind in _EVENT_ORDER if kind in event]
        if len(found) != 1 or not isinstance(found[0][1], str):
            raise ValueError("an event needs exactly one of introduced/fixed/last_affected/limit, a string")
        out.append(_Event(*found[0]))
    return out


def _kind(value: Any) -> str:
    return "missing" if value is None else f"a {type(value).__name__}"


@dataclass(slots=True)
class ParsedEntry:
    """An ``affected`` entry digested once: its explicit versions and its orderable ranges.

    The event order of each range depends only on the version scheme, so it is sorted once per
    scheme and reused for every package version checked against the entry.
    """

    versions: frozenset[str]
    ranges: tuple[tuple[_Event, ...], ...]
    _sorted: dict[str, list[tuple[list[_Event], list[_Event]]] | InvalidVersion] = field(default_factory=dict)
    # Why parts of the entry were skipped (malformed ranges), for the report's notes.
    problem: str | None = None

    def sorted_ranges(self, scheme: VersionScheme) -> list[tuple[list[_Event], list[_Event]]]:
        """Per range: (events other than limit, sorted), (limit events). Raises InvalidVersion."""
        cached = self._sorted.get(scheme.name)
        if cached is None:
            try:
                cached = [_sort_events(events, scheme) for events in self.ranges]
            except InvalidVersion as exc:
                cached = exc
            self._sorted[scheme.name] = cached
        if isinstance(cached, InvalidVersion):
            raise cached
        return cached


def parse_entry(entry: Any, label: str = "advisory") -> ParsedEntry:
    """Digest one ``affected`` entry. Malformed parts are skipped and named in ``problem``
    (prefixed with ``label``, e.g. the advisory id); this never raises."""
    if not isinstance(entry, Mapping):
        return ParsedEntry(frozenset(), (), problem=f"{label}: the affected entry is {_kind(entry)}; skipped")
    problems: list[str] = []
    raw_versions = entry.get("versions")
    if raw_versions is not None and not isinstance(raw_versions, list):
        problems.append(f"'versions' is {_kind(raw_versions)}, not a list")
        raw_versions = None
    versions = frozenset(v for v in raw_versions or () if isinstance(v, str))
    raw_ranges = entry.get("ranges")
    if raw_ranges is not None and not isinstance(raw_ranges, list):
        problems.append(f"'ranges' is {_kind(raw_ranges)}, not a list")
        raw_ranges = None
    ranges: list[tuple[_Event, ...]] = []
    for raw in raw_ranges or ():
        if not isinstance(raw, Mapping):
            problems.append(f"a range is {_kind(raw)}, not an object")
            continue
        if raw.get("type") not in ("SEMVER", "ECOSYSTEM"):
            continue
        try:
            ranges.append(tuple(_events(raw.get("events"))))
        except ValueError as exc:
            problems.append(str(exc))
    problem = f"{label}: malformed range skipped ({'; '.join(problems)})" if problems else None
    return ParsedEntry(versions, tuple(ranges), problem=problem)


def _sort_events(events: Sequence[_Event], scheme: VersionScheme) -> tuple[list[_Event], list[_Event]]:
    cmp = scheme.compare

    def order(a: _Event, b: _Event) -> int:
        # "0" is below every version; at equal versions, apply events in schema order.
        a_zero = a.version == "0" and a.kind == "introduced"
        b_zero = b.version == "0" and b.kind == "introduced"
        if a_zero or b_zero:
            return (b_zero - a_zero) if a_zero != b_zero else 0
        return cmp(a.version, b.version) or _EVENT_ORDER[a.kind] - _EVENT_ORDER[b.kind]

    walk = sorted((e for e in events if e.kind != "limit"), key=cmp_to_key(order))
    return walk, [e for e in events if e.kind == "limit"]


def _evaluate_range(
    version: str, walk: Sequence[_Event], limits: Sequence[_Event], scheme: VersionScheme
) -> _RangeResult:
    cmp = scheme.compare
    result = _RangeResult()
    if limits and not any(e.version == "*" or cmp(version, e.version) < 0 for e in limits):
        return result
    for event in walk:
        if event.kind == "introduced":
            if event.version == "0" or cmp(version, event.version) >= 0:
                result.affected = True
        elif event.kind == "fixed":
            if cmp(version, event.version) >= 0:
                result.affected = False
        elif event.kind == "last_affected" and cmp(version, event.version) > 0:
            result.affected = False
    if result.affected:
        # The fix for *this* version: the lowest fixed event above it (events are sorted).
        above = [e.version for e in walk if e.kind == "fixed" and cmp(version, e.version) < 0]
        if above:
            result.fixed.append(above[0])
    return result


def evaluate(version: str, entry: Mapping[str, Any] | ParsedEntry, scheme: VersionScheme | None) -> Verdict:
    """Whether ``version`` is affected by the OSV ``affected`` entry ``entry``."""
    parsed = entry if isinstance(entry, ParsedEntry) else parse_entry(entry)
    affected = version in parsed.versions
    fixed: list[str] = []
    problem: str | None = parsed.problem
    if parsed.ranges and scheme is None:
        problem = "no version ordering for this ecosystem; only explicit versions were checked"
    elif parsed.ranges and scheme is not None:
        try:
            for walk, limits in parsed.sorted_ranges(scheme):
                result = _evaluate_range(version, walk, limits, scheme)
                if result.affected:
                    affected = True
                    fixed.extend(result.fixed)
        except InvalidVersion as exc:
            problem = str(exc)
    if affected and not fixed and scheme is not None:
        # Listed explicitly: offer every fixed version the entry names above this version.
        fixed = _fixed_above(version, parsed, scheme)
    return Verdict(affected, tuple(dict.fromkeys(fixed)), problem)


def _fixed_above(version: str, parsed: ParsedEntry, scheme: VersionScheme) -> list[str]:
    out: list[str] = []
    for events in parsed.ranges:
        for event in events:
            try:
                if event.kind == "fixed" and scheme.compare(version, event.version) < 0:
                    out.append(event.version)
            except InvalidVersion:
                continue
    return out
