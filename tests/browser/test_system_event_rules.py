"""System events as a person meets them, in headless Chromium: the overview's "Tell me when
alerting breaks" opens the rule form with `endpoint_disabled` chosen and no job filter to fill
(a system event is about alerting itself, not a job); choosing a run event shows it again."""
from playwright.sync_api import expect

from tests.support.browser import sign_up_in_browser


def test_tell_me_when_alerting_breaks_opens_the_rule_form_without_a_job_filter(live_server, page):
    sign_up_in_browser(page, live_server.url)
    page.goto(live_server.url + "/overview")
    page.get_by_role("link", name="Tell me when alerting breaks").click()

    event, jobs = page.get_by_label("When"), page.get_by_label("Jobs")
    expect(event).to_have_value("endpoint_disabled")
    expect(jobs).to_be_hidden()
    event.select_option("run_failed")
    expect(jobs).to_be_visible()
    event.select_option("scheduler_stalled")
    expect(jobs).to_be_hidden()
