"""A short hint per kind of delivery failure, in plain words, shown next to the error.

The kind comes from the attempt's structured outcome when there is one (outbound.http sets
`timeout`, `tls`, `blocked`, `redirect`, `connection`…), else from the HTTP status, else from
the error text the send path wrote (`connection refused`, `host … does not resolve`…), so a
delivery's last error ("gave up after 8 attempts; last: connection refused") gets one too.
Every hint says only what the engine really does (services/delivery/attempt.py `decide`).
"""
import re
from http import HTTPStatus

from webapp.services.delivery.attempt import GONE_STATUSES
from webapp.services.delivery.backoff import RETRY_AFTER_CAP_SECONDS

# Outcome codes (DeliveryAttempt.outcome) in words, for the delivery page.
OUTCOME_WORDS = {
    "success": "Delivered",
    "client_error": "Refused by the receiver",
    "server_error": "Receiver error",
    "timeout": "Timed out",
    "connection": "Could not connect",
    "tls": "TLS problem",
    "blocked": "Blocked by network policy",
    "redirect": "Redirect not followed",
    "template": "Template failed",
    "skipped": "Not sent",
    "internal": "Tocsin error",
}

# (pattern in the error text, kind), tried in order when no outcome says more.
_TEXT_KINDS = (
    (r"^blocked:|not allowed|TOCSIN_ALLOWED_NETWORKS", "blocked"),
    (r"does not resolve", "dns"),
    (r"connection refused", "refused"),
    (r"connection reset|closed the connection|connection aborted", "dropped"),
    (r"unreachable", "unreachable"),
    (r"certificate", "certificate"),
    (r"TLS error", "tls"),
    (r"timed out", "timeout"),
    (r"redirect to .* not followed", "redirect"),
    (r"endpoint disabled", "endpoint_disabled"),
    (r"endpoint deleted", "endpoint_deleted"),
    (r"cannot decrypt|no configured key", "unreadable"),
    (r"template", "template"),
)

_HINTS = {
    "refused": "Is the receiver running and reachable from the Tocsin host? Nothing accepted the connection "
               "at that address and port: check the port in the URL, and any firewall in between.",
    "dns": "The host name does not resolve from the Tocsin host: check the spelling of the URL, and that "
           "the Tocsin server's DNS knows the name.",
    "dropped": "The receiver accepted the connection, then dropped it without answering: it may have crashed "
               "or a proxy in front of it cut the request. Its logs should say why.",
    "unreachable": "There is no route from the Tocsin host to the receiver: check the address and the network "
                   "or firewall between them.",
    "certificate": "Tocsin does not trust the receiver's TLS certificate (expired, self-signed, or issued for "
                   "another name). Renew or fix the certificate, or use the host name it was issued for.",
    "tls": "The TLS handshake failed: is that port really serving HTTPS? An https:// URL pointing at a plain "
           "HTTP port fails this way.",
    "blocked": "Tocsin refuses private, loopback and link-local addresses unless the server setting "
               "TOCSIN_ALLOWED_NETWORKS lists them (for a receiver on the same host: "
               "TOCSIN_ALLOWED_NETWORKS=127.0.0.1/32). Set it where Tocsin runs and restart it.",
    "redirect": "Tocsin never follows redirects (they could lead anywhere): put the final URL in the endpoint.",
    "template": "The endpoint's payload template failed to render, so nothing was sent: fix the template in "
                "the endpoint's settings.",
    "endpoint_disabled": "Nothing was sent because the endpoint is disabled. Re-enable it on its page, then "
                         "redeliver.",
    "endpoint_deleted": "Nothing was sent because the endpoint was deleted.",
    "unreadable": "Nothing was sent: a stored secret or URL cannot be decrypted with the keys this server "
                  "has (TOCSIN_ENCRYPTION_KEY). Put the old key back in the list, or enter the value again.",
    "credentials": "The receiver refused the request's credentials: check that it verifies with this "
                   "endpoint's current signing secret (after a rotation the previous one also signs for "
                   "24 hours) and that custom headers such as Authorization are right.",
    "rejected": "The receiver refused the request itself: check that it expects this endpoint's payload format "
                "(the request sent is shown on this page).",
}


def failure_kind(error: str | None, http_status: int | None, outcome: str | None = None) -> str | None:
    """The kind of failure, or None when there was none (or nothing more can be said)."""
    if outcome == "success" or (outcome is None and not error and (http_status is None or http_status < 300)):
        return None
    if http_status is not None and http_status >= 300:
        if http_status in GONE_STATUSES:
            return "gone"
        if http_status in (401, 403):
            return "credentials"
        if http_status == 429:
            return "throttled"
        if http_status >= 500:
            return "server"
        if http_status >= 400:
            return "rejected"
        return "redirect"
    text = error or ""
    if outcome in ("timeout", "blocked", "redirect", "template"):
        return outcome
    if outcome == "tls":
        return "certificate" if "certificate" in text else "tls"
    for pattern, kind in _TEXT_KINDS:
        if re.search(pattern, text, re.IGNORECASE):
            return kind
    return None


def failure_hint(error: str | None, http_status: int | None, *, outcome: str | None = None,
                 is_test: bool = False, timeout_seconds: int | None = None,
                 retry_after: str | None = None) -> str | None:
    """One or two sentences on what this failure usually means and what to do, or None."""
    kind = failure_kind(error, http_status, outcome)
    if kind is None:
        return None
    if kind == "gone":
        phrase = f"{http_status} {HTTPStatus(http_status).phrase}"
        if is_test:
            return (f"The receiver answered {phrase}. For a real alert Tocsin would disable this endpoint: it "
                    "takes 404 and 410 to mean the URL is gone. Check the URL.")
        return (f"Tocsin disabled this endpoint because the receiver answered {phrase}: it takes 404 and 410 "
                "to mean the URL is gone, and stops sending there. Fix the URL or the receiver, re-enable the "
                "endpoint on its page, then redeliver.")
    if kind == "timeout":
        limit = f" ({timeout_seconds} s)" if timeout_seconds else ""
        return (f"The receiver did not answer within the endpoint's timeout{limit}. Have it reply at once and do "
                "the work afterwards, or raise the timeout in the endpoint's settings.")
    if kind == "throttled":
        asked = f" (it asked for {retry_after} s)" if retry_after and retry_after.strip().isdigit() else ""
        if is_test:
            return f"The receiver is rate-limiting Tocsin{asked}. A test send is not retried; try again later."
        return (f"The receiver is rate-limiting Tocsin. The next attempt waits at least as long as its "
                f"Retry-After header says{asked}, up to {RETRY_AFTER_CAP_SECONDS // 60} minutes.")
    if kind == "server":
        then = ("A test send is not retried." if is_test
                else "Tocsin tries again with back-off until the attempts run out.")
        return f"The receiver failed while handling the request: its answer and logs should say why. {then}"
    return _HINTS.get(kind)
