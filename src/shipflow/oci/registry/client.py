"""One HTTP client per registry host: transport, auth, retries, error mapping.

:class:`RegistryClient` knows nothing about manifests or blobs (that is ``store.py`` and
``upload.py``); it sends a request and either returns a response or raises an error from
:mod:`shipflow.errors`:

* **Scheme.** HTTPS with certificate verification, except for hosts marked insecure
  (``insecure_registries``) and — like docker — loopback hosts, which use plain HTTP.
  Every https request (also a redirect from a plain-HTTP registry) is verified, with one
  CA context shared by the whole process (:mod:`shipflow.oci.registry.tls`).
  ``docker.io`` is served from ``registry-1.docker.io``.
* **Timeouts** are finite (connect and read, from :class:`RegistryConfig`), and every
  operation has an overall deadline enforced at the socket (:mod:`.deadline`): a fixed
  ``config.timeout`` (30 s) for a request and its answer, retries and waits included, and a
  minimum-progress rule for blob bodies.
* **Retries** (:meth:`RegistryClient.send`): only requests the caller marks idempotent
  (GET, HEAD, manifest PUT — identical content, identical result) are retried, on connection
  errors, timeouts and 429/502/503/504, with jittered exponential backoff; ``Retry-After``
  (seconds or an HTTP date) is honoured up to ``retry_after_cap``; no retry is made that
  would not fit in the operation's deadline. Other 4xx never retry.
  POST and PATCH are sent exactly once: a failed upload is restarted as a whole by the uploader.
* **Errors.** 401/403 → :class:`AuthError` with a hint about credentials; 404 → the caller's
  not-found error (``MANIFEST_UNKNOWN``/``BLOB_UNKNOWN``/``NAME_UNKNOWN`` decide when known);
  other statuses → :class:`RegistryError` with the registry's error body summarised; network
  failures → :class:`TransportError` (exit 3). No URL in a message carries a secret.

:meth:`RegistryClient.shared` hands out one client per (host, config) so connections and
tokens are reused across the stores of one process.
"""

from __future__ import annotations

import atexit
import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

import httpx

from shipflow import redact
from shipflow.errors import (
    AuthError,
    BlobNotFound,
    ManifestNotFound,
    NotFound,
    RegistryError,
    ShipflowError,
    TransportError,
)
from shipflow.oci.reference import DOCKER_HUB, DOCKER_HUB_API
from shipflow.oci.registry.auth import SCOPES, RegistryAuth, credentials_hint
from shipflow.oci.registry.config import RegistryConfig, normalize_host
from shipflow.oci.registry.credentials import Credentials, resolve_credentials
from shipflow.oci.registry.deadline import (
    AnswerTooLarge,
    Budget,
    BudgetedStream,
    Deadline,
    Progress,
    budget_scope,
    install,
)
from shipflow.oci.registry.tls import verifying_context

log = logging.getLogger(__name__)
redact.install()

RETRY_STATUSES = frozenset({429, 502, 503, 504})
_ERROR_BODY_LIMIT = 64 * 1024
ANSWER_LIMIT = 16 * 1024 * 1024
"""Largest answer read whole (a tag list page, an upload's answer); blobs and manifests stream."""


