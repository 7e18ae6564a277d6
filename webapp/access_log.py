"""gunicorn's access log line, built without gunicorn's per-request dictionary of atoms."""
from gunicorn import glogging
from gunicorn.config import AccessLogFormat

DEFAULT_FORMAT = AccessLogFormat.default


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
