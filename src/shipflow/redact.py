"""Keep secrets out of logs and error messages.

Two layers, because one is never enough:

* Known secrets (passwords, tokens) are registered with :func:`register_secret` when they are
  resolved or issued; any log record containing one has it replaced.
* Patterns catch what was never registered: ``Authorization``/``Bearer``/``Basic`` values,
  passwords in URLs (``https://user:pw@host``), token-like query parameters (including
  pre-signed storage URLs registries redirect blobs to), JSON token fields and JWTs.

:func:`install` attaches :class:`RedactingFilter` to shipflow's registry loggers and to
httpx/httpcore's. A filter on a logger only sees records *created* on that logger, so each is
named; the CLI may also add the filter to its handler to cover everything else.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

_SENSITIVE_PARAM = re.compile(r"(?i)token|signature|password|passwd|secret|sig$|credential|_state|key")

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?i)\b(authorization['\"]?\s*[:=,]\s*\(?b?['\"]?)[^'\"\n]+"), rf"\1{MASK}"),
    # A credential after the scheme; not a challenge's ``realm=`` parameter.
    (re.compile(r"(?i)\b(bearer|basic)\s+(?!realm=)[A-Za-z0-9._~+/=-]{4,}"), rf"\1 {MASK}"),
    (re.compile(r"(://)[^/\s:@]+:[^/\s@]+@"), rf"\1{MASK}@"),
    (
        re.compile(
            r"(?i)([?&][A-Za-z0-9_.-]*(?:token|signature|password|secret|credential|_state)"
            r"[A-Za-z0-9_.-]*=)[^&\s'\"]+"
        ),
        rf"\1{MASK}",
    ),
    (
        re.compile(r"(?i)(\"(?:token|access_token|refresh_token|identitytoken|password)\"\s*:\s*\")[^\"]*"),
        rf"\1{MASK}",
    ),
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+"), MASK),
]

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_MIN_SECRET = 4  # shorter strings would mask innocent text and reveal nothing useful anyway


def register_secret(secret: str | None) -> None:
    """Remember a secret so any later log record or message containing it is masked."""
    if secret and len(secret) >= _MIN_SECRET:
        with _secrets_lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    """``text`` with every known secret and secret-looking value masked."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def sanitize_url(url: str) -> str:
    """A URL safe to show: no userinfo, secret-looking query values masked, rest kept."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SENSITIVE_PARAM.search(k) else v) for k, v in pairs], safe="*:/")
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with :func:`redact` (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_LOGGERS = (
    "shipflow",
    "shipflow.oci.registry",
    "shipflow.oci.registry.auth",
    "shipflow.oci.registry.client",
    "shipflow.oci.registry.credentials",
    "shipflow.oci.registry.store",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)
_FILTER = RedactingFilter()
_installed = False


def install() -> None:
    """Attach the filter to the loggers that may see registry traffic (idempotent)."""
    global _installed
    if _installed:
        return
    for name in _LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)
    _installed = True
