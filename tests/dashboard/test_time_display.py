"""Times in the reader's zone (webapp/templating.py, webapp/timeutil.py): the `|datetime` and
`|ago` filters' <time> elements, the Account page's time zone, the `tz` cookie, the one
date-range picker (webapp/blueprints/date_range.py) and the overview chart's zone and "now"."""
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import sqlalchemy as sa

from tests.support.factories import job_of, saved_delivery, saved_endpoint, workspace_id_of
from webapp.models import Alert, AuditEvent, User
from webapp.templating import format_time, time_ago
from webapp.timeutil import InvalidMoment, parse_local, utcnow, zone_or_none

WINTER = datetime(2026, 12, 2, 13, 3, 5, tzinfo=UTC)  # 14:03:05 in Paris (UTC+01:00), 22:03:05 in Tokyo


def set_zone(db, name: str, email="owner@example.com") -> None:
    user = db.session.scalar(sa.select(User).where(User.email == email))
    user.time_zone = name
    db.session.commit()


def make_alert(db, workspace_id, message, created: datetime) -> Alert:
    alert = Alert(workspace_id=workspace_id, job_id=job_of(workspace_id, "nightly-report").id, type="run_failed",
                  severity="critical", message=message, created_at=created, last_seen_at=created)
    db.session.add(alert)
    db.session.commit()
    return alert


def alert_messages(html: str) -> list[str]:
    return re.findall(r'<a href="/alerts/\d+">([^<]*)</a><br>', html)


# --- the filters ---------------------------------------------------------------------------

def test_datetime_filter_shows_the_exact_time_in_the_users_zone_with_relative_time_on_hover(app, client, auth, db):
    auth.signup()
    set_zone(db, "Europe/Paris")
    with app.test_request_context("/"):
        from flask_login import login_user
        login_user(db.session.scalar(sa.select(User)))
        html = str(format_time(WINTER))
    assert html.startswith('<time datetime="2026-12-02T13:03:05Z" data-kind="datetime" title="')
    assert html.endswith(">2026-12-02 14:03:05 CET</time>")
    assert re.search(r'title="\d+ (d|h|min|s) (ago|in)|title="in \d+', html) or ' ago"' in html


def test_ago_filter_shows_relative_time_with_the_exact_time_zone_and_offset_on_hover(app, client, auth, db):
    auth.signup()
    set_zone(db, "Europe/Paris")
    moment = utcnow() - timedelta(minutes=5)
    with app.test_request_context("/"):
        from flask_login import login_user
        login_user(db.session.scalar(sa.select(User)))
        html = str(time_ago(moment))
    local = moment.astimezone(zone_or_none("Europe/Paris"))
    assert f'title="{local:%Y-%m-%d %H:%M:%S} Europe/Paris (UTC+01:00)"' in html
    assert ">5 min ago</time>" in html
    assert f'datetime="{moment:%Y-%m-%dT%H:%M:%S}' in html


def test_filters_escape_and_keep_never_and_dash_for_missing_times(app):
    with app.test_request_context("/"):
        assert format_time(None) == "—" and time_ago(None) == "never"
        html = str(format_time(WINTER))
    # No user, no cookie: UTC, marked so the browser can rewrite it before the cookie exists.
    assert ">2026-12-02 13:03:05 UTC</time>" in html and "data-zone-default" in html


def test_a_bad_tz_cookie_falls_back_to_utc_and_a_good_one_is_used(app):
    with app.test_request_context("/", headers={"Cookie": "tz=Mars/Olympus_Mons"}):
        assert ">2026-12-02 13:03:05 UTC<" in str(format_time(WINTER))
    with app.test_request_context("/", headers={"Cookie": "tz=Asia/Tokyo"}):
        html = str(format_time(WINTER))
    assert ">2026-12-02 22:03:05 JST<" in html and "data-zone-default" not in html


def test_a_job_strip_square_keeps_plain_text_in_its_title(client, api):
    api.post("/runs", json={"job": "nightly-report", "status": "succeeded"})
    html = client.get("/jobs").get_data(as_text=True)
    titles = re.findall(r'title="succeeded · started ([^"]*)"', html)
    assert titles and all("<" not in title and "&lt;" not in title for title in titles)


# --- the account setting ---------------------------------------------------------------------

def test_account_time_zone_saves_is_audited_and_changes_what_pages_show(client, api, db):
    alert = make_alert(db, workspace_id_of(), "failed billing", WINTER)
    client.set_cookie("tz", "America/New_York")
    page = client.get("/settings/account")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Browser&#39;s time zone (currently America/New_York)" in html
    assert '<option value="Europe/Paris">Europe/Paris</option>' in html
    before = client.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert "2026-12-02 08:03:05 EST" in before  # the browser's zone until the account says otherwise

    response = client.post("/settings/account", data={"time_zone": "Asia/Tokyo"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/account")
    assert db.session.scalar(sa.select(User.time_zone)) == "Asia/Tokyo"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "account.time_zone"))
    assert event is not None and "Asia/Tokyo" in event.summary

    after = client.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert "2026-12-02 22:03:05 JST" in after and "EST" not in after
    assert '<option selected value="Asia/Tokyo">' in client.get("/settings/account").get_data(as_text=True)

    client.post("/settings/account", data={"time_zone": ""})  # back to the browser's zone
    client.set_cookie("tz", "Europe/Paris")
    shown = client.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert "2026-12-02 14:03:05 CET" in shown


