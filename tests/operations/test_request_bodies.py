"""Slow and oversized request bodies, over real sockets: a body is read whole, bounded in size
and time, before the request takes a database connection, so slow clients cannot exhaust the
pool, and a chunked upload is cut off at the limit instead of being buffered whole."""
import socket
import threading
import time

import pytest
import requests

from tests.support.accounts import PASSWORD
from tests.support.gunicorn import gunicorn
from tests.support.live_server import LiveServer
from webapp.services import accounts

BODY_TIMEOUT = 2.0
SLOW_CLIENTS = 16  # more than SQLite's pool of 5 + 10 overflow


@pytest.fixture
def app_config():
    return {"TOCSIN_BODY_TIMEOUT": BODY_TIMEOUT}


@pytest.fixture
def server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


def raw_request(port: int, head: str) -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=30)
    client.sendall(head.encode("latin-1"))
    return client


def status_of(client: socket.socket) -> int:
    answer = b""
    while b"\r\n" not in answer:
        chunk = client.recv(4096)
        if not chunk:
            break
        answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer else 0


def trickle(port: int, key: str, results: list, stop: threading.Event) -> None:
    """`POST /api/v1/runs` with Content-Length 60000 and one byte every half second."""
    client = raw_request(port, f"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                               "Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n")
    started = time.monotonic()
    try:
        client.settimeout(0.5)
        while not stop.is_set():
            try:
                client.sendall(b" ")
            except OSError:
                break  # the server closed its side: read its answer
            try:
                answer = client.recv(4096, socket.MSG_PEEK)
            except TimeoutError:
                continue
            if answer:
                break
        client.settimeout(10)
        results.append((status_of(client), time.monotonic() - started))
    finally:
        client.close()


def test_slow_bodies_neither_exhaust_the_pool_nor_hold_a_thread_for_long(server, api, other_api):
    results, stop = [], threading.Event()
    threads = [threading.Thread(target=trickle, args=(server.server.server_port, api.key, results, stop))
               for _ in range(SLOW_CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)  # every slow client is connected and sending
        started = time.monotonic()
        health = requests.get(server.url + "/healthz", timeout=10)
        report = requests.post(server.url + "/api/v1/runs", json={"job": "other-tenant", "status": "succeeded"},
                               headers={"Authorization": f"Bearer {other_api.key}"}, timeout=10)
        answered_in = time.monotonic() - started
    finally:
        for thread in threads:
            thread.join(BODY_TIMEOUT + 10)
        stop.set()
    assert health.status_code == 200 and health.json()["database"] == "ok"
    assert report.status_code == 201
    assert answered_in < BODY_TIMEOUT  # served while the slow bodies were still arriving
    assert [status for status, _ in results] == [408] * SLOW_CLIENTS
    assert max(seconds for _, seconds in results) < BODY_TIMEOUT + 3


def test_a_slow_log_in_form_is_cut_off_too(server):
    client = raw_request(server.server.server_port,
                         "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                         "Content-Length: 5000\r\n\r\nemail=")
    started = time.monotonic()
    try:
        assert status_of(client) == 408
        assert time.monotonic() - started < BODY_TIMEOUT + 3
    finally:
        client.close()


def test_a_huge_chunked_body_is_refused_at_the_limit_not_buffered(server, api):
    client = raw_request(server.server.server_port,
                         f"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {api.key}\r\n"
                         "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b" " * 64 * 1024)
    sent = 0
    try:
        while sent < 200 * 1024 * 1024:
            try:
                client.sendall(chunk)
            except OSError:
                break  # refused: the server stopped reading
            sent += len(chunk)
            client.settimeout(0)
            try:
                if client.recv(1, socket.MSG_PEEK):
                    break
            except (BlockingIOError, OSError):
                pass
            finally:
                client.settimeout(30)
        assert sent < 20 * 1024 * 1024  # cut off near 64 KB (plus what the socket buffers held)
        assert status_of(client) == 413
    finally:
        client.close()


def test_a_declared_oversized_body_is_refused_before_it_is_sent(server, api):
    client = raw_request(server.server.server_port,
                         f"POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {api.key}\r\n"
                         f"Content-Type: application/json\r\nContent-Length: {10 * 1024 * 1024}\r\n\r\n")
    try:
        assert status_of(client) == 413  # answered without waiting for a byte of the body
    finally:
        client.close()


def test_an_ordinary_report_still_works(api):
    assert api.post("/runs", json={"job": "nightly", "status": "succeeded"}).status_code == 201


def test_under_gunicorn_slow_bodies_are_cut_off_and_log_in_answers(tmp_path):
    """2 workers × 4 threads and twice as many slow clients: each is cut off at the body
    timeout, so every one of them ends and the log-in page waits a bounded time."""
    keys = []

    def seed(app):
        user = accounts.create_user("owner@example.com", PASSWORD)
        keys.append(accounts.create_api_key(workspace_id=user.workspace_id, user_id=user.id, name="cron")[1])

    with gunicorn(tmp_path, workers=2, threads=4, seed=seed, TOCSIN_BODY_TIMEOUT=str(BODY_TIMEOUT)) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        results, stop = [], threading.Event()
        threads = [threading.Thread(target=trickle, args=(port, keys[0], results, stop)) for _ in range(SLOW_CLIENTS)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.5)
            started = time.monotonic()
            login_page = requests.get(base_url + "/login", timeout=30)
            waited = time.monotonic() - started
            health = requests.get(base_url + "/healthz", timeout=30)
        finally:
            for thread in threads:
                thread.join(BODY_TIMEOUT + 10)
            stop.set()
    assert login_page.status_code == 200 and health.status_code == 200
    # A worker's 4 threads take the slow clients 4 at a time, each for at most the body timeout:
    # the log-in page waits at most that many rounds (a buffering proxy in front removes even that).
    assert waited < SLOW_CLIENTS / 4 * BODY_TIMEOUT + 3
    assert [status for status, _ in results] == [408] * SLOW_CLIENTS
