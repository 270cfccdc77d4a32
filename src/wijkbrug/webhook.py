"""Webhook delivery over HTTP: signing, one POST per event, and the retry policy.

A delivery is an HTTP POST of the event body with three headers: a Stripe-style signature
``X-Wijkbrug-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``, the event
id as ``Idempotency-Key`` and the signing key id (never the secret) as ``X-Wijkbrug-Key-Id``.
:class:`WebhookClient` never raises for HTTP or network problems: it answers a
:class:`PostResult` that says whether the event arrived and, if not, whether to try again.
The backlog and per-unit ordering live in the outbox that calls it; :class:`Backoff` is the
delay between its attempts. Nothing here logs or returns a secret, a body or a URL path/query.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import math
import random
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)

__all__ = [
    "IDEMPOTENCY_HEADER",
    "KEY_ID_HEADER",
    "SIGNATURE_HEADER",
    "Backoff",
    "PostResult",
    "WebhookClient",
    "classify_status",
    "origin",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-Wijkbrug-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
KEY_ID_HEADER = "X-Wijkbrug-Key-Id"
CONTENT_TYPE = "application/json"
USER_AGENT = "wijkbrug-webhook/1"

#: A partner's Retry-After is honoured up to this many seconds.
RETRY_AFTER_CAP_S = 300.0
#: Statuses worth another attempt besides 5xx: timeout, too early, too many requests.
RETRYABLE_4XX = frozenset({408, 425, 429})
#: At most this much of a response body is drained (for connection reuse), never kept.
_DRAIN_LIMIT = 64 * 1024

_HEX64 = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]{1,15}")
_SECONDS = re.compile(r"[0-9]{1,10}(\.[0-9]{1,6})?")
# Header-safe token for an idempotency key / key id: visible ASCII, no separators that matter.
_TOKEN = re.compile(r"[\x21-\x7e]{1,200}")


def _mac(secret: bytes, body: bytes, timestamp: int) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value ``t=<timestamp>,v1=<hex hmac>`` for ``body`` at ``timestamp``."""
    if not secret:
        raise ValueError("empty webhook secret")
    if timestamp < 0:
        raise ValueError("negative timestamp")
    return f"t={timestamp},v1={_mac(secret, body, timestamp)}"


