"""One health check: an HTTP GET with a hard deadline, and what its answer means.

:class:`HttpProbe` makes the request; :func:`classify` judges the observation against the
expectations. They are apart so the judging is unit-tested without sockets, and the
controller can take any :class:`HealthProbe` (tests hand it a scripted one).

The deadline is the whole check — connect, send, headers, body — enforced by cancelling the
request (``asyncio.timeout``), not per socket operation: a server that drips one byte a second
times out exactly like one that never answers. Each check opens a fresh connection (no
keep-alive: a restarted canary must be seen as one), follows no redirect (a health endpoint
that redirects is not the health endpoint), asks for an uncompressed body and reads at most
:data:`MAX_BODY` bytes of it.

Outcomes: PASS; FAIL (a wrong answer: status, body, version); ERROR (no answer: timeout,
connection, protocol); PENDING (the old version still answers and ``ready_within`` has not
passed — neither a pass nor a failure).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from shipflow.oci.digest import Digest
from shipflow.redact import redact, sanitize_url
from shipflow.release.canary.settings import Expectation, JsonScalar, VersionCheck

__all__ = [
    "MAX_BODY",
    "CheckStatus",
    "HealthProbe",
    "HttpProbe",
    "Observation",
    "Verdict",
    "VersionExpectation",
    "classify",
    "version_matches",
]

MAX_BODY = 64 * 1024


class CheckStatus(StrEnum):
    PASS = "pass"  # noqa: S105 (a check result, not a password)
    FAIL = "fail"  # a wrong answer
    ERROR = "error"  # no answer
    PENDING = "pending"  # the old version still answers, within ready_within

    @property
    def failed(self) -> bool:
        return self in (CheckStatus.FAIL, CheckStatus.ERROR)


@dataclass(frozen=True)
class Observation:
    """What one request saw. ``error_kind`` is set when there was no (complete) answer."""

    latency: float
    status: int | None = None
    body: bytes = b""
    truncated: bool = False
    error_kind: str | None = None  # timeout | connection | protocol
    error: str | None = None


class HealthProbe(Protocol):
    def probe(self) -> Observation: ...


@dataclass(frozen=True)
class VersionExpectation:
    """The version the canary must report, and what it means when it reports another."""

    check: VersionCheck
    expected: str  # the label value (or the digest) of the candidate
    digest: Digest
    old: str | None = None  # the previous version's label, to name it in reasons

    def matches(self, reported: str) -> bool:
        return version_matches(reported, self.expected, self.digest)


def version_matches(reported: str, expected: str, digest: Digest) -> bool:
    """The reported version names the candidate: its label value, or its digest (``sha256:…``,
    the bare hex, or a hex prefix of at least 12 characters)."""
    value = reported.strip()
    if not value:
        return False
    if value == expected:
        return True
    bare = value.removeprefix(f"{digest.algorithm}:")
    return bare == digest.hex or (len(bare) >= 12 and digest.hex.startswith(bare))


@dataclass(frozen=True)
class Verdict:
    status: CheckStatus
    kind: str  # ok | status | body | version | pending | timeout | connection | protocol
    reason: str
    version: str | None = None


_MISSING = object()


def _lookup(document: Any, path: str) -> Any:
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _equal(found: Any, wanted: JsonScalar) -> bool:
    if isinstance(wanted, bool) or isinstance(found, bool):
        return found is wanted
    if isinstance(wanted, int | float) and isinstance(found, int | float):
        return float(found) == float(wanted)
    return bool(found == wanted)


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def classify(
    seen: Observation, expect: Expectation, version: VersionExpectation | None, elapsed: float
) -> Verdict:
    """Judge one observation; ``elapsed`` is the time since the canary was deployed."""
    if seen.error_kind is not None:
        return Verdict(CheckStatus.ERROR, seen.error_kind, seen.error or seen.error_kind)
    assert seen.status is not None
    statuses = expect.statuses
    status_ok = 200 <= seen.status < 300 if statuses is None else seen.status in statuses
    if not status_ok:
        allowed = "2xx" if statuses is None else "/".join(str(s) for s in sorted(statuses))
        return Verdict(CheckStatus.FAIL, "status", f"status {seen.status}, expected {allowed}")
    if version is None and not expect.json:
        return Verdict(CheckStatus.PASS, "ok", f"status {seen.status}")
    if seen.truncated:
        return Verdict(CheckStatus.FAIL, "body", f"body larger than {MAX_BODY} bytes: not judged")
    try:
        document = json.loads(seen.body)
    except (ValueError, UnicodeDecodeError):
        return Verdict(CheckStatus.FAIL, "body", "body is not JSON")
    reported: str | None = None
    if version is not None:
        value = _lookup(document, version.check.json_field)
        reported = None if value is _MISSING or value is None else str(value)
        if reported is None or not version.matches(reported):
            shown = "no version" if reported is None else f"version {reported!r}"
            if elapsed < version.check.ready_within:
                return Verdict(
                    CheckStatus.PENDING,
                    "pending",
                    f"{shown}, not yet {version.expected!r} (not rolled out yet; "
                    f"{version.check.ready_within - elapsed:.1f}s of ready_within left)",
                    reported,
                )
            return Verdict(
                CheckStatus.FAIL,
                "version",
                f"{shown} after ready_within ({version.check.ready_within:g}s): "
                f"expected {version.expected!r}",
                reported,
            )
    for path, wanted in expect.json:
        found = _lookup(document, path)
        if found is _MISSING:
            return Verdict(
                CheckStatus.FAIL, "body", f"body has no {path}; expected {_short(wanted)}", reported
            )
        if not _equal(found, wanted):
            return Verdict(
                CheckStatus.FAIL, "body", f"{path} is {_short(found)}, expected {_short(wanted)}", reported
            )
    return Verdict(CheckStatus.PASS, "ok", f"status {seen.status}", reported)


class HttpProbe:
    """GET ``url`` with a hard overall ``timeout``; never raises."""

    def __init__(self, url: str, *, timeout: float, headers: Mapping[str, str] | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.headers = {"Accept": "application/json", "Accept-Encoding": "identity", "Connection": "close"}
        self.headers.update(headers or {})
        from shipflow.oci.registry.tls import verifying_context

        # The process's shared verifying context; its CA bundle loads at the first TLS handshake.
        self._ssl = verifying_context()
        # Loaded now, before the canary is deployed: the first check must not pay inside its own
        # deadline for what httpx loads lazily on its first request (≈ 0.2 s, more on a busy
        # machine). Best effort: these are httpx's internals; if they move, only the first
        # check gets slower.
        import asyncio  # noqa: F401

        import httpx

        for name in ("anyio._backends._asyncio", "httpcore._async.http11", "httpcore._backends.anyio", "h11"):
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
        httpx.AsyncClient(verify=self._ssl, trust_env=False)  # builds (and discards) its transport once

    def _verify(self) -> Any:
        if self._ssl is None:
            from shipflow.oci.registry.tls import verifying_context

            self._ssl = verifying_context()
        return self._ssl

    def probe(self) -> Observation:
        started = time.monotonic()
        try:
            import asyncio  # loaded when a probe is made: a tag-only rollback never pays for it

            return asyncio.run(self._probe(started))
        except Exception as exc:  # a bug in a dependency must not end the watch: it is a failed check
            return Observation(
                time.monotonic() - started, error_kind="protocol", error=redact(f"probe failed: {exc}")
            )

    async def _probe(self, started: float) -> Observation:
        import asyncio

        import httpx

        try:
            async with asyncio.timeout(self.timeout):
                async with (
                    httpx.AsyncClient(
                        verify=self._ssl,
                        timeout=httpx.Timeout(self.timeout),
                        follow_redirects=False,
                        limits=httpx.Limits(max_keepalive_connections=0),
                        trust_env=False,
                    ) as client,
                    client.stream("GET", self.url, headers=self.headers) as response,
                ):
                    body = bytearray()
                    truncated = False
                    async for chunk in response.aiter_raw():
                        body += chunk
                        if len(body) > MAX_BODY:
                            truncated = True
                            del body[MAX_BODY:]
                            break
                    return Observation(
                        time.monotonic() - started,
                        status=response.status_code,
                        body=bytes(body),
                        truncated=truncated,
                    )
        except TimeoutError:
            return self._error(started, "timeout", f"no complete answer within {self.timeout:g}s")
        except httpx.TimeoutException:
            return self._error(started, "timeout", f"no complete answer within {self.timeout:g}s")
        except httpx.ConnectError as exc:
            return self._error(started, "connection", f"cannot connect: {_reason(exc)}")
        except httpx.HTTPError as exc:
            return self._error(started, "protocol", f"broken answer: {_reason(exc)}")
        except OSError as exc:
            return self._error(started, "connection", f"cannot connect: {exc.strerror or exc}")

    def _error(self, started: float, kind: str, message: str) -> Observation:
        return Observation(time.monotonic() - started, error_kind=kind, error=redact(message))

    def describe(self) -> str:
        return sanitize_url(self.url)


def _reason(exc: BaseException) -> str:
    """The most specific cause in the chain (anyio wraps ECONNREFUSED in "All connection
    attempts failed")."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno is not None:
            return os.strerror(cause.errno).lower()
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__
    return redact(text)[:200]