class RegistryClient:
    """HTTP access to one registry host (all repositories on it)."""

    _shared: ClassVar[dict[tuple[str, RegistryConfig], RegistryClient]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        registry: str,
        config: RegistryConfig | None = None,
        *,
        credentials: Credentials | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = normalize_host(registry)
        self.config = config or RegistryConfig()
        self.insecure = self.config.is_insecure(self.registry)
        api_host = DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry
        self.base_url = f"{'http' if self.insecure else 'https'}://{api_host}"
        self.credentials = credentials or resolve_credentials(self.registry, self.config)
        self.auth = RegistryAuth(
            self.registry,
            self.credentials,
            api_netloc=httpx.URL(self.base_url).netloc.decode("ascii"),  # normalised like requests
            allow_plain_http_realm=self.insecure,
            clock=clock,
        )
        self._sleep = sleep
        self.referrers_api: bool | None = None
        """Whether this registry has the OCI 1.1 referrers API (None until found out)."""
        self.http = httpx.Client(
            base_url=self.base_url,
            auth=self.auth,
            timeout=httpx.Timeout(
                connect=self.config.connect_timeout,
                read=self.config.read_timeout,
                write=self.config.read_timeout,
                pool=self.config.connect_timeout,
            ),
            follow_redirects=True,
            headers={"User-Agent": self.config.user_agent},
            transport=transport,
            # One shared context per process; without a ca_bundle its CAs load at the first
            # https handshake, so plain-HTTP registries never pay for them (see tls.py).
            verify=verifying_context(self.config.ca_bundle),
        )
        if transport is None and install(self.http) == 0:
            log.warning("httpx internals changed: registry requests have per-read timeouts only")
        log.debug(
            "registry client for %s at %s (%s credentials)",
            self.registry,
            self.base_url,
            self.credentials.source,
        )

    # -- sharing ---------------------------------------------------------------------------

    @classmethod
    def shared(cls, registry_host: str, config: RegistryConfig | None = None) -> RegistryClient:
        """The process-wide client for (host, config): tokens and connections are reused."""
        config = config or RegistryConfig.from_env()
        key = (normalize_host(registry_host), config)
        with cls._shared_lock:
            client = cls._shared.get(key)
            if client is None:
                client = cls(registry_host, config)
                cls._shared[key] = client
            return client

    @classmethod
    def close_shared(cls) -> None:
        """Close every shared client (at exit, and in tests)."""
        with cls._shared_lock:
            clients = list(cls._shared.values())
            cls._shared.clear()
        for client in clients:
            client.close()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """Absolute URL for an API path or a (possibly relative) ``Location``."""
        return str(self.http.base_url.join(path))

    def send(
        self,
        method: str,
        url: str,
        *,
        scopes: Iterable[str] = (),
        idempotent: bool,
        what: str,
        headers: Mapping[str, str] | None = None,
        content: bytes | Iterable[bytes] | None = None,
        params: Mapping[str, str] | None = None,
        stream: bool = False,
        budget: Budget | None = None,
        body_budget: Budget | None = None,
    ) -> httpx.Response:
        """Send one request, retrying per the module docstring; return any HTTP response.

        ``budget`` bounds the whole exchange, every attempt and backoff wait included
        (default: a :class:`Deadline` of ``config.timeout``); a retry that would not fit in
        what is left is not made. ``body_budget`` bounds the reading of a streamed body
        (default: ``budget``; a blob passes a :class:`Progress` rule). Status handling beyond
        retries is the caller's (see :meth:`error_for`). With ``stream=True`` the caller must
        close the response.
        """
        attempts = self.config.max_attempts if idempotent else 1
        budget = budget if budget is not None else self.deadline()
        scope_tuple = tuple(scopes)
        for attempt in range(1, attempts + 1):
            request = self.http.build_request(
                method, url, headers=headers, content=content, params=params, extensions={SCOPES: scope_tuple}
            )
            shown = redact.sanitize_url(str(request.url))
            try:
                with budget_scope(budget):
                    # Always streamed, so no body is read without a bound: an answer the caller
                    # wants whole is read here, capped (a hostile server may send gigabytes).
                    response = self.http.send(request, stream=True)
                    if not stream:
                        _read_answer(response, budget)
            except AnswerTooLarge as exc:
                raise RegistryError(
                    f"{what}: {self.registry} sent an answer over {exc.limit} bytes",
                    hint="this does not look like an OCI registry answering; check the registry address",
                ) from exc
            except httpx.TimeoutException as exc:
                if attempt < attempts and self.backoff(attempt, None, budget):
                    log.debug("%s %s timed out (attempt %d/%d)", method, shown, attempt, attempts)
                    continue
                raise self._timeout_error(what, exc, budget) from exc
            except httpx.TransportError as exc:
                if attempt < attempts and self.backoff(attempt, None, budget):
                    log.debug(
                        "%s %s failed: %s (attempt %d/%d)",
                        method,
                        shown,
                        type(exc).__name__,
                        attempt,
                        attempts,
                    )
                    continue
                raise self._transport_error(what, exc) from exc
            except httpx.TooManyRedirects as exc:
                raise RegistryError(f"{what}: {self.registry} redirected in a loop ({shown})") from exc
            except httpx.RequestError as exc:
                raise self._transport_error(what, exc) from exc
            except RegistryError as exc:
                # From the token service inside the auth flow.
                if (
                    exc.status in RETRY_STATUSES
                    and not isinstance(exc, AuthError)
                    and attempt < attempts
                    and self.backoff(attempt, None, budget)
                ):
                    continue
                raise
            log.debug("%s %s -> %d (attempt %d/%d)", method, shown, response.status_code, attempt, attempts)
            if response.status_code in RETRY_STATUSES and attempt < attempts:
                delay = self._delay(attempt, retry_after_seconds(response.headers.get("retry-after")))
                if delay < budget.remaining():
                    response.close()
                    log.debug("retrying %s in %.2fs", self.registry, delay)
                    self._sleep(delay)
                    continue
                log.debug("no time left to retry %s %s after %.2fs; giving up", method, shown, delay)
            if stream:
                reading = body_budget if body_budget is not None else budget
                if isinstance(reading, Progress):
                    reading.restart()
                response.stream = BudgetedStream(cast(httpx.SyncByteStream, response.stream), reading)
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def deadline(self) -> Deadline:
        """A fresh :class:`Deadline` of ``config.timeout`` for one operation."""
        return Deadline(self.config.timeout)

    def progress(self) -> Progress:
        """A fresh :class:`Progress` rule for one blob transfer (``config.min_rate``)."""
        return Progress(self.config.timeout, self.config.min_rate)

    def backoff(self, attempt: int, retry_after: float | None = None, budget: Budget | None = None) -> bool:
        """Sleep before attempt ``attempt + 1``: Retry-After if given (capped), else jittered.

        With a ``budget``, a wait that would not leave time for another attempt is not made:
        False is returned and the caller gives up.
        """
        delay = self._delay(attempt, retry_after)
        if budget is not None and delay >= budget.remaining():
            log.debug("no time left in %s for a retry after %.2fs", budget.describe(), delay)
            return False
        log.debug("retrying %s in %.2fs", self.registry, delay)
        self._sleep(delay)
        return True

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.config.retry_after_cap)
        ceiling = min(self.config.backoff_max, self.config.backoff_base * 2.0 ** (attempt - 1))
        return float(ceiling / 2 + random.uniform(0, ceiling / 2))

    def _timeout_error(self, what: str, exc: Exception, budget: Budget) -> TransportError:
        if budget.tripped:
            return TransportError(
                f"{what}: {self.registry} did not answer in time (gave up after {budget.describe()}, "
                "retries included)",
                hint="the registry is down, unreachable or too slow; try again later, or allow more "
                "time with --timeout / SHIPFLOW_REGISTRY_TIMEOUT",
            )
        return TransportError(
            f"{what}: {self.registry} did not answer in time ({type(exc).__name__})",
            hint="the registry or network is slow or down; try again, or raise "
            "SHIPFLOW_REGISTRY_READ_TIMEOUT / SHIPFLOW_REGISTRY_TIMEOUT",
        )

    def _transport_error(self, what: str, exc: Exception) -> TransportError:
        detail = redact.redact(str(exc)) or type(exc).__name__
        hint = "check the network and the registry address, then run the command again"
        if "CERTIFICATE" in detail.upper() or "SSL" in detail.upper():
            hint = (
                "TLS verification failed: give the registry's CA (ca_bundle), or, only for a trusted "
                "test registry, mark it insecure (--insecure / SHIPFLOW_INSECURE_REGISTRIES)"
            )
        elif self.insecure is False and "WRONG_VERSION_NUMBER" in detail.upper():
            hint = "the registry seems to speak plain HTTP: mark it insecure if that is intended"
        return TransportError(f"{what}: cannot talk to {self.registry}: {detail}", hint=hint)

    # -- errors ----------------------------------------------------------------------------

    @staticmethod
    def error_summary(response: httpx.Response) -> tuple[set[str], str]:
        """(error codes, one-line summary) of an error response; reads and closes it."""
        return error_summary(response)

    def error_for(
        self,
        response: httpx.Response,
        *,
        what: str,
        not_found: type[NotFound] | None = None,
        expected: str | None = None,
    ) -> ShipflowError:
        """The shipflow error for a failed response (the body is read, capped, and closed).

        ``expected`` names the answer the distribution spec gives (``"202 Accepted"``): a
        success or redirect status that is not it is reported as such, since a server that
        answers ``200`` to everything is not a registry that did the work.
        """
        codes, summary = error_summary(response)
        status = response.status_code
        if status < 400:
            return RegistryError(
                f"{what}: {self.registry} answered {status} {response.reason_phrase}"
                + (f" where a registry answers {expected}" if expected else "")
                + (f" ({summary})" if summary else ""),
                status=status,
                hint="this does not look like an OCI registry (a web server, login page or proxy "
                "answering?); check the registry address. Nothing was confirmed done",
            )
        if status in (401, 403):
            verb = "requires authentication" if status == 401 else "refused access"
            who = (
                "anonymously"
                if self.credentials.is_anonymous
                else f"with {self.credentials.source} credentials for user {self.credentials.username or '-'}"
            )
            return AuthError(
                f"{what}: {self.registry} {verb} ({status}{': ' + summary if summary else ''}); tried {who}",
                status=status,
                hint=credentials_hint(self.registry),
            )
        if status == 404:
            if "MANIFEST_UNKNOWN" in codes:
                return ManifestNotFound(f"{what}: not found ({summary})")
            if "BLOB_UNKNOWN" in codes:
                return BlobNotFound(f"{what}: not found ({summary})")
            if not_found is not None:
                return not_found(f"{what}: not found{' (' + summary + ')' if summary else ''}")
        hint = None
        if status == 429:
            hint = "the registry is rate limiting; wait and run the command again"
        elif status >= 500:
            hint = "the registry is failing; run the command again later"
        return RegistryError(
            f"{what}: {self.registry} answered {status} {response.reason_phrase}"
            + (f": {summary}" if summary else ""),
            status=status,
            hint=hint,
        )


