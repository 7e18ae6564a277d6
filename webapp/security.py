"""What every response says about its own safety: cookies marked `Secure` when Tocsin is served on
https, and the headers that keep pages from being framed, sniffed, leaked by referrers or run
injected script (a strict Content-Security-Policy: no inline script or style anywhere)."""
import logging

from flask import Flask, g

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
HSTS = "max-age=31536000"
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
}


def served_on_https(app: Flask) -> bool:
    return app.config.get("TOCSIN_BASE_URL", "").lower().startswith("https://")


def init_app(app: Flask, overridden: frozenset = frozenset()) -> None:
    """`overridden`: config keys the caller set itself (tests), which are left as they are."""
    https = served_on_https(app)
    for name in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if name not in overridden:
            app.config[name] = https
    if (not app.config["SESSION_COOKIE_SECURE"] and app.config.get("TOCSIN_ENV") == "production"
            and app.config.get("SECRET_KEY")):  # without a key it is not starting: one error, nothing else
        log.warning("TOCSIN_BASE_URL is not https: session cookies are sent without Secure, so anyone on "
                    "the network path can read them. Serve Tocsin behind https and set TOCSIN_BASE_URL.")

    headers = [*SECURITY_HEADERS.items(), *([("Strict-Transport-Security", HSTS)] if https else [])]

    @app.after_request
    def add_security_headers(response):
        present = {name.lower() for name in response.headers.keys()}  # one pass, not one per header
        for name, value in headers:
            if name.lower() not in present:
                response.headers.add(name, value)
        if g.get("tocsin_no_store"):
            response.headers["Cache-Control"] = "no-store"
        return response


def no_store() -> None:
    """Mark this request's page as one that shows a secret or a key once: `Cache-Control:
    no-store`, so neither a browser's cache nor a proxy keeps it."""
    g.tocsin_no_store = True
