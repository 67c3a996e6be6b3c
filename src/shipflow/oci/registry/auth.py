"""Registry authentication as an :class:`httpx.Auth` flow: anonymous, Basic, Bearer tokens.

The Bearer flow is docker's token protocol (distribution ``docs/spec/auth/token.md``):

1. A request without (or with an insufficient) token gets ``401`` and
   ``WWW-Authenticate: Bearer realm="…",service="…",scope="repository:app:pull"``.
2. The client asks the realm for a token — ``GET realm?service=…&scope=…&scope=…`` with
   Basic credentials if it has any (anonymous otherwise), or an OAuth2 ``refresh_token``
   grant when docker's config holds an ``identitytoken`` — and repeats the request with
   ``Authorization: Bearer <token>``.

Tokens are cached per set of scopes until shortly before they expire; a request names the
scopes it needs in ``request.extensions[SCOPES]`` so a cached token (or, once the realm is
known, a freshly fetched one) goes out with the first try and no 401 round trip is spent.
A challenge for a scope we did not ask for (a cross-repository mount needs ``pull`` on the
source as well as ``push`` on the destination) makes the flow fetch a token covering both.
After one retry with a fresh token a 401 is returned to the caller, which raises
:class:`~shipflow.errors.AuthError`: there is no loop.

Credentials only ever go to the registry's own API host and to the realm it names; a
request to any other host (an absolute upload ``Location`` elsewhere) is sent without them,
and redirects (blob downloads from storage) lose the ``Authorization`` header in httpx.

A request whose body is a one-shot stream (a streamed PATCH) cannot be replayed: the flow
then returns the 401 rather than resending an empty body.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import httpx

from shipflow.errors import AuthError, RegistryError
from shipflow.oci.registry.credentials import Credentials
from shipflow.oci.registry.deadline import AnswerTooLarge, cap_body
from shipflow.redact import register_secret, sanitize_url

log = logging.getLogger(__name__)

SCOPES = "shipflow.scopes"
"""Request extension key: the token scopes (``repository:NAME:ACTIONS``) a request needs."""

DEFAULT_TOKEN_LIFETIME = 60.0  # seconds; the token spec's default when expires_in is absent
_EXPIRY_MARGIN = 10.0
_TOKEN_ANSWER_LIMIT = 1024 * 1024
_CHALLENGE_BODY_LIMIT = 64 * 1024

_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?')
_SCHEME = re.compile(r"\s*,?\s*([A-Za-z][A-Za-z0-9_-]*)(?=\s|$|,)")


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: scheme (lower case) and its parameters."""

    scheme: str
    params: dict[str, str]


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Parse ``WWW-Authenticate`` header values (several challenges per value allowed)."""
    challenges: list[Challenge] = []
    for value in values:
        pos = 0
        current: Challenge | None = None
        while pos < len(value):
            param = _PARAM.match(value, pos)
            if param and current is not None:
                raw = param.group(2)
                if raw.startswith('"'):
                    raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
                current.params[param.group(1).lower()] = raw
                pos = param.end()
                continue
            scheme = _SCHEME.match(value, pos)
            if scheme is None:
                break
            current = Challenge(scheme.group(1).lower(), {})
            challenges.append(current)
            pos = scheme.end()
    return challenges


ScopeMap = dict[tuple[str, str], frozenset[str]]


def parse_scopes(scopes: Iterable[str]) -> ScopeMap:
    """``repository:app:pull,push`` strings → {(type, name): actions}; unknown forms kept whole."""
    result: dict[tuple[str, str], set[str]] = {}
    for scope in scopes:
        kind, sep, rest = scope.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not sep or not sep2:
            result.setdefault((scope, ""), set())
            continue
        result.setdefault((kind, name), set()).update(a for a in actions.split(",") if a)
    return {key: frozenset(value) for key, value in result.items()}


def format_scopes(scopes: ScopeMap) -> list[str]:
    out = []
    for (kind, name), actions in sorted(scopes.items()):
        out.append(kind if not name else f"{kind}:{name}:{','.join(sorted(actions))}")
    return out


def merge_scopes(*groups: Iterable[str]) -> list[str]:
    merged: dict[tuple[str, str], set[str]] = {}
    for group in groups:
        for key, actions in parse_scopes(group).items():
            merged.setdefault(key, set()).update(actions)
    return format_scopes({k: frozenset(v) for k, v in merged.items()})


def _covers(granted: ScopeMap, wanted: ScopeMap) -> bool:
    return all(key in granted and actions <= granted[key] for key, actions in wanted.items())


@dataclass
class _Token:
    value: str
    scopes: ScopeMap
    expires_at: float


class RegistryAuth(httpx.Auth):
    """Authenticates requests to one registry host; shared by every request of a client."""

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        host: str,
        credentials: Credentials,
        *,
        api_netloc: str | None = None,
        allow_plain_http_realm: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self._api_netloc = (api_netloc or host).lower()
        self.credentials = credentials
        self._allow_http_realm = allow_plain_http_realm
        self._clock = clock
        self._lock = threading.Lock()
        self._bearer: Challenge | None = None
        self._basic = False
        self._tokens: list[_Token] = []
        self.token_requests = 0
        """How many token requests were made (tests check that tokens are cached)."""
        for secret in credentials.secrets():
            register_secret(secret)

    # -- the flow ----------------------------------------------------------------------------

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.url.netloc.decode("ascii").lower() != self._api_netloc:
            # An absolute Location on another host (storage, a CDN): it gets no credentials.
            yield request
            return
        wanted = list(request.extensions.get(SCOPES, ()))
        sent_token: str | None = None
        # Whether *this* request carried Basic credentials decides the retry below; the shared
        # flag only saves later requests a round trip (another thread may set it meanwhile).
        sent_basic = False
        if self._basic and self.credentials.has_basic:
            request.headers["Authorization"] = self._basic_header()
            sent_basic = True
        elif self._bearer is not None and wanted:
            sent_token = self._cached_token(wanted)
            if sent_token is None:
                sent_token = yield from self._fetch_token(wanted)
            request.headers["Authorization"] = f"Bearer {sent_token}"

        response = yield request
        if response.status_code != 401:
            return
        # httpx reads this 401's body before the retry below: never more than an error's worth.
        cap_body(response, _CHALLENGE_BODY_LIMIT)
        challenges = parse_challenges(response.headers.get_list("www-authenticate"))
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if not _replayable(request):
            log.debug("401 on a streamed request to %s; not replayable", self.host)
            return

        if bearer is not None:
            self._adopt_bearer(bearer)
            scopes = merge_scopes(wanted, bearer.params.get("scope", "").split())
            if sent_token is not None:
                self._forget(sent_token)
            token = self._cached_token(scopes) if sent_token is None else None
            if token is None:
                token = yield from self._fetch_token(scopes)
            if token == sent_token:
                return
            request.headers["Authorization"] = f"Bearer {token}"
            yield request
        elif basic is not None and self.credentials.has_basic and not sent_basic:
            with self._lock:
                self._basic = True
            request.headers["Authorization"] = self._basic_header()
            yield request

    # -- tokens ------------------------------------------------------------------------------

    def _adopt_bearer(self, challenge: Challenge) -> None:
        realm = challenge.params.get("realm")
        if not realm:
            raise AuthError(
                f"registry {self.host} asked for a Bearer token without naming a realm",
                status=401,
                hint="the registry's token auth is misconfigured; report it to its operator",
            )
        scheme = urlsplit(realm).scheme.lower()
        if scheme not in ("https", "http") or (scheme == "http" and not self._allow_http_realm):
            raise AuthError(
                f"registry {self.host} sent token realm {sanitize_url(realm)!r}, which is not HTTPS; "
                "refusing to send credentials there",
                status=401,
                hint="mark the registry insecure (--insecure / SHIPFLOW_INSECURE_REGISTRIES) only if "
                "you trust the network",
            )
        with self._lock:
            known = self._bearer
            if known is None or known.params.get("realm") != realm:
                self._tokens.clear()
            self._bearer = Challenge(
                "bearer", {"realm": realm, "service": challenge.params.get("service", "")}
            )

    def _cached_token(self, scopes: list[str]) -> str | None:
        wanted = parse_scopes(scopes)
        now = self._clock()
        with self._lock:
            self._tokens = [t for t in self._tokens if t.expires_at > now]
            for token in self._tokens:
                if _covers(token.scopes, wanted):
                    return token.value
        return None

    def _forget(self, value: str) -> None:
        with self._lock:
            self._tokens = [t for t in self._tokens if t.value != value]

    def _fetch_token(self, scopes: list[str]) -> Generator[httpx.Request, httpx.Response, str]:
        with self._lock:
            challenge = self._bearer
            self.token_requests += 1
        assert challenge is not None
        realm = challenge.params["realm"]
        service = challenge.params.get("service", "")
        creds = self.credentials
        if creds.identity_token:
            form = [("grant_type", "refresh_token"), ("refresh_token", creds.identity_token)]
            form += [("client_id", "shipflow"), ("service", service), ("scope", " ".join(scopes))]
            token_request = httpx.Request(
                "POST",
                realm,
                content=urlencode(form).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        else:
            params: list[tuple[str, str | int | float | bool | None]] = (
                [("service", service)] if service else []
            )
            params += [("scope", s) for s in scopes]
            headers = {"Authorization": self._basic_header()} if creds.has_basic else {}
            token_request = httpx.Request("GET", realm, params=params, headers=headers)
        log.debug("fetching a token from %s for %s", sanitize_url(realm), " ".join(scopes) or "(no scope)")
        response = yield token_request
        cap_body(response, _TOKEN_ANSWER_LIMIT)  # a token answer is small: never read more
        try:
            body = response.read()
        except AnswerTooLarge as exc:
            response.close()
            raise RegistryError(
                f"the token service of {self.host} sent an answer over {_TOKEN_ANSWER_LIMIT} bytes",
                hint="the registry's auth service is misbehaving; report it to its operator",
            ) from exc
        if response.status_code in (401, 403):
            raise AuthError(
                f"the token service of {self.host} refused the credentials "
                f"({response.status_code}, {creds.source} credentials for user {creds.username or '-'!s})",
                status=response.status_code,
                hint=credentials_hint(self.host),
            )
        if response.status_code != 200:
            raise RegistryError(
                f"the token service of {self.host} answered {response.status_code} "
                f"at {sanitize_url(str(response.request.url))}",
                status=response.status_code,
                hint="try again later; if it persists the registry's auth service is down",
            )
        try:
            doc = json.loads(body)
            value = str(doc.get("token") or doc.get("access_token") or "")
            lifetime = float(doc.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except (ValueError, AttributeError, TypeError) as exc:
            raise RegistryError(
                f"the token service of {self.host} sent a response that is not a token", status=200
            ) from exc
        if not value:
            raise RegistryError(f"the token service of {self.host} sent no token", status=200)
        register_secret(value)
        margin = min(_EXPIRY_MARGIN, lifetime / 10)
        token = _Token(value, parse_scopes(scopes), self._clock() + lifetime - margin)
        with self._lock:
            self._tokens.append(token)
        return value

    def _basic_header(self) -> str:
        raw = f"{self.credentials.username or ''}:{self.credentials.password or ''}".encode()
        encoded = base64.b64encode(raw).decode()
        register_secret(encoded)
        return f"Basic {encoded}"


def _replayable(request: httpx.Request) -> bool:
    return isinstance(request.stream, httpx.ByteStream)


def credentials_hint(host: str) -> str:
    """What to do when a registry refuses (or wants) credentials."""
    return (
        f"give credentials for {host}: --username/--password, or REGISTRY_USERNAME/REGISTRY_PASSWORD "
        f"with REGISTRY_URL={host}, or `docker login {host}`; check that the account may access "
        "this repository"
    )
