"""Behind a reverse proxy (docs/deployment.md: nginx), the client's address and scheme arrive in
X-Forwarded-For / -Proto / -Host. `TOCSIN_PROXY_HOPS` says how many proxies in front are trusted
to set them (werkzeug's ProxyFix takes the value each one appended); 0, the default, trusts none,
so a client talking to gunicorn directly cannot claim another address and dodge the log-in
throttle, which counts per address."""
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask) -> None:
    hops = app.config.get("TOCSIN_PROXY_HOPS", 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
