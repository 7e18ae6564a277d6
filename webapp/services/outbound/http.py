"""The webhook POST: to the checked address only, no redirects, timeouts enforced, at most
1 KB of the answer kept, and every failure told in words with an outcome the engine decides on."""
import errno
import http.client
import logging
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime

import requests
from requests.adapters import HTTPAdapter

from webapp.services.outbound.masking import scrub
from webapp.services.outbound.targets import DEFAULT_PORTS, BlockedTarget, UnresolvableHost, addresses_for, parse_target
from webapp.timeutil import utcnow

logger = logging.getLogger(__name__)
# urllib3 logs every request line (`"POST /services/T0/B0/token HTTP/1.1" 200`) at DEBUG: an
# endpoint's path is its credential, so that logger never goes below INFO.
logging.getLogger("urllib3.connectionpool").setLevel(logging.INFO)

EXCERPT_BYTES = 1024
DRAIN_LIMIT = 16 * 1024  # read small leftovers so the kept-alive connection can be reused
# `verify` for TLS: True = the certifi bundle. Tests point it at their own CA's file.
TLS_VERIFY: bool | str = True
# What the attempt record keeps of the receiver's answer headers.
RESPONSE_HEADER_COUNT = 40
RESPONSE_HEADER_VALUE = 300
RESPONSE_HEADER_TOTAL = 4000
MASKED_HEADER_VALUE = "••••••"
SENSITIVE_RESPONSE_HEADERS = frozenset({"set-cookie", "set-cookie2", "cookie", "authorization",
                                        "proxy-authorization"})
SENSITIVE_HEADER_WORDS = ("token", "secret", "session", "password", "api-key", "apikey", "credential")


@dataclass
class OutboundResult:
    status: int | None
    duration_ms: int
    response_excerpt: str | None
    error: str | None
    # success | client_error | server_error | timeout | connection | tls | blocked | redirect
    outcome: str
    retry_after_seconds: float | None = None
    request_headers: dict = field(default_factory=dict)
    response_headers: dict | None = None  # capped, credentials masked (`recorded_response_headers`)


class PinnedAddressAdapter(HTTPAdapter):
    """Connects to the address `post` checked (`request.tocsin_address`), never a fresh DNS answer.

    The technique is requests-hardened's IPFilterAdapter: override
    `build_connection_pool_key_attributes`, put the checked IP in the pool key, send the
    original name in the Host header and, for https, as `server_hostname` (SNI) and
    `assert_hostname` (certificate check). We do not depend on requests-hardened itself: it
    can only allow loopback as a whole (no CIDR list, so no TOCSIN_ALLOWED_NETWORKS), checks
    only the first resolved address, and resolves inside the adapter with no way to inject a
    resolver, which our tests (and the single-lookup promise) need.
    """

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        address = getattr(request, "tocsin_address", None)
        if address is None:
            raise BlockedTarget("no checked address for this request; send through outbound.post")
        name, port, scheme = host_params["host"], host_params["port"], host_params["scheme"]
        host_header = f"[{name}]" if ":" in name else name
        if port is not None and port != DEFAULT_PORTS.get(scheme):
            host_header += f":{port}"
        request.headers["Host"] = host_header
        if scheme == "https":
            pool_kwargs["assert_hostname"] = name
            pool_kwargs["server_hostname"] = name
        host_params["host"] = f"[{address}]" if ":" in address else address
        return host_params, pool_kwargs


_local = threading.local()


