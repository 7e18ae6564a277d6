"""gunicorn's access log through Tocsin's logger class: the same line gunicorn writes."""
import io
import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn import glogging
from gunicorn.config import Config

from webapp.access_log import AccessLogger


def logged_line(logger_class, environ, status="201 CREATED", sent=87, access_log_format=None) -> str:
    config = Config()
    config.set("accesslog", "-")
    if access_log_format:
        config.set("access_log_format", access_log_format)
    logger = logger_class(config)
    stream = io.StringIO()
    logger.access_log.handlers = [logging.StreamHandler(stream)]  # the logger is global: only this one's line
    logger.now = lambda: "[24/Nov/2026:15:00:00 +0000]"
    response = SimpleNamespace(status=status, sent=sent, headers=[("Content-Type", "application/json")])
    request = SimpleNamespace(headers=[("HOST", "127.0.0.1")])
    logger.access(response, request, environ, timedelta(milliseconds=3))
    return stream.getvalue()


def environ(**extra) -> dict:
    return {"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "POST", "RAW_URI": "/api/v1/runs?x=1",
            "PATH_INFO": "/api/v1/runs", "QUERY_STRING": "x=1", "SERVER_PROTOCOL": "HTTP/1.1", **extra}


@pytest.mark.parametrize("extra, status, sent", [
    ({}, "201 CREATED", 87),
    ({"HTTP_USER_AGENT": 'curl/8 "quoted" agent', "HTTP_REFERER": "http://example.test/a\"b"}, "200 OK", 0),
    ({"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz", "RAW_URI": '/x?"a"'}, "404 NOT FOUND", None),
    ({"HTTP_AUTHORIZATION": "Bearer tok_secret"}, 500, 12),
])
def test_the_line_is_the_one_gunicorn_writes(extra, status, sent):
    expected = logged_line(glogging.Logger, environ(**extra), status, sent)
    assert logged_line(AccessLogger, environ(**extra), status, sent) == expected
    assert "tok_secret" not in expected


def test_a_custom_format_is_left_to_gunicorn():
    line = logged_line(AccessLogger, environ(HTTP_USER_AGENT="probe"), access_log_format="%(a)s took %(M)s ms")
    assert line == "probe took 3 ms\n"


def test_a_disabled_access_log_writes_nothing(caplog):
    config = Config()  # accesslog unset
    logger = AccessLogger(config)
    with caplog.at_level(logging.INFO, logger="gunicorn.access"):
        logger.access(SimpleNamespace(status="200 OK", sent=1, headers=[]), SimpleNamespace(headers=[]),
                      environ(), timedelta(0))
    assert caplog.records == []


def test_gunicorn_uses_it_and_importing_it_leaves_prometheus_for_later():
    """gunicorn imports the logger class in the master, before on_starting chooses the metrics
    directory: prometheus_client, which reads that directory when imported, must not come with it."""
    import subprocess
    import sys

    from webapp.config import PROJECT_ROOT as REPO_ROOT

    probe = ("import sys; from gunicorn.config import Config; config = Config(); "
             "config.set('logger_class', 'webapp.access_log.AccessLogger'); "
             "print(config.logger_class.__name__, 'prometheus_client' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["AccessLogger", "False"], result.stderr
    assert 'logger_class = "webapp.access_log.AccessLogger"' in (REPO_ROOT / "gunicorn.conf.py").read_text()


@pytest.mark.parametrize("access_log_format", [None, '%(r)s %(U)s "%(f)s"'])
def test_an_invite_token_in_the_path_or_referrer_is_masked(access_log_format):
    token = "Zq3kT0pS3cr3t-invite_token_value_0123456789ab"
    line = logged_line(AccessLogger, environ(RAW_URI=f"/invites/{token}", PATH_INFO=f"/invites/{token}",
                                             HTTP_REFERER=f"https://tocsin.example/invites/{token}?x=1"),
                       access_log_format=access_log_format)

    assert token not in line
    assert "/invites/[redacted]" in line and "https://tocsin.example/invites/[redacted]?x=1" in line
