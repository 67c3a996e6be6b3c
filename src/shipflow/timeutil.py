"""UTC time in the one textual form shipflow writes everywhere (reports, SBOMs, records).

``2026-12-01T02:45:24Z``: RFC 3339, UTC, whole seconds — what SPDX requires exactly, and what
every other document shipflow writes uses too, so times compare as strings.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_utc", "parse_utc", "utc_now", "utc_timestamp"]

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def format_utc(moment: datetime) -> str:
    """``moment`` as ``YYYY-MM-DDTHH:MM:SSZ`` (a naive datetime is taken to be UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(_FORMAT)


def utc_timestamp(moment: datetime | None = None) -> str:
    """:func:`format_utc` of ``moment``, or of now."""
    return format_utc(moment or utc_now())


def parse_utc(text: str) -> datetime:
    """Parse an RFC 3339 time (``Z`` or an offset, fractions allowed) into an aware UTC datetime.

    Raises ValueError on anything else; callers turn it into their own error.
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no timezone")
    return moment.astimezone(UTC)
