"""Error handlers in one place: JSON errors under /api/, HTML pages elsewhere."""
import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from webapp.database_errors import RETRY_AFTER_SECONDS, describe, is_database_unavailable
from webapp.extensions import db

log = logging.getLogger(__name__)

HTTP_ERROR_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 408: "request_timeout", 409: "conflict", 413: "payload_too_large",
    415: "unsupported_media_type", 428: "confirmation_required", 429: "rate_limited",
    500: "internal_error", 503: "unavailable",
}


HTTP_ERROR_TITLES = {408: "Request timed out", 413: "Request too large", 429: "Too many requests"}
# The client's body was not read to its end: the connection cannot carry another request.
BODY_LEFT_UNREAD = (408, 413)


class ApiError(Exception):
    """Raise anywhere under /api/v1 to answer with the one JSON error shape (elsewhere: the error page)."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields
        self.headers = headers or {}


def json_error(status: int, code: str, message: str, fields: dict | None = None):
    body = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/metrics")


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError):
        if _wants_json():
            response = json_error(error.status, error.code, error.message, error.fields)
        else:
            response = (render_template("errors/error.html", status=error.status,
                                        title=HTTP_ERROR_TITLES.get(error.status, "Refused"), message=error.message),
                        error.status)
        headers = {**error.headers, **({"Connection": "close"} if error.status in BODY_LEFT_UNREAD else {})}
        return response[0], response[1], headers

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError):
        return render_template("errors/error.html", status=400, title="Form expired",
                               message="The form was missing its security token or it expired. "
                                       "Go back, reload the page and try again."), 400

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException):
        if _wants_json():
            code = HTTP_ERROR_CODES.get(error.code or 500, "error")
            return json_error(error.code or 500, code, error.description or error.name)
        return render_template("errors/error.html", status=error.code, title=error.name,
                               message=error.description), error.code

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        if is_database_unavailable(error):
            return database_unavailable(error)
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_json():
            return json_error(500, "internal_error", "Something went wrong on our side.")
        return render_template("errors/error.html", status=500, title="Something went wrong",
                               message="The error was logged. Try again in a moment."), 500


def database_unavailable(error: Exception):
    """503 while the database cannot be reached, with Retry-After; one WARNING line, no traceback.

    The session is rolled back (SQLAlchemy has already invalidated a lost connection, and the
    pool's older ones with it), so the first request after the server is back finds fresh
    connections. The HTML page does not extend base.html: its header loads the signed-in user,
    one more query that would fail."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001  (the session is removed at the end of the request anyway)
        pass
    log.warning("database unavailable on %s %s: %s", request.method, request.path, describe(error))
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    message = f"The database is unreachable for the moment; try again in {RETRY_AFTER_SECONDS} s."
    if _wants_json():
        body, status = json_error(503, "database_unavailable", message)
        return body, status, headers
    return render_template("errors/unavailable.html", message=message), 503, headers