def verify(secret: bytes, body: bytes, header: str, *, now: int, tolerance_s: int = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``tolerance_s`` of now.

    Exactly one ``t=`` is required; any of several ``v1=`` entries may match (a sender signing
    with an old and a new secret during rotation). Unknown schemes are ignored; anything
    malformed is rejected. Comparison is constant-time.
    """
    if not secret or not isinstance(header, str):
        return False
    timestamps: list[str] = []
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            candidates.append(value)
    if len(timestamps) != 1 or not candidates or not _DIGITS.fullmatch(timestamps[0]):
        return False
    timestamp = int(timestamps[0])
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = _mac(secret, body, timestamp)
    matched = False
    for candidate in candidates:  # no early exit: every candidate costs the same
        well_formed = _HEX64.fullmatch(candidate) is not None
        matched |= well_formed and hmac.compare_digest(expected, candidate)
    return matched


def origin(url: str | httpx.URL) -> str:
    """``scheme://host:port`` of ``url``: no user info, path or query (they may hold tokens)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<invalid url>"
    scheme = parsed.scheme or "?"
    host = parsed.host or "?"
    if ":" in host:
        host = f"[{host}]"
    port = parsed.port or {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port else "")


@dataclass(frozen=True, slots=True)
class PostResult:
    """What one POST came to. ``error`` is short and never echoes a body, URL or secret."""

    ok: bool
    retryable: bool
    status: int | None
    error: str | None
    retry_after_s: float | None = None


def parse_retry_after(value: str | None, *, cap_s: float = RETRY_AFTER_CAP_S) -> float | None:
    """The delay-seconds form of a ``Retry-After`` value, capped at ``cap_s``; else ``None``."""
    if value is None or not _SECONDS.fullmatch(value.strip()):
        return None  # the HTTP-date form, garbage or a negative number: use our own backoff
    return min(float(value.strip()), cap_s)


def classify_status(status: int, retry_after: str | None = None) -> PostResult:
    """The result of an HTTP answer: 2xx and 409 (already have it) are ok.

    408, 425, 429 and 5xx are worth retrying; every other status (other 4xx, and 1xx/3xx, which a
    webhook endpoint should never send: redirects are not followed) is not.
    """
    if 200 <= status < 300 or status == 409:
        return PostResult(ok=True, retryable=False, status=status, error=None)
    retryable = status in RETRYABLE_4XX or 500 <= status < 600
    wait = parse_retry_after(retry_after) if status in (429, 503) else None
    return PostResult(False, retryable, status, f"HTTP {status}", wait)


def _network_error(exc: httpx.HTTPError) -> str:
    """A fixed, short description of a transport failure (never ``str(exc)``)."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ConnectionRefusedError):
                return "connection refused"
            if isinstance(cause, socket.gaierror):
                return "name resolution failed"
            if isinstance(cause, ssl.SSLError):
                return "tls error"
            cause = cause.__cause__ or cause.__context__
        return "connection failed"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol error"
    if isinstance(exc, httpx.NetworkError):
        return "connection error"
    return "transport error"


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context, built once (loading the CA bundle takes ~40 ms)."""
    return httpx.create_ssl_context()


class _Secret:
    """Holds key bytes; shows up in no repr, str or format."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __reduce__(self) -> object:
        raise TypeError("a webhook secret cannot be pickled")


class WebhookClient:
    """Signed POSTs to one partner endpoint.

    One httpx.Client per endpoint (connection reuse), with connect/read/write/pool timeouts. Its
    repr shows the origin and key id only; the secret is in no repr, str, log or error.
    """

    __slots__ = ("_client", "_clock", "_secret", "_timeout_s", "_url", "key_id", "origin")

    def __init__(
        self,
        url: str,
        secret: bytes,
        key_id: str,
        *,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        where = origin(url)
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"webhook url must be http(s)://host/...: got {where}")
        if not secret:
            raise ValueError(f"empty webhook secret for {where}")
        if not _TOKEN.fullmatch(key_id):
            raise ValueError(f"webhook key id for {where} must be 1-200 visible ASCII characters")
        if not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise ValueError("timeout_s must be a positive number")
        self._url = parsed
        self._secret = _Secret(bytes(secret))
        self._clock = clock
        self._timeout_s = timeout_s
        self.key_id = key_id
        self.origin = where
        self._client = httpx.Client(
            timeout=httpx.Timeout(
                connect=timeout_s, read=timeout_s, write=timeout_s, pool=timeout_s
            ),
            limits=httpx.Limits(
                max_connections=4, max_keepalive_connections=2, keepalive_expiry=30
            ),
            follow_redirects=False,  # personal data goes to the registered endpoint only
            verify=_tls_context(),
            trust_env=False,  # no proxy or .netrc credentials picked up from the environment
            headers={"User-Agent": USER_AGENT, "Content-Type": CONTENT_TYPE},
        )

    def __repr__(self) -> str:
        return f"WebhookClient(origin={self.origin!r}, key_id={self.key_id!r})"

    __str__ = __repr__

    def __reduce__(self) -> object:
        raise TypeError("a WebhookClient cannot be pickled")

    def post(self, body: bytes, event_id: str) -> PostResult:
        """POST ``body`` signed now, with ``event_id`` as idempotency key. Never raises for
        HTTP or network problems (``ValueError`` for an unusable ``event_id``)."""
        if not _TOKEN.fullmatch(event_id):
            raise ValueError("event id must be 1-200 visible ASCII characters")
        headers = {
            SIGNATURE_HEADER: sign(self._secret.reveal(), body, int(self._clock())),
            IDEMPOTENCY_HEADER: event_id,
            KEY_ID_HEADER: self.key_id,
        }
        try:
            with self._client.stream("POST", self._url, content=body, headers=headers) as response:
                self._drain(response)
                result = classify_status(response.status_code, response.headers.get("Retry-After"))
        except httpx.HTTPError as exc:  # every transport failure, timeouts included
            result = PostResult(ok=False, retryable=True, status=None, error=_network_error(exc))
        except (OSError, RuntimeError) as exc:  # a client used after close, a stray socket error
            log.debug("webhook client error %s", type(exc).__name__)
            result = PostResult(ok=False, retryable=True, status=None, error="client error")
        if not result.ok:
            log.warning(
                "webhook %s to %s failed: %s%s",
                event_id,
                self.origin,
                result.error,
                "" if result.retryable else " (not retryable)",
            )
        return result

    def _drain(self, response: httpx.Response) -> None:
        """Read (and drop) a small response body so the connection can be reused."""
        deadline = time.monotonic() + self._timeout_s
        seen = 0
        try:
            for chunk in response.iter_raw():
                seen += len(chunk)
                if seen > _DRAIN_LIMIT or time.monotonic() > deadline:
                    return  # closing the response drops this connection instead
        except httpx.HTTPError:
            return  # the status stands; the broken connection is not reused

    def close(self) -> None:
        """Close the pooled connections; later posts answer a retryable ``client error``."""
        self._client.close()

    def __enter__(self) -> WebhookClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter between delivery attempts."""

    base_s: float = 0.5
    factor: float = 2.0
    cap_s: float = 60.0

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.base_s, self.factor, self.cap_s)):
            raise ValueError("backoff parameters must be finite")
        if self.base_s < 0 or self.cap_s < 0 or self.factor < 1:
            raise ValueError("backoff needs base_s >= 0, cap_s >= 0 and factor >= 1")

    def ceiling(self, attempt: int) -> float:
        """The largest delay of ``attempt``: ``min(cap, base * factor**attempt)``."""
        if attempt < 0:
            raise ValueError("attempt starts at 0")
        try:
            grown = self.base_s * self.factor**attempt
        except OverflowError:  # factor**attempt beyond floats: only a zero base stays small
            grown = math.inf if self.base_s else 0.0
        return min(self.cap_s, grown)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full jitter: uniform(0, min(cap, base*factor**attempt)); ``attempt`` starts at 0."""
        return (rng or random).uniform(0.0, self.ceiling(attempt))
