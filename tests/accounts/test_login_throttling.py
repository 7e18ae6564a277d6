"""Log-in and sign-up throttling: counted in the database, so it holds across processes; answers
for unknown emails cost the same password check as for known ones."""
import re
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from tests.support.accounts import PASSWORD
from tests.support.gunicorn import gunicorn
from webapp.models import AuthThrottle
from webapp.services import accounts, throttle

WRONG = "not the password at all"


def login(client, email="owner@example.com", password=WRONG):
    return client.post("/login", data={"email": email, "password": password})


@pytest.mark.postgres_too
def test_the_eleventh_wrong_password_is_refused_with_429_and_then_even_the_right_one(auth, client, database_uri):
    auth.signup()
    auth.logout()
    for _ in range(throttle.LOGIN_ACCOUNT.attempts):
        assert login(client).status_code == 200  # the form again, "Wrong email or password."

    refused = login(client, password=PASSWORD)

    assert refused.status_code == 429
    assert 800 <= int(refused.headers["Retry-After"]) <= 900
    assert "Too many attempts" in refused.get_data(as_text=True)
    assert client.get("/overview").status_code == 302  # not logged in


def test_a_throttled_account_does_not_lock_out_others_from_the_same_address(auth, client):
    auth.signup()
    auth.logout()
    auth.signup("colleague@example.com")
    auth.logout()
    for _ in range(throttle.LOGIN_ACCOUNT.attempts):
        login(client)
    assert login(client, "colleague@example.com", PASSWORD).status_code == 302


def test_a_successful_log_in_clears_the_accounts_count(auth, client):
    auth.signup()
    auth.logout()
    for _ in range(throttle.LOGIN_ACCOUNT.attempts - 1):
        login(client)
    assert login(client, password=PASSWORD).status_code == 302
    auth.logout()
    for _ in range(throttle.LOGIN_ACCOUNT.attempts - 1):
        assert login(client).status_code == 200
    assert login(client, password=PASSWORD).status_code == 302


def test_one_address_trying_many_accounts_is_throttled(client):
    for number in range(throttle.LOGIN_ADDRESS.attempts):
        assert login(client, f"guess{number}@example.com").status_code == 200
    assert login(client, "yet-another@example.com").status_code == 429


@pytest.mark.postgres_too
def test_the_window_ends(auth, client, db, database_uri):
    auth.signup()
    auth.logout()
    for _ in range(throttle.LOGIN_ACCOUNT.attempts):
        login(client)
    assert login(client, password=PASSWORD).status_code == 429
    for row in db.session.scalars(sa.select(AuthThrottle)):
        row.window_started_at -= throttle.LOGIN_ACCOUNT.window + timedelta(seconds=1)
    db.session.commit()
    assert login(client, password=PASSWORD).status_code == 302


def test_old_counters_are_pruned(auth, client, db):
    auth.signup()
    auth.logout()
    login(client)
    login(client, "someone@example.com")
    old = db.session.scalars(sa.select(AuthThrottle)).first()
    old.window_started_at -= throttle.FORGET_AFTER + timedelta(minutes=1)
    db.session.commit()
    assert throttle.prune() == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuthThrottle)) >= 1


def test_the_table_holds_no_email_in_clear(auth, client, db):
    auth.signup()
    auth.logout()
    login(client)
    keys = db.session.scalars(sa.select(AuthThrottle.key)).all()
    assert keys and not any("owner" in key for key in keys)


def test_sign_ups_from_one_address_are_throttled(auth):
    for number in range(throttle.SIGNUP_ADDRESS.attempts):
        assert auth.signup(f"user{number}@example.com").status_code == 302
        auth.logout()
    refused = auth.signup("one-too-many@example.com")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


def test_known_and_unknown_emails_cost_the_same_password_check(app, client, db, monkeypatch):
    """An unknown email used to skip the hash (about 100 ms), which told attackers which accounts
    exist. Now both answers run one password check with the same method and cost parameters;
    counted, not timed (a timing bound flakes on a loaded machine)."""
    accounts.create_user("known@example.com", PASSWORD)
    db.session.commit()
    checked = []
    real_check = accounts.check_password_hash

    def counting_check(stored_hash, password):
        checked.append(stored_hash.split("$", 1)[0])  # "scrypt:32768:8:1": method and cost, no salt
        return real_check(stored_hash, password)

    monkeypatch.setattr(accounts, "check_password_hash", counting_check)
    for email in ("known@example.com", "nobody@example.com"):
        assert login(client, email).status_code == 200  # the same wrong-password page for both
    assert len(checked) == 2 and checked[0] == checked[1], checked


# --- across processes: two gunicorn workers count the same attempts -------------------------

def login_over_http(base_url: str, password: str) -> requests.Response:
    """A fresh browser each time (new connection and cookies), so attempts spread over the workers."""
    with requests.Session() as browser:
        form = browser.get(base_url + "/login", timeout=10).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        return browser.post(base_url + "/login", data={"csrf_token": token, "email": "owner@example.com",
                                                        "password": password},
                            allow_redirects=False, timeout=10)


@pytest.fixture
def gunicorn_with_two_workers(tmp_path):
    with gunicorn(tmp_path, workers=2, threads=1,
                  seed=lambda app: accounts.create_user("owner@example.com", PASSWORD)) as base_url:
        yield base_url


def test_throttling_holds_across_two_gunicorn_workers(gunicorn_with_two_workers):
    statuses = [login_over_http(gunicorn_with_two_workers, WRONG).status_code
                for _ in range(throttle.LOGIN_ACCOUNT.attempts)]
    assert statuses == [200] * throttle.LOGIN_ACCOUNT.attempts
    assert login_over_http(gunicorn_with_two_workers, PASSWORD).status_code == 429
    assert login_over_http(gunicorn_with_two_workers, PASSWORD).status_code == 429