def _session() -> requests.Session:
    """One session per thread: keep-alive connections without sharing a pool across threads."""
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        # No proxies or .netrc credentials from the environment: a proxy would bypass the pin.
        session.trust_env = False
        session.headers["Accept-Encoding"] = "identity"
        adapter = PinnedAddressAdapter(pool_connections=32, pool_maxsize=4, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _local.session = session
    return session


def _elapsed_ms(started: float) -> int:
    return int(round((time.monotonic() - started) * 1000))


def post(url: str, body: bytes, headers: dict, timeout: float) -> OutboundResult:
    """POST `body` once, checked and pinned; network trouble comes back as an outcome, never raised.
    The error text never quotes the URL's path in clear (it goes into the attempt record)."""
    result = _post(url, body, headers, timeout)
    if result.error:
        result.error = scrub(result.error, url)
    return result


def _post(url: str, body: bytes, headers: dict, timeout: float) -> OutboundResult:
    started = time.monotonic()
    given_headers = dict(headers)
    try:
        _scheme, host, port = parse_target(url)
        address = str(addresses_for(host, port)[0])
    except UnresolvableHost as error:
        return OutboundResult(None, _elapsed_ms(started), None, str(error), "connection", None, given_headers)
    except BlockedTarget as error:
        return OutboundResult(None, _elapsed_ms(started), None, f"blocked: {error}", "blocked", None, given_headers)
    session = _session()
    prepared = None
    try:
        # Prepared and sent straight through the pinned adapter: the session's per-request
        # machinery (settings merge, cookie jar, redirect resolution, hooks) cost more CPU than
        # the send and adds nothing here (no cookies carried between webhooks, no redirects).
        merged = requests.structures.CaseInsensitiveDict(session.headers)
        merged.update(headers)
        prepared = requests.PreparedRequest()
        prepared.prepare(method="POST", url=url, headers=merged, data=body)
        prepared.tocsin_address = address
        response = session.get_adapter(url).send(prepared, stream=True, timeout=(timeout, timeout),
                                                 verify=TLS_VERIFY, proxies={})
    except Exception as error:  # every failure becomes an outcome for the record
        outcome, message = failure(error, timeout)
        sent = dict(prepared.headers) if prepared is not None else given_headers
        return OutboundResult(None, _elapsed_ms(started), None, message, outcome, None, sent)
    try:
        excerpt = _read_excerpt(response, time.monotonic() + timeout)
    finally:
        response.close()
    outcome, message = status_outcome(response.status_code, response.reason, response.headers.get("Location"))
    return OutboundResult(
        status=response.status_code,
        duration_ms=_elapsed_ms(started),
        response_excerpt=excerpt,
        error=message,
        outcome=outcome,
        retry_after_seconds=parse_retry_after(response.headers.get("Retry-After")),
        request_headers=dict(prepared.headers),
        response_headers=recorded_response_headers(response.raw.headers.items()),
    )


def recorded_response_headers(items) -> dict:
    """The answer's headers as the history keeps them: at most RESPONSE_HEADER_COUNT names,
    each value cut at RESPONSE_HEADER_VALUE characters, RESPONSE_HEADER_TOTAL characters in
    all, and credentials (cookies, tokens) masked before they are ever stored. A header sent
    twice (two Set-Cookie) is kept once, its values joined with ", "."""
    kept: dict[str, str] = {}
    total = 0
    for name, value in items:
        name, value = str(name)[:100], str(value)
        if is_sensitive_response_header(name):
            value = MASKED_HEADER_VALUE
        elif len(value) > RESPONSE_HEADER_VALUE:
            value = value[:RESPONSE_HEADER_VALUE] + "…"
        if name in kept:
            value = kept[name] + ", " + value
        elif len(kept) >= RESPONSE_HEADER_COUNT:
            continue
        if total + len(name) + len(value) > RESPONSE_HEADER_TOTAL:
            break
        total += len(name) + len(value) - len(kept.get(name, ""))
        kept[name] = value
    return kept


def is_sensitive_response_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in SENSITIVE_RESPONSE_HEADERS or any(word in lowered for word in SENSITIVE_HEADER_WORDS)


def _read_excerpt(response: requests.Response, deadline: float) -> str:
    """The first 1 KB of the body; then small leftovers are drained so keep-alive works.

    `read1` returns after one socket read, so a receiver that drips bytes is cut off at the
    deadline instead of holding the sender for as long as it likes.
    """
    raw = response.raw
    excerpt = b""
    try:
        while len(excerpt) < EXCERPT_BYTES and time.monotonic() < deadline:
            chunk = raw.read1(EXCERPT_BYTES - len(excerpt))
            if not chunk:
                break
            excerpt += chunk
        remaining = raw.length_remaining
        if remaining is not None and remaining <= DRAIN_LIMIT:
            while time.monotonic() < deadline and raw.read1(8192):
                pass
    except Exception:  # a broken body still leaves the status worth recording
        logger.debug("response body read failed", exc_info=True)
    return excerpt.decode("utf-8", errors="replace")


def _causes(error: BaseException):
    """The error and everything it wraps (requests → urllib3 → socket), outermost first."""
    seen, queue = set(), [error]
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        queue.extend(item for item in linked if isinstance(item, BaseException))


_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset by the receiver",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ECONNABORTED: "connection aborted",
}


def failure(error: BaseException, timeout: float) -> tuple[str, str]:
    """(outcome, words) for an exception raised while sending."""
    if isinstance(error, requests.exceptions.Timeout):
        return "timeout", f"timed out after {timeout:g} s"
    causes = list(_causes(error))
    if isinstance(error, requests.exceptions.SSLError):
        tls = next((cause for cause in causes if isinstance(cause, ssl.SSLError)), causes[-1])
        if isinstance(tls, ssl.SSLCertVerificationError):
            detail = f"certificate verify failed: {tls.verify_message}"
        else:
            detail = re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(tls.args[-1] if tls.args else tls))
        return "tls", f"TLS error: {detail}"[:500]
    for cause in causes:
        if isinstance(cause, OSError) and cause.errno in _ERRNO_WORDS:
            return "connection", _ERRNO_WORDS[cause.errno]
        if isinstance(cause, http.client.RemoteDisconnected):
            return "connection", "the receiver closed the connection without answering"
    return "connection", f"connection failed: {causes[-1]}"[:500]


def status_outcome(status: int, reason: str | None, location: str | None) -> tuple[str, str | None]:
    """(outcome, words) for an HTTP answer; only 2xx is a success."""
    label = f"HTTP {status} {reason or ''}".strip()
    if 200 <= status < 300:
        return "success", None
    if 300 <= status < 400:
        target = location[:300] if location else "(no Location header)"
        return "redirect", f"redirect to {target} not followed"
    if 400 <= status < 500:
        return "client_error", label
    return "server_error", label


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - utcnow()).total_seconds())
