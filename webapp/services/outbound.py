"""The only module that opens outgoing connections: the SSRF guard and the webhook POST.

A target is checked when an endpoint is saved (`check_target`) and again on every send
(inside `post`): http/https only, no user-info, the host resolved once, and every address
public unless it lies in `TOCSIN_ALLOWED_NETWORKS`. The socket then connects to the address
that was checked, so a DNS answer that changes between the check and the connect (rebinding)
cannot move the request; the Host header, TLS SNI and certificate check keep the name.
Redirects are never followed and at most 1 KB of the answer is kept for the record.
"""
import errno
import functools
import http.client
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from flask import current_app, has_app_context
from requests.adapters import HTTPAdapter

from webapp.timeutil import utcnow

logger = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
EXCERPT_BYTES = 1024
DRAIN_LIMIT = 16 * 1024  # read small leftovers so the kept-alive connection can be reused
DEFAULT_PORTS = {"http": 80, "https": 443}
POLICY = "Tocsin only sends to public addresses (or networks listed in TOCSIN_ALLOWED_NETWORKS)"
# `verify` for TLS: True = the certifi bundle. Tests point it at their own CA's file.
TLS_VERIFY: bool | str = True
_HOST_CHARACTERS = re.compile(r"^[\w.-]+$")
_LEGACY_IPV4_PART = re.compile(r"^(0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*)$")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedTarget(ValueError):
    """A URL Tocsin refuses to send to; the message says why, for a form or an API error."""


class UnresolvableHost(BlockedTarget):
    """No DNS answer. Refused at save; at send time a connection failure worth retrying."""


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


def resolve_host(host: str, port: int) -> list[str]:
    """Every address DNS gives for `host`, in resolver order. Tests monkeypatch this."""
    answers = []
    for family, _type, _proto, _name, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in answers:
            answers.append(sockaddr[0])
    return answers


@functools.lru_cache(maxsize=8)
def allowed_networks(setting: str) -> tuple:
    """TOCSIN_ALLOWED_NETWORKS parsed once per value (CIDRs separated by commas or spaces)."""
    networks = []
    for entry in re.split(r"[\s,]+", setting.strip()):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            logger.warning("TOCSIN_ALLOWED_NETWORKS: %r is not a network in CIDR form; ignored", entry)
    return tuple(networks)


def _configured_networks() -> tuple:
    if not has_app_context():
        return ()
    return allowed_networks(current_app.config.get("TOCSIN_ALLOWED_NETWORKS") or "")


