"""Rate limits per API key: a burst beyond the limit answers 429 with Retry-After and RateLimit-*
headers; run reports have their own bucket; one key's burst never limits another's."""
import pytest

from webapp.services.api_rate_limits import TokenBucket


@pytest.fixture
def app_config():
    return {"TOCSIN_API_RATE": 1.0, "TOCSIN_API_BURST": 5, "TOCSIN_API_REPORT_RATE": 1.0,
            "TOCSIN_API_REPORT_BURST": 3}


def test_a_burst_past_the_limit_is_refused_with_429_and_the_headers(api):
    answers = [api.get("/alerts") for _ in range(6)]
    assert [answer.status_code for answer in answers[:5]] == [200] * 5
    assert answers[0].headers["RateLimit-Limit"] == "5" and answers[0].headers["RateLimit-Remaining"] == "4"
    refused = answers[5]
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Remaining"] == "0"


def test_run_reports_have_their_own_bucket(api):
    for _ in range(5):
        api.get("/alerts")
    assert api.get("/alerts").status_code == 429
    statuses = [api.post("/runs", json={"job": "nightly", "status": "succeeded"}).status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]


def test_one_keys_burst_does_not_limit_another_workspace(api, other_api):
    for _ in range(6):
        api.get("/alerts")
    assert api.get("/alerts").status_code == 429
    assert other_api.get("/alerts").status_code == 200


def test_pages_and_health_are_not_limited_by_the_api_buckets(api, client):
    for _ in range(6):
        api.get("/alerts")
    assert client.get("/healthz").status_code == 200


def test_the_bucket_refills_at_its_rate():
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=2, clock=lambda: now[0])
    assert [bucket.take("k").allowed for _ in range(3)] == [True, True, False]
    refused = bucket.take("k")
    assert refused.reset_seconds == 1
    now[0] = 0.5
    assert bucket.take("k").allowed and not bucket.take("k").allowed
