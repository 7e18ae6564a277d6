"""How an endpoint URL is shown, and kept out of error texts: a Slack, Discord or Teams webhook
URL is itself the credential, so only its scheme, host (and port) and first path segment are ever
shown (`https://hooks.slack.com/services/••••`); the rest, the query and any user-info never are.
"""
from urllib.parse import urlsplit

from webapp.services.outbound.targets import DEFAULT_PORTS

MASK = "••••"


def _origin(url: str):
    """(scheme://host[:port], path, query) of `url`, or None when it cannot be parsed."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except (AttributeError, ValueError):
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if not scheme or not host:
        return None
    shown_host = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        shown_host += f":{port}"
    return f"{scheme}://{shown_host}", parts.path, parts.query


def mask_url(url: str) -> str:
    """`https://hooks.slack.com/services/T0/B0/x` → `https://hooks.slack.com/services/••••`;
    `https://host` → `https://host/`; a query shows as `?••••`; an unreadable URL as `••••`."""
    split = _origin(url) if isinstance(url, str) else None
    if split is None:
        return MASK
    origin, path, query = split
    first, _slash, rest = path.lstrip("/").partition("/")
    shown = f"{origin}/{first}"
    if rest:
        return f"{shown}/{MASK}"
    return f"{shown}?{MASK}" if query else shown


def scrub(text: str, url: str) -> str:
    """`text` (an error message, a redirect target) with every copy of `url`'s hidden part masked:
    the whole URL becomes `mask_url(url)`, its path the masked path, and the part after the
    first segment `••••`. Network errors of `requests` and urllib3 quote the path they tried."""
    split = _origin(url) if isinstance(url, str) and text else None
    if split is None:
        return text
    origin, path, query = split
    masked = mask_url(url)
    masked_path = masked.removeprefix(origin)
    first, _slash, rest = path.lstrip("/").partition("/")
    path_and_query = path + (f"?{query}" if query else "")
    hidden = [rest + (f"?{query}" if query else ""), rest, query]
    replacements = [(url.strip(), masked), (url.strip().split("#", 1)[0], masked), (path_and_query, masked_path),
                    *((part, MASK) for part in hidden)]
    for clear, shown in replacements:
        if len(clear) > 1 and clear != shown:
            text = text.replace(clear, shown)
    return text
