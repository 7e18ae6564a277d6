"""The run-report snippets for a page: first_run's text with this request's base URL."""
from flask import current_app, request

from webapp.services import first_run


def report_snippets(api_key: str | None = None) -> list[first_run.Snippet]:
    """Snippets with `api_key` filled in, or the $TOCSIN_API_KEY placeholder (a key is shown once)."""
    base_url = first_run.snippet_base_url(current_app.config.get("TOCSIN_BASE_URL"), request.host_url)
    return first_run.run_snippets(base_url, api_key)
