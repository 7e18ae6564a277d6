"""The navigation keeps the product's shape — Overview, Jobs, Alerts, Settings — marks where the
reader is, and Settings' Alerts section (Endpoints, Rules, Delivery history) is a page with tabs."""
import re

import pytest

from tests.support.factories import saved_endpoint, saved_rule, workspace_id_of


def current_links(html: str) -> list[str]:
    """The text of every navigation link marked `aria-current="page"` (main navigation, Settings'
    pages, the Alerts tabs), in page order."""
    navigation = "".join(re.findall(r'<nav aria-label="(?:Main|Settings|Alerts settings)"[^>]*>(.*?)</nav>', html, re.S))
    return [re.sub(r"<[^>]+>", "", text).strip()
            for text in re.findall(r'<a [^>]*aria-current="page"[^>]*>(.*?)</a>', navigation, re.S)]


@pytest.fixture
def signed_in(auth, client):
    auth.signup()
    return client


@pytest.mark.parametrize(("path", "marked"), [
    ("/", ["Overview"]),
    ("/overview", ["Overview"]),
    ("/jobs", ["Jobs"]),
    ("/alerts", ["Alerts"]),
    ("/settings", ["Settings"]),
    ("/settings/alerts/endpoints", ["Settings", "Alerts", "Endpoints"]),
    ("/settings/alerts/endpoints/new", ["Settings", "Alerts", "Endpoints"]),
    ("/settings/alerts/rules/new", ["Settings", "Alerts", "Rules"]),
    ("/settings/alerts/deliveries", ["Settings", "Alerts", "Delivery history"]),
    ("/settings/api-keys", ["Settings", "API keys"]),
    ("/settings/invites", ["Settings", "Invites"]),
    ("/settings/audit-log", ["Settings", "Audit log"]),
    ("/settings/account", ["Settings", "Account"]),
])
def test_the_current_section_page_and_tab_are_marked(signed_in, path, marked):
    response = signed_in.get(path, follow_redirects=True)
    assert response.status_code == 200
    assert current_links(response.get_data(as_text=True)) == marked


def test_the_main_navigation_is_overview_jobs_alerts_settings_and_a_skip_link_comes_first(signed_in):
    html = signed_in.get("/overview").get_data(as_text=True)
    main_navigation = re.search(r'<nav aria-label="Main"[^>]*>(.*?)</nav>', html, re.S).group(1)
    assert re.findall(r">([^<>]+)</a>", main_navigation) == ["Overview", "Jobs", "Alerts", "Settings"]
    assert html.index('class="skip-link" href="#content"') < html.index('aria-label="Main"')
    assert '<main id="content"' in html
    assert 'href="/settings/account"' in html  # the account, from the header


def test_old_settings_addresses_still_work(signed_in):
    alerts = signed_in.get("/settings/alerts")
    assert alerts.status_code == 302 and alerts.headers["Location"].endswith("/settings/alerts/endpoints")
    settings = signed_in.get("/settings").get_data(as_text=True)
    for link in ("/settings/alerts/endpoints", "/settings/alerts/rules", "/settings/alerts/deliveries",
                 "/settings/api-keys", "/settings/invites", "/settings/audit-log", "/settings/account"):
        assert f'href="{link}"' in settings


def test_detail_pages_mark_their_tab(signed_in, db):
    workspace_id = workspace_id_of()
    endpoint = saved_endpoint(workspace_id)
    rule = saved_rule(workspace_id)
    assert current_links(signed_in.get(f"/settings/alerts/endpoints/{endpoint.id}").get_data(as_text=True)) \
        == ["Settings", "Alerts", "Endpoints"]
    assert current_links(signed_in.get(f"/settings/alerts/rules/{rule.id}").get_data(as_text=True)) \
        == ["Settings", "Alerts", "Rules"]


def test_signed_out_pages_have_no_navigation_but_keep_the_skip_link(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'aria-label="Main"' not in html
    assert 'class="skip-link"' in html
