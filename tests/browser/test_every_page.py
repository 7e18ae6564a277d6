"""Every page, as a person sees it in Chromium: at 1280 and 390 px wide, in light and dark mode,
in an empty workspace and in one with data. No page scrolls sideways, and axe-core finds no
critical or serious accessibility violation."""
import os
import re

import pytest
import sqlalchemy as sa

from tests.support.accessibility import blocking_violations, describe, install_axe, sideways_overflow
from tests.support.accounts import PASSWORD
from webapp.models import Alert, ApiKey, Delivery
from webapp.services.delivery import pool

SCREENSHOTS = os.environ.get("TOCSIN_SCREENSHOTS")  # a folder: keep a picture of each page there
WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}
THEMES = ("light", "dark")
LONG_TEXT = "x" * 30 + "/" + "stacktrace-without-spaces-" * 12  # long unbroken words must wrap
SIGNED_OUT_PAGES = ["/login", "/signup", "/invites/not-a-real-token", "/no-such-page"]
EMPTY_WORKSPACE_PAGES = [
    "/overview", "/jobs", "/alerts", "/settings", "/settings/alerts/endpoints", "/settings/alerts/endpoints/new",
    "/settings/alerts/rules", "/settings/alerts/rules/new", "/settings/alerts/deliveries", "/settings/api-keys",
    "/settings/invites", "/settings/audit-log", "/settings/account", "/settings/silences", "/settings/silences/new",
]


@pytest.fixture(autouse=True)
def drain_send_pool():
    yield
    pool.wait_idle(10)


@pytest.fixture
def context(browser):
    context = browser.new_context()
    context.set_default_timeout(10_000)
    install_axe(context)
    yield context
    context.close()


def log_in(page, base_url: str, email: str = "owner@example.com") -> None:
    page.goto(base_url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/overview$"))


def audit(page, base_url: str, paths: list[str]) -> list[str]:
    """Each path at each width and theme: what is wrong with it, as readable lines."""
    problems = []
    for path in paths:
        for width_name, (width, height) in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            for theme in THEMES:
                page.emulate_media(color_scheme=theme)
                page.goto(base_url + path)
                where = f"{path} at {width_name} width in {theme} mode"
                if SCREENSHOTS:
                    name = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "root"
                    page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}-{width_name}-{theme}.png"), full_page=True)
                overflow = sideways_overflow(page)
                if overflow:
                    problems.append(f"{where}: scrolls sideways by {overflow} px")
                violations = blocking_violations(page)
                if violations:
                    problems.append(f"{where}: {describe(violations)}")
    return problems


def workspace_with_data(api, app, client, receiver, db) -> list[str]:
    """Jobs, runs (one with metadata and a long message), an alert delivered to one endpoint and
    failing on another, a rule, a revoked and a live API key, an invite: the pages that show them."""
    receiver.respond(200, body="ok")
    good = api.post("/endpoints", json={"name": "Ops webhook", "url": receiver.url("/ok")}).get_json()
    failing = api.post("/endpoints", json={"name": "Chat " + LONG_TEXT[:40], "url": "http://127.0.0.1:9/closed",
                                           "max_attempts": 2}).get_json()
    rule = api.post("/rules", json={"name": "Nightly failures", "event": "run_failed", "job_filter": "*",
                                    "endpoint_ids": [good["id"], failing["id"]], "cooldown_seconds": 0}).get_json()
    for number in (1, 2, 10):
        api.post("/runs", json={"job": f"job-{number}", "status": "succeeded", "duration_ms": 1200})
    api.post("/runs", json={"job": "nightly-backup", "status": "failed", "duration_ms": 42_000,
                            "message": "exit code 3: " + LONG_TEXT, "metadata": {"host": "db-1", "commit": "a1b2c3"}})
    pool.wait_idle(10)
    db.session.expire_all()
    alert = db.session.scalars(sa.select(Alert).order_by(Alert.id)).first()
    delivery = db.session.scalars(sa.select(Delivery).order_by(Delivery.id)).first()
    client.post("/settings/invites", data={"email": "colleague@example.com"})
    key = db.session.scalars(sa.select(ApiKey).order_by(ApiKey.id)).first()
    endpoint, rule_id = failing["id"], rule["id"]
    return [
        "/overview", "/jobs", "/jobs?q=job", "/jobs/nightly-backup", "/jobs/job-1/delete", "/alerts", f"/alerts/{alert.id}", "/settings",
        "/settings/alerts/endpoints", f"/settings/alerts/endpoints/{endpoint}",
        f"/settings/alerts/endpoints/{endpoint}/edit", f"/settings/alerts/endpoints/{endpoint}/delete",
        f"/settings/alerts/endpoints/{endpoint}/rotate", "/settings/alerts/rules", f"/settings/alerts/rules/{rule_id}",
        f"/settings/alerts/rules/{rule_id}/edit", f"/settings/alerts/rules/{rule_id}/delete",
        "/settings/alerts/deliveries", f"/settings/alerts/deliveries/{delivery.id}", "/settings/api-keys",
        f"/settings/api-keys/{key.id}/revoke", "/settings/invites", "/settings/audit-log", "/settings/audit-log?object_type=endpoint&since=bad",
        "/settings/account", "/settings/silences", "/settings/silences/new?job_filter=nightly-*",
    ]


def test_signed_out_pages_fit_a_phone_and_pass_axe(context, live_server):
    page = context.new_page()
    problems = audit(page, live_server.url, SIGNED_OUT_PAGES)
    assert not problems, "\n".join(problems)


def test_every_page_of_an_empty_workspace_fits_a_phone_and_passes_axe(context, live_server, auth):
    auth.signup()
    page = context.new_page()
    log_in(page, live_server.url)
    problems = audit(page, live_server.url, EMPTY_WORKSPACE_PAGES)
    assert not problems, "\n".join(problems)


def test_every_page_with_data_fits_a_phone_and_passes_axe(context, live_server, api, app, client, receiver, db):
    paths = workspace_with_data(api, app, client, receiver, db)
    page = context.new_page()
    log_in(page, live_server.url)
    problems = audit(page, live_server.url, paths)
    assert not problems, "\n".join(problems)
