"""Custom header values as RFC 9110 allows them: what can never be sent is refused when saved
(with the header named), instead of failing every send later; hop-by-hop names are reserved."""
import pytest

UNSENDABLE = ["a\x00b", "a\x0bb", "a\u0085b", "€100", "line\u2028break", " leading", "trailing ", "tab\t"]
CONNECTION_NAMES = ["Expect", "TE", "Upgrade", "Accept-Encoding", "Keep-Alive", "Trailer", "Proxy-Connection"]


def create(api, headers):
    return api.post("/endpoints", json={"name": "hook", "url": "http://127.0.0.1:9/hook", "headers": headers})


@pytest.mark.parametrize("value", UNSENDABLE)
def test_a_value_that_cannot_be_sent_is_refused_with_the_header_named(api, value):
    response = create(api, {"X-Token": value})
    assert response.status_code == 400
    message = response.get_json()["error"]["fields"]
    assert "X-Token" in str(message) or "headers" in message


@pytest.mark.parametrize("name", CONNECTION_NAMES)
def test_hop_by_hop_and_encoding_names_are_reserved(api, name):
    response = create(api, {name: "100-continue"})
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"]["headers"] == f"header name {name} is reserved"


def test_ordinary_values_with_inner_spaces_and_symbols_are_kept(api, receiver):
    value = "Bearer abc.def-123 ~!#$%&'()*+,/:;<=>?@[]^_`{|}"
    response = api.post("/endpoints", json={"name": "hook", "url": receiver.url(), "headers": {"Authorization": value}})
    assert response.status_code == 201
    endpoint_id = response.get_json()["id"]
    assert api.post(f"/endpoints/{endpoint_id}/test").get_json()["outcome"] == "success"
    assert receiver.requests[-1].headers["authorization"] == value


def test_the_form_refuses_an_unsendable_value_too(auth, client):
    auth.signup()
    response = client.post("/settings/alerts/endpoints/new", data={
        "name": "hook", "url": "http://127.0.0.1:9/hook", "format": "json", "timeout_seconds": "5",
        "headers": "X-Price: €100"})
    assert response.status_code == 200
    assert "printable ASCII" in response.get_data(as_text=True)