_REFUSED_NETWORKS = [(ipaddress.ip_network(network), reason) for network, reason in (
    ("0.0.0.0/32", "an unspecified address"),
    ("0.0.0.0/8", "a 'this network' address"),
    ("127.0.0.0/8", "a loopback address"),
    ("10.0.0.0/8", "a private address"),
    ("172.16.0.0/12", "a private address"),
    ("192.168.0.0/16", "a private address"),
    ("100.64.0.0/10", "a carrier-grade NAT (shared) address"),
    ("169.254.169.254/32", "the cloud metadata address (link-local)"),
    ("169.254.0.0/16", "a link-local address"),
    ("192.0.0.0/24", "an IETF protocol assignment address"),
    ("192.0.2.0/24", "a documentation address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("192.88.99.0/24", "a 6to4 relay address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("224.0.0.0/4", "a multicast address"),
    ("255.255.255.255/32", "a broadcast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "an unspecified address"),
    ("::1/128", "a loopback address"),
    ("::/96", "an IPv4-compatible IPv6 address (deprecated)"),
    ("64:ff9b:1::/48", "a local-use NAT64 address"),
    ("100::/64", "a discard-only address"),
    ("2001::/32", "a Teredo tunnel address"),
    ("2001:10::/28", "an ORCHID overlay address"),
    ("2001:20::/28", "an ORCHID overlay address"),
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
    ("2002::/16", "a 6to4 tunnel address"),
    ("5f00::/16", "a segment-routing address"),
    ("fd00:ec2::254/128", "the cloud metadata address"),
    ("fc00::/7", "a private address"),
    ("fec0::/10", "a private (site-local) address"),
    ("fe80::/10", "a link-local address"),
    ("ff00::/8", "a multicast address"),
)]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def refusal(address: IPAddress) -> str | None:
    """Why `address` is not public, in words ("a loopback address"), or None when it is.

    An explicit table first (clear words, and ranges `is_global` misses in this Python, such
    as 6to4, ORCHID or IPv4-compatible forms), then `ipaddress`'s own properties as a net.
    IPv4-mapped and NAT64 addresses are judged by the IPv4 address they carry.
    """
    embedded = None
    if address.version == 6 and address.ipv4_mapped is not None:
        embedded, form = address.ipv4_mapped, "IPv4-mapped"
    elif address in _NAT64:
        embedded, form = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "NAT64"
    if embedded is not None:
        reason = refusal(embedded)
        return f"{reason} ({form} {embedded})" if reason else None
    for network, reason in _REFUSED_NETWORKS:
        if address in network:
            return reason
    for flag, reason in (("is_loopback", "a loopback address"), ("is_link_local", "a link-local address"),
                         ("is_multicast", "a multicast address"), ("is_unspecified", "an unspecified address"),
                         ("is_private", "a non-public address"), ("is_reserved", "a reserved address")):
        if getattr(address, flag):
            return reason
    return None if address.is_global else "a non-public address"


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address of inet_aton's forms that resolvers accept: 2130706433, 0x7f.1,
    0177.0.0.1, 127.1, 0. Parsed here so the check never depends on the resolver's whims."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_LEGACY_IPV4_PART.match(part) for part in parts):
        return None
    values = []
    for part in parts:
        if part.startswith("0x"):
            values.append(int(part[2:] or "0", 16))
        elif part.startswith("0") and len(part) > 1:
            values.append(int(part, 8))
        else:
            values.append(int(part))
    *leading, last = values
    if any(value > 255 for value in leading) or last >= 256 ** (5 - len(values)):
        return None
    number = 0
    for value in leading:
        number = number * 256 + value
    number = (number << (8 * (5 - len(values)))) + last
    return ipaddress.IPv4Address(number)


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return _legacy_ipv4(host.removesuffix("."))


def parse_target(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable URL, or BlockedTarget saying what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise BlockedTarget("enter a URL starting with http:// or https://")
    if len(url) > MAX_URL_LENGTH:
        raise BlockedTarget(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(character) <= 0x20 or ord(character) == 0x7F for character in url):
        raise BlockedTarget("the URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise BlockedTarget(f"the URL is not valid ({error}); the port must be a number from 1 to 65535") from error
    scheme = parts.scheme.lower()
    if scheme and scheme not in DEFAULT_PORTS:  # before the host check: file:///x has no host
        raise BlockedTarget(f"scheme {scheme} is not allowed: use http or https")
    if not scheme or not parts.netloc:
        raise BlockedTarget("the URL must start with http:// or https://")
    if "@" in parts.netloc:
        raise BlockedTarget("URLs with a user name or password are not allowed")
    host = parts.hostname
    if not host:
        raise BlockedTarget("the URL has no host")
    if "[" not in parts.netloc and not _HOST_CHARACTERS.match(host):
        raise BlockedTarget(f"the host {host!r} contains characters that are not allowed")
    if port == 0:
        raise BlockedTarget("the port must be a number from 1 to 65535")
    return scheme, host, port or DEFAULT_PORTS[scheme]


def _is_allowed(address: IPAddress, networks: tuple) -> bool:
    candidates = [address]
    if address.version == 6 and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    return any(candidate in network for candidate in candidates for network in networks)


def addresses_for(host: str, port: int) -> list[IPAddress]:
    """The host's addresses, resolved once, each one checked; BlockedTarget if any is refused."""
    literal = _literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            answers = resolve_host(host, port)
        except (OSError, UnicodeError) as error:
            raise UnresolvableHost(f"host {host} does not resolve") from error
        if not answers:
            raise UnresolvableHost(f"host {host} does not resolve")
        addresses = [ipaddress.ip_address(answer) for answer in answers]
    networks = _configured_networks()
    for address in addresses:
        if _is_allowed(address, networks):
            continue
        reason = refusal(address)
        if reason:
            raise BlockedTarget(f"resolves to {address}, {reason}; {POLICY}")
    return addresses


def check_target(url: str) -> list[str]:
    """The resolved, allowed addresses of `url` (for saving an endpoint); BlockedTarget if not."""
    _scheme, host, port = parse_target(url)
    return [str(address) for address in addresses_for(host, port)]


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
    """POST `body` once, checked and pinned; network trouble comes back as an outcome, never raised."""
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
    )


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
