def test_signup_then_api_me_answers_workspace(api):
    response = api.get("/me")
    assert response.status_code == 200
    assert response.json["workspace"]["name"] == "owner's workspace"


def test_receiver_records_a_post(receiver):
    import requests
    receiver.respond(201)
    assert requests.post(receiver.url(), data=b"x", timeout=5).status_code == 201
    assert receiver.wait_for(1)[0].body == b"x"


def test_browser_opens_login_page(live_server, page):
    page.goto(live_server.url + "/login")
    assert page.get_by_role("heading", name="Log in to Tocsin").is_visible()
