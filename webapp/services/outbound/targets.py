"""The SSRF guard: which URLs Tocsin may send to, checked at save and again at every send.

http/https only, no user-info, the host resolved once, and every address public unless it lies in
`TOCSIN_ALLOWED_NETWORKS`; the sender then connects to exactly the address checked here.
"""
import functools
import ipaddress
import logging
import re
import socket
from urllib.parse import urlsplit

from flask import current_app, has_app_context

logger = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
POLICY = "Tocsin only sends to public addresses (or networks listed in TOCSIN_ALLOWED_NETWORKS)"
_HOST_CHARACTERS = re.compile(r"^[\w.-]+$")
_LEGACY_IPV4_PART = re.compile(r"^(0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*)$")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedTarget(ValueError):
    """A URL Tocsin refuses to send to; the message says why, for a form or an API error."""


class UnresolvableHost(BlockedTarget):
    """No DNS answer. Refused at save; at send time a connection failure worth retrying."""


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
