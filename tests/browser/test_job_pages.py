"""What a person sees of the job pages on a 390 px phone, in headless Chromium: a job with a long
unbroken slug, name, message and metadata scrolls nothing sideways on the Jobs list, the job
page (metadata opened) or the delete confirmation; renaming and searching work from the page."""
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.support.browser import sign_up_in_browser
from webapp.models import Job, Run, User

LONG_SLUG = "etl-" + "x" * 96
LONG_NAME = "Nightly" + "N" * 190


WIDER_THAN_THE_WINDOW = """() => [...document.querySelectorAll("body *")]
    .filter(element => (element.getBoundingClientRect().right > window.innerWidth + 1
                        || element.scrollWidth > element.clientWidth + 1)
                       && !["INPUT", "TEXTAREA"].includes(element.tagName)
                       && !element.parentElement.closest(".table-scroll"))
    .map(element => `${element.tagName}.${element.className} ${element.scrollWidth}/${element.clientWidth}`)
    .slice(0, 8)"""


def no_sideways_scroll(page) -> bool:
    """The page is no wider than the window (a table may scroll inside its own region)."""
    if page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
        return True
    print("wider than the window:", page.evaluate("document.documentElement.scrollWidth"),
          page.evaluate(WIDER_THAN_THE_WINDOW))
    return False


def test_job_pages_fit_a_phone_and_rename_and_search_work(db, live_server, page):
    sign_up_in_browser(page, live_server.url)
    workspace_id = db.session.scalar(sa.select(User)).workspace_id
    job = Job(workspace_id=workspace_id, slug=LONG_SLUG, name=LONG_SLUG)
    db.session.add_all([job, Job(workspace_id=workspace_id, slug="cleanup", name="cleanup")])
    db.session.flush()
    db.session.add(Run(workspace_id=workspace_id, job_id=job.id, status="failed", message="E" * 400,
                       external_id="run-" + "7" * 150, run_metadata={"url": "https://example.com/" + "p" * 300}))
    db.session.commit()
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto(live_server.url + f"/jobs/{LONG_SLUG}")
    page.get_by_label("Display name").fill(LONG_NAME)
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_text(f"Job renamed to “{LONG_NAME}”.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text(LONG_NAME)
    page.locator("details.run-metadata summary").click()
    expect(page.locator("details.run-metadata pre")).to_contain_text('"url": "https://example.com/ppp')
    assert no_sideways_scroll(page), "the job page scrolls sideways"

    page.get_by_role("link", name="Delete job").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Delete job")
    assert no_sideways_scroll(page), "the delete confirmation scrolls sideways"

    page.goto(live_server.url + "/jobs")
    assert no_sideways_scroll(page), "the Jobs list scrolls sideways"
    page.get_by_label("Search jobs").fill("nightlyNNN")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("tr[data-job]")).to_have_count(1)
    expect(page.locator(f'tr[data-job="{LONG_SLUG}"]')).to_be_visible()
    assert no_sideways_scroll(page), "the searched Jobs list scrolls sideways"
