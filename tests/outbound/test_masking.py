"""outbound.masking: an endpoint URL shows only its scheme, host (and port) and first path segment,
and an error text never quotes the rest."""
import pytest

from webapp.services.outbound.masking import mask_url, scrub


@pytest.mark.parametrize("url, shown", [
    ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/services/••••"),
    ("https://discord.com/api/webhooks/123/abc", "https://discord.com/api/••••"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com/", "https://example.com/"),
    ("https://example.com/hook", "https://example.com/hook"),
    ("https://example.com/hook?token=abc", "https://example.com/hook?••••"),
    ("https://example.com/?token=abc", "https://example.com/?••••"),
    ("https://example.com/hook#fragment", "https://example.com/hook"),
    ("HTTPS://Example.COM:443/a/b", "https://example.com/a/••••"),
    ("http://127.0.0.1:8080/services/T0/B0/x", "http://127.0.0.1:8080/services/••••"),
    ("http://[::1]:9000/a/b", "http://[::1]:9000/a/••••"),
    ("https://user:password@example.com/a/b", "https://example.com/a/••••"),
    ("not a url", "••••"),
    ("", "••••"),
])
def test_mask_url_shows_scheme_host_and_first_segment_only(url, shown):
    assert mask_url(url) == shown


def test_scrub_masks_the_url_its_path_and_the_hidden_part_wherever_quoted():
    url = "http://127.0.0.1:8080/services/T0/B0/secret123?key=k3y"
    text = (f"redirect to {url} not followed; GARBAGE POST /services/T0/B0/secret123?key=k3y HTTP/1.1; "
            "tried T0/B0/secret123 and key=k3y")
    scrubbed = scrub(text, url)
    assert "secret123" not in scrubbed and "k3y" not in scrubbed
    assert scrubbed.startswith("redirect to http://127.0.0.1:8080/services/•••• not followed")
    assert "POST /services/•••• HTTP/1.1" in scrubbed


def test_scrub_leaves_a_text_without_the_url_alone():
    assert scrub("connection refused", "https://example.com/a/b") == "connection refused"
    assert scrub("HTTP 500", "https://example.com/hook") == "HTTP 500"