@pytest.mark.parametrize("bad", ["Mars/Olympus_Mons", "../../etc/passwd", "x" * 300, "Europe/Paris "])
def test_an_unknown_time_zone_is_refused_with_a_message_not_a_500(client, api, db, bad):
    response = client.post("/settings/account", data={"time_zone": bad})
    assert response.status_code == 400
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(User.time_zone)) == ""


# --- the date-range picker -------------------------------------------------------------------

def test_parse_local_reads_old_and_new_forms_in_the_zone():
    paris = zone_or_none("Europe/Paris")
    assert parse_local("2026-11-24", paris) == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    assert parse_local("2026-11-24T09:00", paris) == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert parse_local("2026-11-24 09:00:30", paris) == datetime(2026, 11, 24, 8, 0, 30, tzinfo=UTC)
    assert parse_local("2026-11-24T09:00:00Z", paris) == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert parse_local("2026-11-24T09:00 01:00", paris) == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert parse_local("2026-11-24", paris, inclusive_end=True) == datetime(2026, 11, 24, 22, 59, 59, 999999,
                                                                             tzinfo=UTC)
    for bad in ("yesterday", "2026-13-01", "2026-11-24T25:00", "2026-11-24T09", "0001-01-01T00:00"):
        with pytest.raises(InvalidMoment):
            parse_local(bad, paris)


def test_alerts_date_range_in_tokyo_selects_the_right_rows(client, api, db):
    """09:00–10:00 in Tokyo is 00:00–01:00 UTC: a UTC reading would pick the other alert."""
    set_zone(db, "Asia/Tokyo")
    workspace_id = workspace_id_of()
    make_alert(db, workspace_id, "tokyo morning", datetime(2026, 11, 24, 0, 30, tzinfo=UTC))
    make_alert(db, workspace_id, "utc morning", datetime(2026, 11, 24, 9, 30, tzinfo=UTC))
    html = client.get("/alerts?since=2026-11-24T09:00&until=2026-11-24T10:00").get_data(as_text=True)
    assert alert_messages(html) == ["tokyo morning"]
    assert 'name="since" value="2026-11-24T09:00"' in html and "times in Asia/Tokyo" in html
    # The old date-only form still works, read as a Tokyo day.
    assert alert_messages(client.get("/alerts?since=2026-11-24&until=2026-11-24").get_data(as_text=True)) \
        == ["utc morning", "tokyo morning"]
    # An explicit offset wins over the zone.
    assert alert_messages(client.get("/alerts?since=2026-11-24T09:00:00Z").get_data(as_text=True)) == ["utc morning"]


def test_a_bad_date_range_is_explained_never_a_500(client, api, db):
    make_alert(db, workspace_id_of(), "still listed", utcnow())
    for query in ("since=last+tuesday", "until=2026-02-30", "since=2026-11-25&until=2026-11-24",
                  "since=9999-12-31T23:59&until=0001-01-01"):
        response = client.get(f"/alerts?{query}")
        html = unescape(response.get_data(as_text=True))
        assert response.status_code == 200, query
        assert "Showing all alerts instead." in html and alert_messages(html) == ["still listed"], query
    html = unescape(client.get("/alerts?since=last+tuesday").get_data(as_text=True))
    assert "Since: 'last tuesday' is not a date (2026-11-24) or a date and time (2026-11-24T09:00)" in html


def test_deliveries_date_range_in_paris_selects_the_right_rows(client, api, db):
    set_zone(db, "Europe/Paris")
    endpoint = saved_endpoint(workspace_id_of())
    early = saved_delivery(endpoint, created_at=datetime(2026, 11, 24, 7, 30, tzinfo=UTC))  # 08:30 Paris
    late = saved_delivery(endpoint, created_at=datetime(2026, 11, 24, 8, 30, tzinfo=UTC))  # 09:30 Paris

    def shown(query):
        html = client.get(f"/settings/alerts/deliveries?{query}").get_data(as_text=True)
        return [int(value) for value in re.findall(r'data-delivery-id="(\d+)"', html)]

    assert shown("since=2026-11-24T09:00") == [late.id]
    assert shown("until=2026-11-24T09:00") == [early.id]
    assert shown("since=2026-11-24") == [late.id, early.id]  # the old date form
    response = client.get("/settings/alerts/deliveries?since=nonsense")
    assert response.status_code == 200 and "is not a date" in unescape(response.get_data(as_text=True))


def test_quick_ranges_link_to_utc_moments_and_keep_other_filters(client, api):
    html = unescape(client.get("/settings/alerts/deliveries?status=dead").get_data(as_text=True))
    links = re.findall(r'<a href="(/settings/alerts/deliveries\?[^"]*since=[^"]*)">(Last [^<]+)</a>', html)
    assert [label for _, label in links] == ["Last hour", "Last 24 hours", "Last 7 days"]
    assert all("status=dead" in url and re.search(r"since=\d{4}-\d\d-\d\dT\d\d(:|%3A)\d\dZ", url) for url, _ in links)


# --- the overview chart ------------------------------------------------------------------------

def test_overview_chart_names_its_zone_and_marks_now(client, api, db):
    set_zone(db, "Asia/Kolkata")
    html = client.get("/overview").get_data(as_text=True)
    assert "hours in Asia/Kolkata" in html
    now_x = float(re.search(r'class="chart-now" data-now-x="([\d.]+)"', html).group(1))
    assert 690 <= now_x <= 720  # inside the last hour's slot of the 720-wide chart
    labels = re.findall(r'text-anchor="middle" class="chart-label">(\d\d:\d\d)</text>', html)
    assert labels and all(label.endswith(":30") for label in labels)  # UTC hours seen from UTC+05:30