def _read_answer(response: httpx.Response, budget: Budget) -> None:
    """Read a whole (non-blob) answer into the response, at most :data:`ANSWER_LIMIT` bytes."""
    response.stream = BudgetedStream(cast(httpx.SyncByteStream, response.stream), budget, limit=ANSWER_LIMIT)
    try:
        response.read()
    except BaseException:
        response.close()
        raise


def error_summary(response: httpx.Response) -> tuple[set[str], str]:
    """(error codes, one-line summary) from a registry error body, capped and redacted."""
    body = bytearray()
    try:
        body += response.content
    except httpx.ResponseNotRead:
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= _ERROR_BODY_LIMIT:
                    break
        except (httpx.HTTPError, httpx.StreamError):
            pass  # the status says enough; a broken error body must not hide it
    finally:
        response.close()
    text = bytes(body[:_ERROR_BODY_LIMIT]).decode("utf-8", errors="replace")
    codes: set[str] = set()
    try:
        doc: Any = json.loads(text)
    except ValueError:
        return codes, redact.redact(" ".join(text.split())[:200])
    parts = []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if isinstance(errors, list):
        for err in errors[:5]:
            if not isinstance(err, dict):
                continue
            code = str(err.get("code", ""))
            codes.add(code)
            parts.append(f"{code}: {err.get('message', '')}".strip(": "))
    summary = "; ".join(parts) if parts else " ".join(text.split())[:200]
    return codes, redact.redact(summary[:300])


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(int(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


atexit.register(RegistryClient.close_shared)
