"""Request bodies read whole, bounded in size and in time, before a request touches the database.

A client that sends its body slowly (one byte every few seconds) must cost at most one server
thread for a bounded time, and never a pooled database connection: the API reads the body
first (`read_body`), and only then looks up the key. The size is bounded by
`request.max_content_length`, which Werkzeug also enforces while it decodes a chunked body, so
a chunked upload is refused after `limit` bytes instead of being buffered whole.

The time is bounded twice. Each read from the client waits at most `seconds` (a socket
timeout), and the whole body must have arrived within `seconds` too: one watchdog thread for
the process shuts the reading side of a socket whose deadline passed, which wakes the blocked
read at once with an end of file. Both need the client's socket, which gunicorn
(`gunicorn.socket`) and the development server (`werkzeug.socket`) put in the WSGI environ;
behind a server that does not, only the size is bounded (put a buffering proxy in front).
"""
import heapq
import itertools
import socket
import threading
import time

from flask import Flask, request
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from webapp.errors import ApiError

SOCKET_KEYS = ("gunicorn.socket", "werkzeug.socket")
API_PREFIX = "/api/"
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
API_BODY_BYTES = 64 * 1024  # a run report or a configuration change is a few hundred bytes
PAGE_BODY_BYTES = 1024 * 1024  # the largest form is an endpoint with its template and headers


class BodyTooLarge(Exception):
    """The body is larger than the limit (413)."""


class BodyTooSlow(Exception):
    """The body did not arrive in time, or the client went away while sending it (408)."""


class _Watchdog:
    """Shuts the reading side of sockets whose body deadline passed. One thread per process,
    started on first use; registering a read costs a heap push under a lock."""

    def __init__(self):
        self._heap: list[tuple[float, int, socket.socket]] = []
        self._live: set[int] = set()
        self._order = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, client: socket.socket, deadline: float) -> int:
        with self._condition:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tocsin-body-watchdog", daemon=True)
                self._thread.start()
            ticket = next(self._order)
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (deadline, ticket, client))
            self._live.add(ticket)
            if earliest is None or deadline < earliest:
                # Only a new earliest deadline needs the thread awake: with one timeout for every
                # request, that is rare, so a request costs no thread switch.
                self._condition.notify()
            return ticket

    def forget(self, ticket: int) -> None:
        with self._condition:
            self._live.discard(ticket)

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._condition.wait()
                    continue
                deadline, ticket, client = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._live.discard(ticket)
            try:
                client.shutdown(socket.SHUT_RD)
            except OSError:
                pass  # already closed


_watchdog = _Watchdog()


def _client_socket() -> socket.socket | None:
    for key in SOCKET_KEYS:
        client = request.environ.get(key)
        if isinstance(client, socket.socket):
            return client
    return None


def read_body(limit: int, seconds: float) -> bytes:
    """The request's body (cached for `request.get_json` and `get_data`), at most `limit`
    bytes and within `seconds`; BodyTooLarge or BodyTooSlow otherwise."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge
    if request.content_length == 0:
        return request.get_data(cache=True)
    # One byte over the limit: a chunked body stops being read there (Werkzeug's stream ends
    # silently at its maximum), and a body that reached it is too large.
    request.max_content_length = limit + 1
    client = _client_socket()
    ticket, previous_timeout = None, None
    if client is not None:
        previous_timeout = client.gettimeout()
        client.settimeout(seconds)
        ticket = _watchdog.watch(client, time.monotonic() + seconds)
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise BodyTooLarge from None
    except (ClientDisconnected, TimeoutError, OSError):
        raise BodyTooSlow from None
    finally:
        if client is not None:
            _watchdog.forget(ticket)
            try:
                client.settimeout(previous_timeout)
            except OSError:
                pass
    if len(data) > limit:
        raise BodyTooLarge
    if request.content_length is not None and len(data) < request.content_length:
        raise BodyTooSlow  # the watchdog ended the read: the body stopped short
    return data


def _has_body() -> bool:
    """A declared length, or a chunked body (which some servers decode and announce only as
    `wsgi.input_terminated`)."""
    if request.content_length is not None:
        return request.content_length > 0
    return request.method in BODY_METHODS and (
        "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        or bool(request.environ.get("wsgi.input_terminated")))


def init_app(app: Flask) -> None:
    """Every request with a body reads it first, before any other before-request function
    (CSRF, the API key) and so before any database connection is taken."""
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = PAGE_BODY_BYTES

    @app.before_request
    def read_bounded_body():
        if not _has_body():
            return
        api = request.path.startswith(API_PREFIX)
        limit = API_BODY_BYTES if api else app.config["MAX_CONTENT_LENGTH"]
        try:
            read_body(limit, app.config["TOCSIN_BODY_TIMEOUT"])
        except BodyTooLarge:
            raise ApiError(413, "payload_too_large", f"The body is larger than {limit} bytes.") from None
        except BodyTooSlow:
            raise ApiError(408, "request_timeout", f"The body did not arrive within "
                                                   f"{app.config['TOCSIN_BODY_TIMEOUT']:g} s.") from None
