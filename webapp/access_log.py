"""gunicorn's access log line, built without gunicorn's per-request dictionary of atoms."""
import re

from gunicorn import glogging
from gunicorn.config import AccessLogFormat

DEFAULT_FORMAT = AccessLogFormat.default
# An invite link carries its token in the path (`/invites/<token>`): never in the log in clear.
SECRET_IN_PATH = re.compile(r"(/invites/)[^/?#\s\"]+")
SECRET_BEARING = ("RAW_URI", "PATH_INFO", "HTTP_REFERER")


def _without_secrets(environ: dict) -> dict:
    """The environ with invite tokens masked in the request line, path and referrer (one
    substring test per field when there is none)."""
    masked = {name: SECRET_IN_PATH.sub(r"\1[redacted]", value) for name in SECRET_BEARING
              if "/invites/" in (value := environ.get(name) or "")}
    return {**environ, **masked} if masked else environ


def _safe(value: str) -> str:
    """As gunicorn's SafeAtoms: a quote inside a quoted field is escaped, so a crafted
    User-Agent or URL cannot forge the fields after it."""
    return value.replace('"', '\\"')


class AccessLogger(glogging.Logger):
    """gunicorn's logger (`logger_class` in gunicorn.conf.py). For each request gunicorn builds
    a dictionary of every environ entry and header, escaped, to fill a format that reads nine of
    them: a tenth of a run report's CPU. With the default (Apache combined) format this writes
    the same line from those nine; any other access_log_format is left to gunicorn."""

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        environ = _without_secrets(environ)
        if self.cfg.access_log_format != DEFAULT_FORMAT:
            super().access(resp, req, environ, request_time)
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        request_line = f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}"
        line = (f'{_safe(environ.get("REMOTE_ADDR", "-"))} - {_safe(self._get_user(environ) or "-")} '
                f'{self.now()} "{_safe(request_line)}" {_safe(str(status))} '
                f"{'-' if sent is None else sent} "
                f'"{_safe(environ.get("HTTP_REFERER", "-"))}" "{_safe(environ.get("HTTP_USER_AGENT", "-"))}"')
        try:
            self.access_log.info("%s", line)
        except Exception:
            self.exception("could not write the access log line")
